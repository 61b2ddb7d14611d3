//! What the recurrent kinds (`lstm`, `gru`) share beside the kernels': how they read their
//! input, what they return, and how `lstmc check --plan` words their input projection and
//! weight gradients.

use kernels::recurrent::{InputKind, OutputGrad, RecurrentDims, RecurrentInput};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::{Flow, Incoming, Reads};
use crate::plan::Recurrent;
use crate::trace::Signal;

/// How the kernel reads what the layer receives.
pub(super) fn input_kind(reads: Reads) -> InputKind {
    match reads {
        Reads::Hot => InputKind::OneHot,
        Reads::Repeated => InputKind::Repeated,
        Reads::Features | Reads::Sequence => InputKind::Dense,
        Reads::Vector => unreachable!("the compiler gives a recurrent layer a sequence"),
    }
}

/// Its outputs: every step's state with `sequences`, else the last.
pub(super) fn outgoing(dims: RecurrentDims, settings: Recurrent) -> Incoming {
    Incoming {
        rows: dims.batch,
        steps: dims.steps,
        width: settings.units,
        reads: if settings.sequences {
            Reads::Sequence
        } else {
            Reads::Vector
        },
    }
}

/// The gradient of its outputs as the kernel takes it: every step's with `sequences`, else
/// the last state's, the first `[B, H]` of `d_out`.
pub(super) fn output_grad(
    dims: RecurrentDims,
    settings: Recurrent,
    d_out: &[f32],
) -> OutputGrad<'_> {
    if settings.sequences {
        OutputGrad::Sequence(d_out)
    } else {
        OutputGrad::Last(&d_out[..dims.batch * dims.hidden])
    }
}

/// What it returns: every step's state with `sequences`, else the last.
pub(super) fn output_flow<'a>(
    settings: Recurrent,
    outputs: &'a [f32],
    last: &'a [f32],
) -> Flow<'a> {
    if settings.sequences {
        Flow::Sequence(outputs)
    } else {
        Flow::Vector(last)
    }
}

/// Named `[T, B, width]` buffers' blocks of `dims.hidden` units at batch row `row`, each
/// buffer cut into its blocks (`letters`, one a block: the gates of a gate buffer), as
/// signals over the steps.
pub(super) fn row_signals(
    dims: RecurrentDims,
    row: usize,
    buffers: &[(&str, &[f32])],
) -> Vec<Signal> {
    let (steps, rows, units) = (dims.steps, dims.batch, dims.hidden);
    let mut signals = Vec::new();
    for &(letters, buffer) in buffers {
        let width = letters.len() * units;
        for (block, letter) in letters.chars().enumerate() {
            let values = (0..steps)
                .flat_map(|step| &buffer[(step * rows + row) * width + block * units..][..units])
                .copied()
                .collect();
            signals.push(Signal {
                name: letter.to_string(),
                steps,
                units,
                values,
            });
        }
    }
    signals
}

/// The input projection onto `gates` columns.
pub(super) fn projection_op(dims: RecurrentDims, kind: InputKind, gates: usize) -> String {
    let (t, b, i) = (dims.steps, dims.batch, dims.input);
    match kind {
        InputKind::OneHot => format!("input projection: row gather from W_ih [{i}, {gates}] for [{t}, {b}] one-hot indices, no matrix multiply"),
        InputKind::Repeated => format!("input projection: one GEMM [{b}, {i}]·[{i}, {gates}] for the repeated vector, copied to {t} steps"),
        InputKind::Dense => format!("input projection: one GEMM [{}, {i}]·[{i}, {gates}] for all {t} steps", t * b),
    }
}

/// The weight gradients, computed once for all steps.
pub(super) fn weight_gradients_op(dims: RecurrentDims, kind: InputKind) -> String {
    let (t, b) = (dims.steps, dims.batch);
    let d_input = match kind {
        InputKind::OneHot => "dW_ih by scatter-add of rows".to_string(),
        InputKind::Repeated => {
            format!("dW_ih and the vector's gradient from the gate gradients summed over {t} steps")
        }
        InputKind::Dense => format!("dW_ih as one GEMM over {} rows", t * b),
    };
    format!(
        "backward at the end: dW_hh as one GEMM over {} rows, {d_input}",
        t * b
    )
}

