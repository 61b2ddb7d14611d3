//! The network: parameters shared by every batch size (`Model`), and the buffers one batch
//! size runs forward and backward in (`Workspace`).
//!
//! Activations flow time-major between layers, each layer kind behind the interfaces of
//! `layers`; the model holds every layer's parameters in one list of tensors, and the
//! optimizer's state lives beside it (`optimizer`).

use kernels::bce::sigmoid_bce;
use kernels::regression::{mae, mse};
use kernels::softmax::softmax_xent;
use rand_pcg::Pcg64Mcg;

use crate::data::{Batch, Encoding};
use crate::layers::{Flow, Work};
use crate::plan::{LayerPlan, Loss, Plan};
use crate::shapes::{input_widths, layer_shapes};
use crate::trace::LayerState;

/// A parameter tensor and its gradient.
pub struct Tensor {
    pub value: Vec<f32>,
    pub(crate) grad: Vec<f32>,
}

impl Tensor {
    fn new(value: Vec<f32>) -> Tensor {
        let grad = vec![0.0; value.len()];
        Tensor { value, grad }
    }

    /// The gradient from the last `backward`.
    pub fn grad(&self) -> &[f32] {
        &self.grad
    }
}

/// The layers and their parameters, each layer's tensors in the order its kind lists them.
pub struct Model {
    pub layers: Vec<LayerPlan>,
    /// What the last layer's outputs are scored by.
    pub loss: Loss,
    /// Each layer's input width, and its first tensor in `tensors`.
    inputs: Vec<usize>,
    first_tensor: Vec<usize>,
    pub tensors: Vec<Tensor>,
}

impl Model {
    /// Floats of the parameters' values.
    pub fn parameters(&self) -> usize {
        self.tensors.iter().map(|t| t.value.len()).sum()
    }

    /// Floats held: every parameter's value and gradient, read from the buffers.
    pub fn floats(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| t.value.len() + t.grad.len())
            .sum()
    }

    /// Keras-initialised parameters for `plan`, drawn from `rng` layer by layer.
    pub fn new(plan: &Plan, rng: &mut Pcg64Mcg) -> Model {
        let mut tensors = Vec::new();
        let mut first_tensor = Vec::new();
        let inputs = input_widths(&plan.layers, plan.features);
        for (layer, &width) in plan.layers.iter().zip(&inputs) {
            first_tensor.push(tensors.len());
            let values = layer.layer().init(width, rng);
            tensors.extend(values.into_iter().map(Tensor::new));
        }
        first_tensor.push(tensors.len());
        Model {
            layers: plan.layers.clone(),
            loss: plan.train.loss,
            inputs,
            first_tensor,
            tensors,
        }
    }

    /// The tensors of layer `index`.
    fn params(&self, index: usize) -> &[Tensor] {
        &self.tensors[self.first_tensor[index]..self.first_tensor[index + 1]]
    }

    fn params_mut(&mut self, index: usize) -> &mut [Tensor] {
        &mut self.tensors[self.first_tensor[index]..self.first_tensor[index + 1]]
    }

    /// The parameters as PyTorch's modules hold them, named `layers.{index}.{name}`: see
    /// each layer kind's `export` (`torch.nn.LSTM`'s `weight_ih_l0 [4H, I]`, ...).
    pub fn export(&self) -> Vec<NamedTensor> {
        let mut named = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let tensors = layer.layer().export(self.inputs[index], self.params(index));
            named.extend(tensors.into_iter().map(|tensor| NamedTensor {
                name: format!("layers.{index}.{}", tensor.name),
                ..tensor
            }));
        }
        named
    }

    /// Replaces the parameters with `tensors`, named and laid out as `export` writes them
    /// (PyTorch's own weights load too). Checks every name and shape before changing
    /// anything.
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
        let mut values = Vec::with_capacity(self.tensors.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let named = |suffix: &str| {
                let name = format!("layers.{index}.{suffix}");
                let found = tensors.iter().find(|t| t.name == name);
                found.expect("checked above").data.clone()
            };
            values.extend(layer.layer().import(self.inputs[index], &named));
        }
        self.set_values(values)
            .expect("import gives each layer's tensors in its sizes");
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
}

