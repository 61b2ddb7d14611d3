//! A bidirectional recurrent layer (Keras' `Bidirectional`, PyTorch's `bidirectional=True`):
//! two copies of one cell kind, each with its own weights, the first reading the sequence in
//! order and the second reading it reversed, their outputs merged. Each copy is the cell's
//! own `Work`, so this wrapper is written once for every cell and needs no kernel of its own.
//!
//! It is not stateful: the compiler refuses that, so it carries no state between batches.

use rand_pcg::Pcg64Mcg;

use super::gru::Gru;
use super::lstm::Lstm;
use super::{Flow, Incoming, Layer, Reads, Shape, Work};
use crate::model::{NamedTensor, Tensor};
use crate::plan::{Bidirectional, Cell, Merge};
use crate::trace::Signal;

impl Bidirectional {
    /// One direction: the cell with the wrapper's units and return.
    fn direction(&self) -> Box<dyn Layer> {
        match self.cell {
            Cell::Lstm => Box::new(Lstm(self.layer)),
            Cell::Gru => Box::new(Gru(self.layer)),
        }
    }
}

/// Its tensors are the forward direction's, then the backward's.
impl Layer for Bidirectional {
    fn width(&self, _input: usize) -> usize {
        match self.merge {
            Merge::Concat => 2 * self.layer.units,
            Merge::Sum | Merge::Mul | Merge::Ave => self.layer.units,
        }
    }

    fn parameter_floats(&self, input: usize) -> usize {
        2 * self.direction().parameter_floats(input)
    }

    /// Forward first, as Keras builds the forward layer before the backward one.
    fn init(&self, input: usize, rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        let direction = self.direction();
        let mut tensors = direction.init(input, rng);
        tensors.extend(direction.init(input, rng));
        tensors
    }

    /// PyTorch's bidirectional `nn.LSTM` and `nn.GRU`: each direction as the cell exports
    /// it, the backward one's names ending in `_reverse` (`weight_ih_l0_reverse`).
    fn export(&self, input: usize, params: &[Tensor]) -> Vec<NamedTensor> {
        let (forward, backward) = params.split_at(params.len() / 2);
        let direction = self.direction();
        let mut tensors = direction.export(input, forward);
        let reverse = direction.export(input, backward).into_iter();
        tensors.extend(reverse.map(|tensor| NamedTensor {
            name: format!("{}_reverse", tensor.name),
            ..tensor
        }));
        tensors
    }

    fn import(&self, input: usize, named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        let direction = self.direction();
        let mut tensors = direction.import(input, named);
        tensors.extend(direction.import(input, &|name| named(&format!("{name}_reverse"))));
        tensors
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        let direction = self.direction();
        Box::new(BidirectionalShape {
            incoming,
            settings: *self,
            forward: direction.shape(incoming),
            backward: direction.shape(incoming),
        })
    }
}

struct BidirectionalShape {
    incoming: Incoming,
    settings: Bidirectional,
    forward: Box<dyn Shape>,
    backward: Box<dyn Shape>,
}

/// The wrapper's own buffers, in floats (an index takes the four bytes of a float).
struct Lens {
    /// The input reversed in time: `[T, B, I]` features, or `[T, B]` hot indices; none for
    /// a repeated vector, which reads the same reversed.
    reversed: usize,
    reversed_hot: usize,
    /// The merged outputs, `[T, B, W]` or `[B, W]`.
    out: usize,
    /// One direction's output gradient, `[T, B, H]` or `[B, H]`.
    d_direction: usize,
    /// A step mask `[T, B]` reversed, for the backward copy of a masked input.
    reversed_mask: usize,
}

impl BidirectionalShape {
    fn lens(&self) -> Lens {
        let Incoming {
            rows, steps, width, ..
        } = self.incoming;
        let (reversed, reversed_hot) = match self.incoming.reads {
            Reads::Features | Reads::Sequence => (steps * rows * width, 0),
            Reads::Hot => (0, steps * rows),
            Reads::Repeated | Reads::Vector => (0, 0),
        };
        // A mask comes with the batch's steps only, never with a repeated vector.
        let reversed_mask = match self.incoming.reads {
            Reads::Repeated | Reads::Vector => 0,
            _ => steps * rows,
        };
        Lens {
            reversed,
            reversed_hot,
            out: self.outgoing().floats(),
            d_direction: self.forward.outgoing().floats(),
            reversed_mask,
        }
    }
}

