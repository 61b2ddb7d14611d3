//! The network: parameters shared by every batch size (`Model`), and the buffers one batch
//! size runs forward and backward in (`Workspace`).
//!
//! Activations flow time-major between layers. An LSTM after `repeat` reads the repeated
//! vector as `LstmInput::Repeated`, so its input projection runs once rather than once per
//! step; the compiler only lowers `repeat` in front of an LSTM.

use kernels::adam::{adam_update, AdamStep};
use kernels::dense::{dense_backward, dense_forward};
use kernels::lstm::{
    lstm_backward, lstm_forward, LstmDims, LstmGrads, LstmInput, LstmScratch, LstmTape,
    LstmWeights, OutputGrad,
};
use kernels::regression::{mae, mse};
use kernels::softmax::softmax_xent;
use rand_pcg::Pcg64Mcg;

use crate::data::{Batch, Encoding};
use crate::init::{glorot_uniform, lstm_bias, orthogonal};
use crate::plan::{LayerPlan, Loss, Plan};
use crate::shapes::{input_widths, layer_shapes, LayerShape};

/// A parameter tensor with its gradient and Adam moments.
pub struct Tensor {
    pub value: Vec<f32>,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Tensor {
    fn new(value: Vec<f32>) -> Tensor {
        let len = value.len();
        Tensor {
            value,
            grad: vec![0.0; len],
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    /// The gradient from the last `backward`.
    pub fn grad(&self) -> &[f32] {
        &self.grad
    }
}

/// The layers and their parameters: `[W_ih, W_hh, bias]` per LSTM, `[W, b]` per dense.
pub struct Model {
    pub layers: Vec<LayerPlan>,
    /// What the last layer's outputs are scored by.
    pub loss: Loss,
    /// Each layer's input width, and its first tensor in `tensors`.
    inputs: Vec<usize>,
    first_tensor: Vec<usize>,
    pub tensors: Vec<Tensor>,
    step: u64,
}

impl Model {
    /// Floats held per parameter: value, gradient and Adam's two moments.
    pub fn floats(&self) -> usize {
        self.tensors.iter().map(|t| 4 * t.value.len()).sum()
    }

    /// Keras-initialised parameters for `plan`, drawn from `rng` layer by layer.
    pub fn new(plan: &Plan, rng: &mut Pcg64Mcg) -> Model {
        let mut tensors = Vec::new();
        let mut first_tensor = Vec::new();
        let inputs = input_widths(&plan.layers, plan.features);
        for (layer, &width) in plan.layers.iter().zip(&inputs) {
            first_tensor.push(tensors.len());
            match *layer {
                LayerPlan::Lstm { units, .. } => {
                    tensors.push(Tensor::new(glorot_uniform(width, 4 * units, rng)));
                    tensors.push(Tensor::new(orthogonal(units, 4 * units, rng)));
                    tensors.push(Tensor::new(lstm_bias(units)));
                }
                LayerPlan::Dense { units, .. } => {
                    tensors.push(Tensor::new(glorot_uniform(width, units, rng)));
                    tensors.push(Tensor::new(vec![0.0; units]));
                }
                LayerPlan::Repeat { .. } => {}
            }
        }
        Model {
            layers: plan.layers.clone(),
            loss: plan.train.loss,
            inputs,
            first_tensor,
            tensors,
            step: 0,
        }
    }

    /// The parameters as `torch.nn.LSTM` and `torch.nn.Linear` hold them, named
    /// `layers.{index}.{name}`: an LSTM's `weight_ih_l0 [4H, I]`, `weight_hh_l0 [4H, H]`,
    /// `bias_ih_l0 [4H]` (Keras' one bias) and `bias_hh_l0 [4H]` (zeros), gates i, f, g, o;
    /// a dense layer's `weight [O, K]` and `bias [O]`.
    pub fn export(&self) -> Vec<NamedTensor> {
        let mut named = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let first = self.first_tensor[index];
            let input = self.inputs[index];
            let tensor = |offset: usize| &self.tensors[first + offset].value;
            let mut push = |suffix: &str, shape: Vec<usize>, data: Vec<f32>| {
                named.push(NamedTensor {
                    name: format!("layers.{index}.{suffix}"),
                    shape,
                    data,
                })
            };
            match *layer {
                LayerPlan::Lstm { units, .. } => {
                    let g4 = 4 * units;
                    push(
                        "weight_ih_l0",
                        vec![g4, input],
                        transposed(tensor(0), input, g4),
                    );
                    push(
                        "weight_hh_l0",
                        vec![g4, units],
                        transposed(tensor(1), units, g4),
                    );
                    push("bias_ih_l0", vec![g4], tensor(2).clone());
                    push("bias_hh_l0", vec![g4], vec![0.0; g4]);
                }
                LayerPlan::Dense { units, .. } => {
                    push(
                        "weight",
                        vec![units, input],
                        transposed(tensor(0), input, units),
                    );
                    push("bias", vec![units], tensor(1).clone());
                }
                LayerPlan::Repeat { .. } => {}
            }
        }
        named
    }

    /// Replaces the parameters with `tensors`, named and laid out as `export` writes them
    /// (an LSTM's two biases are summed, so PyTorch's own weights load too). Checks every
    /// name and shape before changing anything.
    pub fn import(&mut self, tensors: &[NamedTensor]) -> Result<(), ImportError> {
        let expected = self.export();
        for want in &expected {
            let found = tensors
                .iter()
                .find(|t| t.name == want.name)
                .ok_or_else(|| ImportError::Missing(want.name.clone()))?;
            if found.shape != want.shape {
                return Err(ImportError::Shape {
                    name: want.name.clone(),
                    expected: want.shape.clone(),
                    found: found.shape.clone(),
                });
            }
        }
        if let Some(extra) = tensors
            .iter()
            .find(|t| expected.iter().all(|want| want.name != t.name))
        {
            return Err(ImportError::Unexpected(extra.name.clone()));
        }
        let get = |name: String| {
            &tensors
                .iter()
                .find(|t| t.name == name)
                .expect("checked above")
                .data
        };
        for index in 0..self.layers.len() {
            let layer = &self.layers[index];
            let first = self.first_tensor[index];
            let input = self.inputs[index];
            let name = |suffix: &str| format!("layers.{index}.{suffix}");
            match *layer {
                LayerPlan::Lstm { units, .. } => {
                    let g4 = 4 * units;
                    self.tensors[first].value = transposed(get(name("weight_ih_l0")), g4, input);
                    self.tensors[first + 1].value =
                        transposed(get(name("weight_hh_l0")), g4, units);
                    let (ih, hh) = (get(name("bias_ih_l0")), get(name("bias_hh_l0")));
                    self.tensors[first + 2].value = ih.iter().zip(hh).map(|(a, b)| a + b).collect();
                }
                LayerPlan::Dense { units, .. } => {
                    self.tensors[first].value = transposed(get(name("weight")), units, input);
                    self.tensors[first + 1].value = get(name("bias")).clone();
                }
                LayerPlan::Repeat { .. } => {}
            }
        }
        Ok(())
    }

    /// Replaces every tensor's values, checking the sizes first.
    pub fn set_values(&mut self, values: Vec<Vec<f32>>) -> Result<(), String> {
        let fits = values.len() == self.tensors.len()
            && self
                .tensors
                .iter()
                .zip(&values)
                .all(|(t, v)| t.value.len() == v.len());
        if !fits {
            return Err("the saved parameters do not fit this model".into());
        }
        for (tensor, value) in self.tensors.iter_mut().zip(values) {
            tensor.value = value;
        }
        Ok(())
    }

    /// Adam's step count and each tensor's two moments.
    pub fn adam_state(&self) -> (u64, Pairs) {
        (
            self.step,
            self.tensors
                .iter()
                .map(|t| (t.m.clone(), t.v.clone()))
                .collect(),
        )
    }

    /// Restores what `adam_state` gave, checking the sizes first.
    pub fn set_adam_state(
        &mut self,
        step: u64,
        moments: Vec<(Vec<f32>, Vec<f32>)>,
    ) -> Result<(), String> {
        let fits = moments.len() == self.tensors.len()
            && self
                .tensors
                .iter()
                .zip(&moments)
                .all(|(t, (m, v))| m.len() == t.value.len() && v.len() == t.value.len());
        if !fits {
            return Err("the optimizer state does not fit this model".into());
        }
        for (tensor, (m, v)) in self.tensors.iter_mut().zip(moments) {
            (tensor.m, tensor.v) = (m, v);
        }
        self.step = step;
        Ok(())
    }

    /// One Adam step on every tensor with the gradients of the last `backward`.
    pub fn update(&mut self, adam: kernels::adam::AdamConfig) {
        self.step += 1;
        let step = AdamStep::new(adam, self.step);
        for tensor in &mut self.tensors {
            adam_update(
                &mut tensor.value,
                &tensor.grad,
                &mut tensor.m,
                &mut tensor.v,
                step,
            );
        }
    }
}

/// Pairs of buffers: Adam's two moments per tensor, or an LSTM's carried `(h, c)`.
pub type Pairs = Vec<(Vec<f32>, Vec<f32>)>;

/// A parameter in PyTorch's name and layout, for weight files.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Why saved weights do not fit the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    Missing(String),
    Unexpected(String),
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Missing(name) => write!(f, "tensor `{name}` is missing"),
            ImportError::Unexpected(name) => {
                write!(f, "tensor `{name}` is not a parameter of this model")
            }
            ImportError::Shape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor `{name}` has shape {found:?}, the model needs {expected:?}"
            ),
        }
    }
}