/// Keras' `dropout=` on a recurrent layer: while training, one mask `[B, I]` a batch, drawn
/// from the layer's noise seed, keeps each input feature of a sample with probability
/// `1 - rate`, scaled by `1 / (1 - rate)`, the same at every step; the kernel reads the
/// masked input from a buffer of the layer's own, and the input's gradient is masked the same
/// way. One-hot symbols fed as hot indices are expanded into that buffer as dense one-hot
/// rows, so the layer's tape is sized for a dense input then. Evaluation reads the input
/// as it is.
pub(super) struct InputDropout {
    rate: f64,
    rows: usize,
    width: usize,
    /// `[B, I]`: 0 or `1 / (1 - rate)`.
    mask: Vec<f32>,
    /// What the kernel reads: `[T, B, I]`, or `[B, I]` for a repeated vector.
    dropped: Vec<f32>,
    /// Whether the last forward pass dropped.
    active: bool,
}

/// The seed of a recurrent layer's input mask, apart from the layer's seed and from its
/// recurrent mask's.
const INPUT_STREAM: u64 = 0xd1b5_4a32_d192_ed03;

/// The seed of a recurrent layer's recurrent mask, apart from the layer's seed and from its
/// input mask's.
const RECURRENT_STREAM: u64 = 0xe703_7ed1_a0b4_28db;

/// Fills `mask` with 0 or `1 / (1 - rate)`, each kept with probability `1 - rate`.
fn draw(mask: &mut [f32], rate: f64, seed: u64) {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let keep = 1.0 - rate;
    let scale = (1.0 / keep) as f32;
    for factor in mask {
        *factor = if rng.random_bool(keep) { scale } else { 0.0 };
    }
}

impl InputDropout {
    fn lens(rate: f64, incoming: Incoming) -> (usize, usize) {
        if rate == 0.0 {
            return (0, 0);
        }
        let mask = incoming.rows * incoming.width;
        let steps = match incoming.reads {
            Reads::Repeated => 1,
            _ => incoming.steps,
        };
        (mask, steps * mask)
    }

    /// Floats `new` allocates, counted without allocating.
    pub(super) fn floats_for(rate: f64, incoming: Incoming) -> usize {
        let (mask, dropped) = InputDropout::lens(rate, incoming);
        mask + dropped
    }

    pub(super) fn new(rate: f64, incoming: Incoming) -> InputDropout {
        let (mask, dropped) = InputDropout::lens(rate, incoming);
        InputDropout {
            rate,
            rows: incoming.rows,
            width: incoming.width,
            mask: vec![0.0; mask],
            dropped: vec![0.0; dropped],
            active: false,
        }
    }

    /// The kind the kernel's buffers are sized for: one-hot input is read dense when dropped.
    pub(super) fn kind(rate: f64, kind: InputKind) -> InputKind {
        match (rate > 0.0, kind) {
            (true, InputKind::OneHot) => InputKind::Dense,
            _ => kind,
        }
    }

    pub(super) fn floats(&self) -> usize {
        self.mask.len() + self.dropped.len()
    }

    /// Its lines for `lstmc check --plan`, added to the layer's forward and backward ones.
    pub(super) fn ops(rate: f64, incoming: Incoming, ops: &mut (Vec<String>, Vec<String>)) {
        if rate == 0.0 {
            return;
        }
        let (b, i) = (incoming.rows, incoming.width);
        ops.0.insert(0, format!("input dropout (training): a [{b}, {i}] mask keeping each feature with probability 1 - {rate}, scaled by 1/(1 - {rate}), the same at every step, into a buffer"));
        if !incoming.is_batch() {
            ops.1
                .push("the input's gradient times the same mask".to_string());
        }
    }

    /// Draws the mask when training (`noise`) and masks the input into the layer's buffer.
    pub(super) fn forward(&mut self, input: Flow, noise: Option<u64>) {
        self.active = self.rate > 0.0 && noise.is_some();
        let Some(seed) = noise.filter(|_| self.active) else {
            return;
        };
        draw(&mut self.mask, self.rate, seed ^ INPUT_STREAM);
        let (mask, width) = (&self.mask, self.width);
        let sample_rows = mask.chunks(width).cycle();
        match input {
            Flow::Hot(hot) => {
                self.dropped.fill(0.0);
                let rows = self.dropped.chunks_mut(width).zip(hot).zip(sample_rows);
                for ((out, &index), m) in rows {
                    out[index as usize] = m[index as usize];
                }
            }
            Flow::Features(x) | Flow::Sequence(x) | Flow::Repeated(x) => {
                for (out, (&x, &m)) in self
                    .dropped
                    .iter_mut()
                    .zip(x.iter().zip(mask.iter().cycle()))
                {
                    *out = x * m;
                }
            }
            Flow::Vector(_) => unreachable!("the compiler gives a recurrent layer a sequence"),
        }
        debug_assert_eq!(mask.len(), self.rows * width);
    }

