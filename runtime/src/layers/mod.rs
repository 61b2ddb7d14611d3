//! The layer kinds, each in its own module behind two small interfaces: `Layer`, what a
//! kind knows from the plan alone (its parameters, their PyTorch names, its shape at a batch
//! size), and `Work`, its buffers at one batch size and how it runs forward and backward.
//!
//! Adding a kind is a settings struct in `plan`, a module here implementing both, and one arm
//! in `LayerPlan::layer`. `Model` and `Workspace` only go through these interfaces.

mod bidirectional;
mod dense;
mod dropout;
mod embedding;
mod gru;
mod lstm;
mod recurrent;
mod repeat;

use kernels::lstm::LstmInput;
use rand_pcg::Pcg64Mcg;

use crate::model::{NamedTensor, Tensor};
use crate::plan::LayerPlan;
use crate::trace::Signal;

/// What a layer reads at run time: the batch's features or hot indices, the previous
/// layer's sequence `[T, B, F]` or vector `[B, F]`, or a vector repeated over steps.
#[derive(Clone, Copy)]
pub(crate) enum Flow<'a> {
    Features(&'a [f32]),
    Hot(&'a [u32]),
    Sequence(&'a [f32]),
    Vector(&'a [f32]),
    Repeated(&'a [f32]),
}

impl<'a> Flow<'a> {
    /// The flow as a recurrent layer reads it.
    pub(crate) fn sequence(self) -> LstmInput<'a> {
        match self {
            Flow::Features(x) | Flow::Sequence(x) => LstmInput::Dense(x),
            Flow::Hot(hot) => LstmInput::OneHot(hot),
            Flow::Repeated(vector) => LstmInput::Repeated(vector),
            Flow::Vector(_) => unreachable!("the compiler gives a recurrent layer a sequence"),
        }
    }

    /// The flow as rows of features.
    pub(crate) fn features(self) -> &'a [f32] {
        match self {
            Flow::Features(x) | Flow::Sequence(x) | Flow::Vector(x) => x,
            Flow::Hot(_) | Flow::Repeated(_) => unreachable!("the compiler gives dense features"),
        }
    }
}

/// The shape of what a layer reads at one batch size: `rows` of the batch, `steps` and
/// `width` features a step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Incoming {
    pub rows: usize,
    pub steps: usize,
    pub width: usize,
    pub reads: Reads,
}

/// Which `Flow` a layer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reads {
    Hot,
    Features,
    Sequence,
    Vector,
    Repeated,
}

impl Incoming {
    /// Whether the layer reads the batch itself, so no gradient flows back from it.
    pub(crate) fn is_batch(&self) -> bool {
        matches!(self.reads, Reads::Hot | Reads::Features)
    }

    /// Floats of what it reads, for the gradient of its input.
    pub(crate) fn floats(&self) -> usize {
        match self.reads {
            Reads::Hot | Reads::Features => 0,
            Reads::Sequence => self.steps * self.rows * self.width,
            Reads::Vector | Reads::Repeated => self.rows * self.width,
        }
    }
}

/// A layer kind, from its settings alone.
pub(crate) trait Layer {
    /// Its output width, reading `input` features a step.
    fn width(&self, input: usize) -> usize;
    /// The floats of its parameters, counted without drawing them. The defaults are a
    /// layer's without parameters.
    fn parameter_floats(&self, _input: usize) -> usize {
        0
    }
    /// Its parameter tensors, initialised as Keras does, drawn from `rng` in order.
    fn init(&self, _input: usize, _rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        Vec::new()
    }
    /// Its tensors in PyTorch's layouts, named by their attribute in the PyTorch module
    /// (`weight_ih_l0`); the model adds the layer's prefix.
    fn export(&self, _input: usize, _params: &[Tensor]) -> Vec<NamedTensor> {
        Vec::new()
    }
    /// Its tensors back from `export`'s form; `named` gives each by name, already checked
    /// against `export`'s shapes.
    fn import(&self, _input: usize, _named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        Vec::new()
    }
    /// Its shape reading `incoming`.
    fn shape(&self, incoming: Incoming) -> Box<dyn Shape>;
}