/// `[rows, cols]` as `[cols, rows]`.
fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    kernels::lstm::transpose_into(data, rows, cols, &mut out);
    out
}

/// Per-layer buffers for batches of `rows`.
// A model has a handful of layers: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Work {
    Lstm {
        dims: LstmDims,
        stateful: bool,
        sequences: bool,
        tape: LstmTape,
        scratch: LstmScratch,
        d_input: Vec<f32>,
    },
    Repeat,
    Dense {
        k: usize,
        o: usize,
        per_step: bool,
        y: Vec<f32>,
        w_t: Vec<f32>,
        d_input: Vec<f32>,
        /// Room for packing in its products (`dense_room`).
        room: Vec<f32>,
    },
}

impl Work {
    /// The buffers of a layer of `shape`, zeroed.
    fn new(shape: &LayerShape) -> Work {
        match *shape {
            LayerShape::Lstm {
                dims,
                kind,
                stateful,
                sequences,
                d_input,
            } => Work::Lstm {
                dims,
                stateful,
                sequences,
                tape: LstmTape::new(dims, kind),
                scratch: LstmScratch::new(dims, kind),
                d_input: vec![0.0; d_input],
            },
            LayerShape::Repeat => Work::Repeat,
            LayerShape::Dense {
                k,
                o,
                per_step,
                y,
                w_t,
                d_input,
                room,
                ..
            } => Work::Dense {
                k,
                o,
                per_step,
                y: vec![0.0; y],
                w_t: vec![0.0; w_t],
                d_input: vec![0.0; d_input],
                room: vec![0.0; room],
            },
        }
    }