    /// What the kernel reads, forward and backward: the masked input after a training pass.
    pub(super) fn input<'a>(&'a self, input: Flow<'a>) -> RecurrentInput<'a> {
        match (self.active, input) {
            (false, _) => input.sequence(),
            (true, Flow::Repeated(_)) => RecurrentInput::Repeated(&self.dropped),
            (true, _) => RecurrentInput::Dense(&self.dropped),
        }
    }

    /// The input's gradient `[T, B, I]` (or `[B, I]`) times the same mask.
    pub(super) fn backward(&self, dx: &mut [f32]) {
        if self.active {
            for (dx, &m) in dx.iter_mut().zip(self.mask.iter().cycle()) {
                *dx *= m;
            }
        }
    }
}

/// Keras' `recurrent_dropout=`: while training, one mask `[B, H]` a batch, drawn from the
/// layer's noise seed on a stream of its own, keeps each unit of `h_{t-1}` where the
/// recurrent product reads it with probability `1 - rate`, scaled by `1 / (1 - rate)`, the
/// same at every step; the kernels take it, and their buffers are made for it. A stateful
/// layer draws a new one each batch, as Keras clears its cell's mask after every call.
/// Evaluation passes none.
pub(super) struct RecurrentDropout {
    rate: f64,
    /// `[B, H]`: 0 or `1 / (1 - rate)`; empty at rate 0.
    mask: Vec<f32>,
    /// Whether the last forward pass dropped.
    active: bool,
}

impl RecurrentDropout {
    /// Whether it drops anything at `rate`: then the kernels' buffers need room for its mask.
    pub(super) fn drops(rate: f64) -> bool {
        rate > 0.0
    }

    /// Floats `new` allocates, counted without allocating.
    pub(super) fn floats_for(rate: f64, dims: RecurrentDims) -> usize {
        if RecurrentDropout::drops(rate) {
            dims.batch * dims.hidden
        } else {
            0
        }
    }

    pub(super) fn new(rate: f64, dims: RecurrentDims) -> RecurrentDropout {
        RecurrentDropout {
            rate,
            mask: vec![0.0; RecurrentDropout::floats_for(rate, dims)],
            active: false,
        }
    }

    pub(super) fn floats(&self) -> usize {
        self.mask.len()
    }

    /// Its lines for `lstmc check --plan`, added to the layer's forward and backward ones.
    pub(super) fn ops(rate: f64, dims: RecurrentDims, ops: &mut (Vec<String>, Vec<String>)) {
        if !RecurrentDropout::drops(rate) {
            return;
        }
        let (b, h) = (dims.batch, dims.hidden);
        // Beside the per-step lines that use it: the layer's last forward, its first backward.
        let per_step = ops.0.len() - 1;
        ops.0.insert(per_step, format!("recurrent dropout (training): a [{b}, {h}] mask keeping each unit of h with probability 1 - {rate}, scaled by 1/(1 - {rate}), the same at every step: each recurrent GEMM reads the previous h times it (kept for dW_hh), the cell reads it unmasked"));
        ops.1.insert(
            1,
            "backward per step: the gradient the recurrent GEMM passes into the previous h times the same mask".to_string(),
        );
    }

    /// Draws the mask when training (`noise`).
    pub(super) fn forward(&mut self, noise: Option<u64>) {
        self.active = RecurrentDropout::drops(self.rate) && noise.is_some();
        if let Some(seed) = noise.filter(|_| self.active) {
            draw(&mut self.mask, self.rate, seed ^ RECURRENT_STREAM);
        }
    }

    /// The mask the kernel takes, forward and backward: the one drawn after a training pass.
    pub(super) fn mask(&self) -> Option<&[f32]> {
        self.active.then_some(&self.mask[..])
    }
}