impl Shape for BidirectionalShape {
    fn outgoing(&self) -> Incoming {
        Incoming {
            width: self.settings.width(self.incoming.width),
            ..self.forward.outgoing()
        }
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let (t, b) = (self.incoming.steps, self.incoming.rows);
        let reverse = match self.incoming.reads {
            Reads::Hot => format!("reverse the [{t}, {b}] indices in time"),
            Reads::Repeated => "the repeated vector reads the same reversed".to_string(),
            _ => format!("reverse the input's {t} steps into a buffer"),
        };
        let (forward_ops, forward_back) = self.forward.ops();
        let (backward_ops, backward_back) = self.backward.ops();
        let named = |direction: &'static str, ops: Vec<String>| {
            ops.into_iter()
                .map(move |op| format!("{direction} direction: {op}"))
        };
        let merge = format!("{:?}", self.settings.merge).to_lowercase();
        let mut forward: Vec<String> = named("forward", forward_ops).collect();
        forward.push(reverse);
        forward.extend(named("backward", backward_ops));
        forward.push(match self.settings.layer.sequences {
            true => {
                format!("merge ({merge}) step by step, the backward outputs back in time order")
            }
            false => format!("merge ({merge}) of the two last states"),
        });
        let mut backward = vec![format!(
            "split the gradient ({merge}) between the directions"
        )];
        backward.extend(named("forward", forward_back));
        backward.extend(named("backward", backward_back));
        let input_gradient = match self.incoming.reads {
            Reads::Hot | Reads::Features => None,
            Reads::Repeated => Some("input gradient: the two directions' summed"),
            _ => Some("input gradient: the forward direction's plus the backward's, reversed back"),
        };
        backward.extend(input_gradient.map(String::from));
        (forward, backward)
    }

    fn floats(&self) -> usize {
        let lens = self.lens();
        self.forward.floats()
            + self.backward.floats()
            + lens.reversed
            + lens.reversed_hot
            + lens.out
            + 2 * lens.d_direction
            + lens.reversed_mask
            + self.incoming.floats()
    }

    fn allocate(&self) -> Box<dyn Work> {
        let lens = self.lens();
        let outputs = self.forward.outgoing();
        Box::new(BidirectionalWork {
            steps: self.incoming.steps,
            blocks: match outputs.reads {
                Reads::Sequence => outputs.steps,
                _ => 1,
            },
            rows: outputs.rows,
            units: self.settings.layer.units,
            merge: self.settings.merge,
            sequences: self.settings.layer.sequences,
            forward: self.forward.allocate(),
            backward: self.backward.allocate(),
            reversed: vec![0.0; lens.reversed],
            reversed_hot: vec![0; lens.reversed_hot],
            out: vec![0.0; lens.out],
            d_forward: vec![0.0; lens.d_direction],
            d_backward: vec![0.0; lens.d_direction],
            d_input: vec![0.0; self.incoming.floats()],
            reversed_mask: vec![0.0; lens.reversed_mask],
        })
    }
}

struct BidirectionalWork {
    /// Steps of the input.
    steps: usize,
    /// Blocks of `[B, H]` each direction outputs: the steps with `sequences`, else one.
    blocks: usize,
    rows: usize,
    units: usize,
    merge: Merge,
    sequences: bool,
    forward: Box<dyn Work>,
    backward: Box<dyn Work>,
    reversed: Vec<f32>,
    reversed_hot: Vec<u32>,
    out: Vec<f32>,
    /// The gradient of each direction's outputs, the backward's in its own reversed time.
    d_forward: Vec<f32>,
    d_backward: Vec<f32>,
    d_input: Vec<f32>,
    reversed_mask: Vec<f32>,
}

/// `x`'s `steps` steps in reverse order, into `out`.
fn reverse_steps<T: Copy>(x: &[T], steps: usize, out: &mut [T]) {
    let step = x.len() / steps;
    for (to, from) in out.chunks_exact_mut(step).rev().zip(x.chunks_exact(step)) {
        to.copy_from_slice(from);
    }
}

/// What the backward direction reads: `input` reversed in time, from the buffers
/// `reverse_input` filled.
fn reversed<'a>(input: Flow<'a>, x: &'a [f32], hot: &'a [u32]) -> Flow<'a> {
    match input {
        Flow::Features(_) => Flow::Features(x),
        Flow::Sequence(_) => Flow::Sequence(x),
        Flow::Hot(_) => Flow::Hot(hot),
        Flow::Repeated(vector) => Flow::Repeated(vector),
        Flow::Vector(_) => unreachable!("the compiler gives a recurrent layer a sequence"),
    }
}