/// The state each recurrent layer carries, named `{layer}.{buffer}` (`0.h`, `0.c`).
pub type Carried = Vec<(String, Vec<f32>)>;

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

/// Everything one batch size needs, allocated once.
pub struct Workspace {
    pub rows: usize,
    encoding: Encoding,
    works: Vec<Box<dyn Work>>,
    /// The class probabilities, or a regression's predicted values; two a logit for binary
    /// cross-entropy (`1 - p`, `p`), so that it reads as two classes everywhere.
    pub probs: Vec<f32>,
    dlogits: Vec<f32>,
    /// Binary cross-entropy's targets as numbers, 0 or 1.
    binary_targets: Vec<f32>,
}

impl Workspace {
    pub fn new(model: &Model, rows: usize, encoding: Encoding) -> Workspace {
        let (shapes, logits) = layer_shapes(&model.layers, model.inputs[0], rows, encoding);
        Workspace {
            rows,
            encoding,
            works: shapes.iter().map(|shape| shape.allocate()).collect(),
            probs: vec![0.0; probs_per_logit(model.loss) * logits],
            dlogits: vec![0.0; logits],
            binary_targets: match model.loss {
                Loss::BinaryCrossEntropy => vec![0.0; logits],
                _ => Vec::new(),
            },
        }
    }

    /// The floats each layer's buffers hold (the last layer's with the loss's), read from the
    /// buffers themselves: what `describe` must count without allocating them.
    pub fn floats(&self) -> Vec<usize> {
        let last = self.works.len() - 1;
        let loss = self.probs.len() + self.dlogits.len() + self.binary_targets.len();
        self.works
            .iter()
            .enumerate()
            .map(|(index, work)| work.floats() + if index == last { loss } else { 0 })
            .collect()
    }

    /// Zeroes the state every stateful layer carries.
    pub fn reset_state(&mut self) {
        for work in &mut self.works {
            work.reset_state();
        }
    }

    /// The state each recurrent layer starts its next batch from.
    pub fn carried_state(&self) -> Carried {
        let mut carried = Vec::new();
        for (index, work) in self.works.iter().enumerate() {
            for (name, buffer) in work.carried() {
                carried.push((format!("{index}.{name}"), buffer.to_vec()));
            }
        }
        carried
    }

    /// Restores what `carried_state` gave, in any order, checking the names and sizes
    /// first.
    pub fn set_carried_state(&mut self, mut carried: Carried) -> Result<(), String> {
        let current = self.carried_state();
        carried.sort_by_key(|(name, _)| current.iter().position(|(want, _)| want == name));
        let fits = carried.len() == current.len()
            && carried
                .iter()
                .zip(&current)
                .all(|((name, got), (want_name, want))| {
                    name == want_name && got.len() == want.len()
                });
        if !fits {
            return Err("the carried state does not fit this model".into());
        }
        let buffers = self.works.iter_mut().flat_map(|work| work.carried_mut());
        for (buffer, (_, saved)) in buffers.zip(carried) {
            buffer.copy_from_slice(&saved);
        }
        Ok(())
    }

    /// Makes each stateful layer's final state the next batch's initial state. Call after
    /// `backward`, which still reads this batch's initial state.
    pub fn carry_state(&mut self) {
        for work in &mut self.works {
            work.carry_state(false);
        }
    }

    /// Makes every recurrent layer's final state its next initial state, stateful or not:
    /// for reading one symbol at a time what training reads as one sequence.
    pub fn carry_every_state(&mut self) {
        for work in &mut self.works {
            work.carry_state(true);
        }
    }