    /// Floats held, read from the buffers themselves.
    fn floats(&self) -> usize {
        match self {
            Work::Lstm {
                tape,
                scratch,
                d_input,
                ..
            } => tape.floats() + scratch.floats() + d_input.len(),
            Work::Repeat => 0,
            Work::Dense {
                y,
                w_t,
                d_input,
                room,
                ..
            } => y.len() + w_t.len() + d_input.len() + room.len(),
        }
    }
}

/// What a layer reads: the batch, a sequence `[T, B, F]`, a vector `[B, F]`, or a vector
/// repeated over steps.
enum Flow<'a> {
    Features(&'a [f32]),
    Hot(&'a [u32]),
    Sequence(&'a [f32]),
    Vector(&'a [f32]),
    Repeated(&'a [f32]),
}

/// Everything one batch size needs, allocated once.
pub struct Workspace {
    pub rows: usize,
    encoding: Encoding,
    works: Vec<Work>,
    pub probs: Vec<f32>,
    dlogits: Vec<f32>,
}

impl Workspace {
    pub fn new(model: &Model, rows: usize, encoding: Encoding) -> Workspace {
        let (shapes, logits) = layer_shapes(&model.layers, &model.inputs, rows, encoding);
        Workspace {
            rows,
            encoding,
            works: shapes.iter().map(Work::new).collect(),
            probs: vec![0.0; logits],
            dlogits: vec![0.0; logits],
        }
    }

    /// The floats each layer's buffers hold (the last layer's with the loss's), read from the
    /// buffers themselves: what `describe` must count without allocating them.
    pub fn floats(&self) -> Vec<usize> {
        let last = self.works.len() - 1;
        let loss = self.probs.len() + self.dlogits.len();
        self.works
            .iter()
            .enumerate()
            .map(|(index, work)| work.floats() + if index == last { loss } else { 0 })
            .collect()
    }

    /// Zeroes the state every stateful layer carries.
    pub fn reset_state(&mut self) {
        for work in &mut self.works {
            if let Work::Lstm { tape, .. } = work {
                let (h, c) = tape.initial_state_mut();
                h.fill(0.0);
                c.fill(0.0);
            }
        }
    }

    /// The `(h, c)` each LSTM layer starts its next batch from.
    pub fn carried_state(&self) -> Pairs {
        self.works
            .iter()
            .filter_map(|work| match work {
                Work::Lstm { tape, .. } => Some((
                    tape.initial_state().0.to_vec(),
                    tape.initial_state().1.to_vec(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Restores what `carried_state` gave, checking the sizes first.
    pub fn set_carried_state(&mut self, carried: Pairs) -> Result<(), String> {
        let current = self.carried_state();
        let fits = carried.len() == current.len()
            && carried
                .iter()
                .zip(&current)
                .all(|((h, c), (h0, c0))| h.len() == h0.len() && c.len() == c0.len());
        if !fits {
            return Err("the carried state does not fit this model".into());
        }
        let tapes = self.works.iter_mut().filter_map(|work| match work {
            Work::Lstm { tape, .. } => Some(tape),
            _ => None,
        });
        for (tape, (h, c)) in tapes.zip(carried) {
            let (h0, c0) = tape.initial_state_mut();
            h0.copy_from_slice(&h);
            c0.copy_from_slice(&c);
        }
        Ok(())
    }

    /// Makes each stateful layer's final state the next batch's initial state. Call after
    /// `backward`, which still reads this batch's initial state.
    pub fn carry_state(&mut self) {
        for work in &mut self.works {
            if let Work::Lstm {
                tape,
                stateful: true,
                ..
            } = work
            {
                tape.carry_state();
            }
        }
    }

    /// Makes every LSTM layer's final state its next initial state, stateful or not: for
    /// reading one symbol at a time what training reads as one sequence. The kernel skips a
    /// step's recurrent product only when its initial state is zero, so this is exact.
    pub fn carry_every_state(&mut self) {
        for work in &mut self.works {
            if let Work::Lstm { tape, .. } = work {
                tape.carry_state();
            }
        }
    }

    /// Runs the batch through every layer; returns the summed loss of its targets (every
    /// value's, for a regression) and leaves the class probabilities (or the predicted
    /// values) in `probs` and the loss gradient in `dlogits`.
    pub fn forward(&mut self, model: &Model, batch: &Batch) -> f64 {
        for index in 0..self.works.len() {
            let (done, rest) = self.works.split_at_mut(index);
            let flow = output_of(done, index, batch, self.encoding);
            run_layer(&mut rest[0], flow, model, index);
        }
        let logits = match self.works.last() {
            Some(Work::Dense { y, .. }) => y,
            _ => unreachable!("the compiler ends every model with a dense layer"),
        };
        match model.loss {
            Loss::CrossEntropy => {
                let rows = batch.targets.len();
                let classes = self.probs.len() / rows;
                // Keras averages over the targets that count: padding (`PAD`, the kernel's
                // `IGNORE`) adds neither loss nor gradient.
                let counted = crate::train::counted(&batch.targets).max(1);
                softmax_xent(
                    logits,
                    classes,
                    &batch.targets,
                    1.0 / counted as f32,
                    &mut self.probs,
                    &mut self.dlogits,
                )
            }
            Loss::Mse | Loss::Mae => {
                self.probs.copy_from_slice(logits);
                // Keras averages over every value of the batch.
                let scale = 1.0 / batch.values.len() as f32;
                let loss = if model.loss == Loss::Mse { mse } else { mae };
                loss(logits, &batch.values, scale, &mut self.dlogits)
            }
        }
    }

    /// Backprop from the loss of the last `forward`, writing the model's gradients.
    pub fn backward(&mut self, model: &mut Model, batch: &Batch) {
        for index in (0..self.works.len()).rev() {
            let (done, rest) = self.works.split_at_mut(index);
            let (current, after) = rest.split_first_mut().unwrap();
            let d_out = match next_gradient(after) {
                Some(gradient) => gradient,
                None => &self.dlogits,
            };
            let flow = output_of(done, index, batch, self.encoding);
            backward_layer(current, flow, d_out, model, index);
        }
    }
}

/// What layer `index` reads: the batch for the first, else the previous layer's output.
fn output_of<'a>(done: &'a [Work], index: usize, batch: &'a Batch, encoding: Encoding) -> Flow<'a> {
    if index == 0 {
        return if encoding.gather {
            Flow::Hot(&batch.hot)
        } else {
            Flow::Features(&batch.x)
        };
    }
    match &done[index - 1] {
        Work::Lstm {
            tape,
            sequences: true,
            ..
        } => Flow::Sequence(tape.outputs()),
        Work::Lstm { tape, .. } => Flow::Vector(tape.final_state().0),
        Work::Dense {
            y, per_step: true, ..
        } => Flow::Sequence(y),
        Work::Dense { y, .. } => Flow::Vector(y),
        Work::Repeat => match output_of(done, index - 1, batch, encoding) {
            Flow::Vector(vector) => Flow::Repeated(vector),
            _ => unreachable!("the compiler puts repeat after a layer returning one vector"),
        },
    }
}

fn lstm_input<'a>(flow: &Flow<'a>) -> LstmInput<'a> {
    match *flow {
        Flow::Features(x) | Flow::Sequence(x) => LstmInput::Dense(x),
        Flow::Hot(hot) => LstmInput::OneHot(hot),
        Flow::Repeated(vector) => LstmInput::Repeated(vector),
        Flow::Vector(_) => unreachable!("the compiler gives an lstm a sequence"),
    }
}

fn dense_input<'a>(flow: &Flow<'a>) -> &'a [f32] {
    match *flow {
        Flow::Features(x) | Flow::Sequence(x) | Flow::Vector(x) => x,
        Flow::Hot(_) | Flow::Repeated(_) => unreachable!("dense reads features"),
    }
}

fn run_layer(work: &mut Work, flow: Flow, model: &Model, index: usize) {
    let first = model.first_tensor[index];
    let tensors = &model.tensors;
    match work {
        Work::Lstm { tape, .. } => {
            let w = LstmWeights {
                w_ih: &tensors[first].value,
                w_hh: &tensors[first + 1].value,
                bias: &tensors[first + 2].value,
            };
            lstm_forward(lstm_input(&flow), &w, tape);
        }
        Work::Dense { k, o, y, room, .. } => dense_forward(
            dense_input(&flow),
            &tensors[first].value,
            &tensors[first + 1].value,
            (*k, *o),
            y,
            room,
        ),
        Work::Repeat => {}
    }
}

/// The gradient reaching a layer's output: the input gradient of the next layer that has
/// one (`repeat` passes it through unchanged).
fn next_gradient(after: &[Work]) -> Option<&[f32]> {
    match after.first()? {
        Work::Lstm { d_input, .. } | Work::Dense { d_input, .. } => Some(d_input),
        Work::Repeat => next_gradient(&after[1..]),
    }
}

fn backward_layer(work: &mut Work, flow: Flow, d_out: &[f32], model: &mut Model, index: usize) {
    let first = model.first_tensor[index];
    let tensors = &mut model.tensors[first..];
    match work {
        Work::Lstm {
            dims,
            sequences,
            tape,
            scratch,
            d_input,
            ..
        } => {
            let (w_ih, rest) = tensors.split_first_mut().unwrap();
            let (w_hh, rest) = rest.split_first_mut().unwrap();
            let bias = &mut rest[0];
            let w = LstmWeights {
                w_ih: &w_ih.value,
                w_hh: &w_hh.value,
                bias: &bias.value,
            };
            let grads = LstmGrads {
                w_ih: &mut w_ih.grad,
                w_hh: &mut w_hh.grad,
                bias: &mut bias.grad,
            };
            let dout = if *sequences {
                OutputGrad::Sequence(d_out)
            } else {
                OutputGrad::Last(&d_out[..dims.batch * dims.hidden])
            };
            let dx = (!d_input.is_empty()).then_some(&mut d_input[..]);
            lstm_backward(lstm_input(&flow), &w, tape, dout, scratch, grads, dx);
        }
        Work::Dense {
            k,
            o,
            w_t,
            d_input,
            room,
            ..
        } => {
            let (w, rest) = tensors.split_first_mut().unwrap();
            let b = &mut rest[0];
            let dx = (!d_input.is_empty()).then_some((&mut d_input[..], &mut w_t[..]));
            dense_backward(
                dense_input(&flow),
                &w.value,
                d_out,
                (*k, *o),
                &mut w.grad,
                &mut b.grad,
                dx,
                room,
            );
        }
        Work::Repeat => {}
    }
}