/// A direction's outputs, `[T, B, H]` or `[B, H]`.
fn values(flow: Flow<'_>) -> &[f32] {
    match flow {
        Flow::Sequence(y) | Flow::Vector(y) => y,
        _ => unreachable!("a recurrent layer outputs a sequence or a vector"),
    }
}

/// Each output row (the forward direction's row too) with the backward direction's row it
/// merges, whose step is reversed back to the forward's: `blocks` blocks of `rows` rows.
fn aligned_rows(blocks: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..blocks)
        .flat_map(move |t| (0..rows).map(move |b| (t * rows + b, (blocks - 1 - t) * rows + b)))
}

/// Two outputs merged element-wise, as Keras does; concatenation is not element-wise.
fn combine(merge: Merge, x: f32, y: f32) -> f32 {
    match merge {
        Merge::Sum => x + y,
        Merge::Mul => x * y,
        Merge::Ave => (x + y) / 2.0,
        Merge::Concat => unreachable!("concatenation places the outputs side by side"),
    }
}

/// Keras' bidirectional layer outputs zeros at masked steps (`zero_output_for_mask` with
/// sequences), in both directions, so their merge is zero and so is its gradient.
fn zero_masked_steps(mask: Option<&[f32]>, sequences: bool, rows: &mut [f32]) {
    let (Some(mask), true) = (mask, sequences) else {
        return;
    };
    let width = rows.len() / mask.len();
    for (row, &keep) in rows.chunks_exact_mut(width).zip(mask) {
        if keep == 0.0 {
            row.fill(0.0);
        }
    }
}

impl BidirectionalWork {
    fn reverse_input(&mut self, input: Flow) {
        match input {
            Flow::Features(x) | Flow::Sequence(x) => {
                reverse_steps(x, self.steps, &mut self.reversed)
            }
            Flow::Hot(hot) => reverse_steps(hot, self.steps, &mut self.reversed_hot),
            Flow::Repeated(_) => {}
            Flow::Vector(_) => unreachable!("the compiler gives a recurrent layer a sequence"),
        }
    }

    /// Floats of one merged output row: `2H` concatenated, else `H`.
    fn width(&self) -> usize {
        match self.merge {
            Merge::Concat => 2 * self.units,
            Merge::Sum | Merge::Mul | Merge::Ave => self.units,
        }
    }

    fn merge(&mut self, input: Flow) {
        let (h, width) = (self.units, self.width());
        let forward = values(self.forward.output(input));
        let reversed = reversed(input, &self.reversed, &self.reversed_hot);
        let backward = values(self.backward.output(reversed));
        for (row, back) in aligned_rows(self.blocks, self.rows) {
            let (f, g) = (&forward[row * h..][..h], &backward[back * h..][..h]);
            let out = &mut self.out[row * width..][..width];
            match self.merge {
                Merge::Concat => {
                    out[..h].copy_from_slice(f);
                    out[h..].copy_from_slice(g);
                }
                merge => {
                    for (o, (&x, &y)) in out.iter_mut().zip(f.iter().zip(g)) {
                        *o = combine(merge, x, y);
                    }
                }
            }
        }
    }

    /// Each direction's output gradient from the merged one, `d_out`; `mul` reads the
    /// outputs of the other direction.
    fn split(&mut self, input: Flow, d_out: &[f32]) {
        let (h, width) = (self.units, self.width());
        let forward = values(self.forward.output(input));
        let reversed = reversed(input, &self.reversed, &self.reversed_hot);
        let backward = values(self.backward.output(reversed));
        for (row, back) in aligned_rows(self.blocks, self.rows) {
            let d = &d_out[row * width..][..width];
            let df = &mut self.d_forward[row * h..][..h];
            let dg = &mut self.d_backward[back * h..][..h];
            match self.merge {
                Merge::Concat => {
                    df.copy_from_slice(&d[..h]);
                    dg.copy_from_slice(&d[h..]);
                }
                Merge::Sum => {
                    df.copy_from_slice(d);
                    dg.copy_from_slice(d);
                }
                Merge::Ave => {
                    df.iter_mut().zip(d).for_each(|(x, d)| *x = d / 2.0);
                    dg.copy_from_slice(df);
                }
                Merge::Mul => {
                    let (f, g) = (&forward[row * h..][..h], &backward[back * h..][..h]);
                    df.iter_mut()
                        .zip(d.iter().zip(g))
                        .for_each(|(x, (d, y))| *x = d * y);
                    dg.iter_mut()
                        .zip(d.iter().zip(f))
                        .for_each(|(x, (d, y))| *x = d * y);
                }
            }
        }
    }