    /// Every recurrent layer's state over the last forward's steps at batch row `row`.
    pub fn state(&self, row: usize) -> Vec<LayerState> {
        let states = self
            .works
            .iter()
            .enumerate()
            .map(|(layer, work)| LayerState {
                layer,
                signals: work.state(row),
            });
        states.filter(|state| !state.signals.is_empty()).collect()
    }

    /// Runs the batch through every layer; returns the summed loss of its targets (every
    /// value's, for a regression) and leaves the class probabilities (or the predicted
    /// values) in `probs` and the loss gradient in `dlogits`.
    pub fn forward(&mut self, model: &Model, batch: &Batch) -> f64 {
        self.run(model, batch, None)
    }

    /// `forward` as training runs it: what training draws (dropout's masks) seeded by
    /// `noise`, each layer's from its own stream.
    pub fn forward_training(&mut self, model: &Model, batch: &Batch, noise: u64) -> f64 {
        self.run(model, batch, Some(noise))
    }

    fn run(&mut self, model: &Model, batch: &Batch, noise: Option<u64>) -> f64 {
        for index in 0..self.works.len() {
            let (done, rest) = self.works.split_at_mut(index);
            let (flow, mask) = input_of(done, batch, self.encoding);
            let layer_noise = noise.map(|n| n ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            rest[0].forward(flow, mask, model.params(index), layer_noise);
        }
        let logits = match input_of(&self.works, batch, self.encoding).0 {
            Flow::Sequence(y) | Flow::Vector(y) => y,
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
            Loss::BinaryCrossEntropy => binary_loss(
                logits,
                &batch.targets,
                &mut self.binary_targets,
                &mut self.probs,
                &mut self.dlogits,
            ),
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
            let d_out = next_gradient(after).unwrap_or(&self.dlogits);
            let (flow, mask) = input_of(done, batch, self.encoding);
            current.backward(flow, mask, d_out, model.params_mut(index));
        }
    }
}

/// Keras' binary cross-entropy of the sigmoid fused in, averaged over the targets (`classes`
/// 0 or 1, as numbers in `numbers`); `probs` ends as each logit's `(1 - p, p)`.
fn binary_loss(
    logits: &[f32],
    classes: &[u32],
    numbers: &mut [f32],
    probs: &mut [f32],
    dlogits: &mut [f32],
) -> f64 {
    for (number, &class) in numbers.iter_mut().zip(classes) {
        *number = class as f32;
    }
    let n = logits.len();
    let loss = sigmoid_bce(logits, numbers, 1.0 / n as f32, &mut probs[..n], dlogits);
    // Spread in place from the back: pair i lands at or after p[i], never on an unread p.
    for i in (0..n).rev() {
        let p = probs[i];
        probs[2 * i] = 1.0 - p;
        probs[2 * i + 1] = p;
    }
    loss
}

/// Floats of `probs` a logit.
pub(crate) fn probs_per_logit(loss: Loss) -> usize {
    match loss {
        Loss::BinaryCrossEntropy => 2,
        _ => 1,
    }
}

/// What the layer after `done` reads: the batch, passed through each of them, and the
/// batch's step mask while its steps last. As in Keras, a layer that returns one vector
/// ends the mask: nothing after it has the batch's steps.
fn input_of<'a>(
    done: &'a [Box<dyn Work>],
    batch: &'a Batch,
    encoding: Encoding,
) -> (Flow<'a>, Option<&'a [f32]>) {
    let first = if encoding.gather {
        Flow::Hot(&batch.hot)
    } else {
        Flow::Features(&batch.x)
    };
    let mask = (!batch.mask.is_empty()).then_some(&batch.mask[..]);
    done.iter().fold((first, mask), |(flow, mask), work| {
        let next = work.output(flow);
        (next, mask.filter(|_| matches!(next, Flow::Sequence(_))))
    })
}

/// The gradient reaching a layer's output: the input gradient of the next layer that has
/// one (`repeat` passes it through unchanged).
fn next_gradient(after: &[Box<dyn Work>]) -> Option<&[f32]> {
    after.iter().find_map(|work| work.input_gradient())
}