/// A layer at one batch size: what it runs and holds, decided without allocating it.
pub(crate) trait Shape {
    /// What the next layer reads.
    fn outgoing(&self) -> Incoming;
    /// The kernel calls forward and backward, in the order they run, for
    /// `lstmc check --plan`.
    fn ops(&self) -> (Vec<String>, Vec<String>);
    /// Floats of activations, gradients and scratch that `allocate` holds.
    fn floats(&self) -> usize;
    fn allocate(&self) -> Box<dyn Work>;
}

/// A layer's buffers at one batch size, and its passes.
pub(crate) trait Work: Send {
    /// `noise` seeds what training draws (dropout's masks); `None` while evaluating.
    /// `mask [T, B]`, while the batch's steps reach the layer, is 1 for a real step and 0
    /// for a padded one: a recurrent layer carries its state over padded steps (Keras'
    /// masking); the others need not look.
    fn forward(&mut self, input: Flow, mask: Option<&[f32]>, params: &[Tensor], noise: Option<u64>);
    /// Writes the gradients of `params` and of its input, from `d_out`, the gradient of its
    /// output; `input` and `mask` are what the last `forward` read.
    fn backward(&mut self, input: Flow, mask: Option<&[f32]>, d_out: &[f32], params: &mut [Tensor]);
    /// What the next layer reads, after `forward` read `input`.
    fn output<'a>(&'a self, input: Flow<'a>) -> Flow<'a>;
    /// The gradient of its input after `backward`; `None` for a layer that passes the
    /// gradient it receives through unchanged.
    fn input_gradient(&self) -> Option<&[f32]>;
    /// Floats held, read from the buffers themselves.
    fn floats(&self) -> usize;
    /// The state it carries from batch to batch, named: none but a recurrent layer's.
    fn carried(&self) -> Vec<(&'static str, &[f32])> {
        Vec::new()
    }
    /// The buffers `carried` names, in its order, to restore them.
    fn carried_mut(&mut self) -> Vec<&mut [f32]> {
        Vec::new()
    }
    /// Makes the final state of the last batch the next batch's initial state, when the
    /// layer is stateful or `every` asks it of every recurrent layer.
    fn carry_state(&mut self, _every: bool) {}
    /// Zeroes the carried state.
    fn reset_state(&mut self) {}
    /// Its state over the last forward's steps at batch row `row` (hidden state, cell state,
    /// gates), for a run report: none but a recurrent layer's.
    fn state(&self, _row: usize) -> Vec<Signal> {
        Vec::new()
    }
}

impl LayerPlan {
    /// The layer kind with its settings; not for a training step's hot path, as it boxes.
    pub(crate) fn layer(&self) -> Box<dyn Layer> {
        match *self {
            LayerPlan::Embedding(embedding) => Box::new(embedding),
            LayerPlan::Dropout(dropout) => Box::new(dropout),
            LayerPlan::Lstm(settings) => Box::new(lstm::Lstm(settings)),
            LayerPlan::Gru(settings) => Box::new(gru::Gru(settings)),
            LayerPlan::Bidirectional(bidirectional) => Box::new(bidirectional),
            LayerPlan::Repeat(repeat) => Box::new(repeat),
            LayerPlan::Dense(dense) => Box::new(dense),
        }
    }
}

/// `[rows, cols]` as `[cols, rows]`.
pub(crate) fn transposed(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    kernels::lstm::transpose_into(data, rows, cols, &mut out);
    out
}

/// A named tensor for `export`.
pub(crate) fn named(name: &str, shape: Vec<usize>, data: Vec<f32>) -> NamedTensor {
    NamedTensor {
        name: name.to_string(),
        shape,
        data,
    }
}