    /// The input's gradient: the forward direction's plus the backward's, whose steps are
    /// reversed back (a repeated vector's is one `[B, I]` for both).
    fn input_gradient_of_both(&mut self, input: Flow) {
        let (Some(forward), Some(backward)) = (
            self.forward.input_gradient(),
            self.backward.input_gradient(),
        ) else {
            unreachable!("a recurrent layer has an input gradient")
        };
        let steps = match input {
            Flow::Sequence(_) => self.steps,
            _ => 1,
        };
        let step = self.d_input.len() / steps;
        let to = self.d_input.chunks_exact_mut(step);
        let from = forward
            .chunks_exact(step)
            .zip(backward.chunks_exact(step).rev());
        for (to, (f, g)) in to.zip(from) {
            for (x, (a, b)) in to.iter_mut().zip(f.iter().zip(g)) {
                *x = a + b;
            }
        }
    }
}

impl Work for BidirectionalWork {
    fn forward(
        &mut self,
        input: Flow,
        mask: Option<&[f32]>,
        params: &[Tensor],
        noise: Option<u64>,
    ) {
        let (forward, backward) = params.split_at(params.len() / 2);
        self.forward.forward(input, mask, forward, noise);
        self.reverse_input(input);
        if let Some(mask) = mask {
            reverse_steps(mask, self.steps, &mut self.reversed_mask);
        }
        let reversed = reversed(input, &self.reversed, &self.reversed_hot);
        // Keras reverses the whole sequence and its mask: with post-padding the backward copy
        // meets a row's padding first and carries its zero state through it.
        let reversed_mask = mask.map(|_| &self.reversed_mask[..]);
        // Its own dropout masks: a stream apart from the forward direction's.
        let noise = noise.map(|n| n ^ 0xa076_1d64_78bd_642f);
        self.backward
            .forward(reversed, reversed_mask, backward, noise);
        self.merge(input);
        zero_masked_steps(mask, self.sequences, &mut self.out);
    }

    fn backward(
        &mut self,
        input: Flow,
        mask: Option<&[f32]>,
        d_out: &[f32],
        params: &mut [Tensor],
    ) {
        self.split(input, d_out);
        let reversed_mask = mask.map(|_| &self.reversed_mask[..]);
        zero_masked_steps(mask, self.sequences, &mut self.d_forward);
        zero_masked_steps(reversed_mask, self.sequences, &mut self.d_backward);
        let half = params.len() / 2;
        let (forward, backward) = params.split_at_mut(half);
        self.forward.backward(input, mask, &self.d_forward, forward);
        let reversed = reversed(input, &self.reversed, &self.reversed_hot);
        let reversed_mask = mask.map(|_| &self.reversed_mask[..]);
        self.backward
            .backward(reversed, reversed_mask, &self.d_backward, backward);
        if !self.d_input.is_empty() {
            self.input_gradient_of_both(input);
        }
    }

    fn output<'a>(&'a self, _input: Flow<'a>) -> Flow<'a> {
        if self.sequences {
            Flow::Sequence(&self.out)
        } else {
            Flow::Vector(&self.out)
        }
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        Some(&self.d_input)
    }

    /// Both directions', named so; the backward direction's steps put back in the input's
    /// order.
    fn state(&self, row: usize) -> Vec<Signal> {
        let mut signals = self.forward.state(row);
        for signal in &mut signals {
            signal.name = format!("forward {}", signal.name);
        }
        for mut signal in self.backward.state(row) {
            signal.name = format!("backward {}", signal.name);
            signal.values = signal
                .values
                .chunks(signal.units)
                .rev()
                .flatten()
                .copied()
                .collect();
            signals.push(signal);
        }
        signals
    }

    fn floats(&self) -> usize {
        self.forward.floats()
            + self.backward.floats()
            + self.reversed.len()
            + self.reversed_hot.len()
            + self.out.len()
            + self.d_forward.len()
            + self.d_backward.len()
            + self.d_input.len()
            + self.reversed_mask.len()
    }
}
