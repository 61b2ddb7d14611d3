//! Each layer's shape at one batch size, decided from the plan's shapes alone:
//! `Workspace::new` allocates what it decides, and `describe` reports it for
//! `lstmc check --plan` without allocating anything in proportion to it.

use crate::data::Encoding;
use crate::layers::{Incoming, Reads, Shape};
use crate::model::probs_per_logit;
use crate::optimizer::Optimizer;
use crate::plan::{LayerPlan, Loss, Plan};

/// What one layer runs and holds, for `lstmc check --plan`.
pub struct LayerReport {
    /// The kernel calls, in the order they run.
    pub ops: Vec<String>,
    /// Floats of activations, gradients and scratch held for one batch size.
    pub floats: usize,
}

/// What each layer of `plan` runs and holds for batches of `rows` (`Workspace::new`'s
/// buffers, the last layer's with the loss's), and the floats the parameters hold with their
/// gradients and the optimizer's slots: counted from the shapes, allocating nothing in
/// proportion to them.
pub fn describe(plan: &Plan, rows: usize) -> (Vec<LayerReport>, usize) {
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let (shapes, logits) = layer_shapes(&plan.layers, plan.features, rows, encoding);
    let last = shapes.len() - 1;
    let reports = shapes
        .iter()
        .enumerate()
        .map(|(index, shape)| {
            let (mut ops, backward) = shape.ops();
            let mut floats = shape.floats();
            // The loss runs between the last layer's forward and its backward.
            if index == last {
                ops.push(loss_op(plan.train.loss, shape.outgoing()));
                floats += (probs_per_logit(plan.train.loss) + 1) * logits;
                if plan.train.loss == Loss::BinaryCrossEntropy {
                    floats += logits;
                }
            }
            ops.extend(backward);
            LayerReport { ops, floats }
        })
        .collect();
    let inputs = input_widths(&plan.layers, plan.features);
    let values: usize = plan
        .layers
        .iter()
        .zip(&inputs)
        .map(|(layer, &input)| layer.layer().parameter_floats(input))
        .sum();
    let per_value = 2 + Optimizer::floats_per_parameter(plan.train.optimizer);
    (reports, per_value * values)
}

fn loss_op(loss: Loss, outputs: Incoming) -> String {
    let (n, o) = (output_rows(outputs), outputs.width);
    match loss {
        Loss::CrossEntropy => {
            format!("loss: fused softmax cross-entropy over {n} rows of {o} classes")
        }
        Loss::Mse => format!("loss: fused mean squared error over {n} rows of {o} values"),
        Loss::Mae => format!("loss: fused mean absolute error over {n} rows of {o} values"),
        Loss::BinaryCrossEntropy => {
            format!("loss: fused sigmoid binary cross-entropy over {n} rows of {o} outputs")
        }
    }
}

/// Rows of a layer's output: one a step of a sequence, else one a sample.
fn output_rows(outputs: Incoming) -> usize {
    match outputs.reads {
        Reads::Sequence => outputs.steps * outputs.rows,
        _ => outputs.rows,
    }
}

/// Each layer's shape for batches of `rows` reading `features` a step, and the length of
/// each loss buffer (`probs`, `dlogits`).
pub(crate) fn layer_shapes(
    layers: &[LayerPlan],
    features: usize,
    rows: usize,
    encoding: Encoding,
) -> (Vec<Box<dyn Shape>>, usize) {
    let mut incoming = Incoming {
        rows,
        steps: encoding.steps,
        width: features,
        reads: if encoding.gather {
            Reads::Hot
        } else {
            Reads::Features
        },
    };
    let mut shapes = Vec::with_capacity(layers.len());
    for layer in layers {
        let shape = layer.layer().shape(incoming);
        incoming = shape.outgoing();
        shapes.push(shape);
    }
    (shapes, output_rows(incoming) * incoming.width)
}

/// Each layer's input width: the features for the first, else the width of the layer
/// before.
pub(crate) fn input_widths(layers: &[LayerPlan], features: usize) -> Vec<usize> {
    let mut width = features;
    let mut inputs = Vec::with_capacity(layers.len());
    for layer in layers {
        inputs.push(width);
        width = layer.layer().width(width);
    }
    inputs
}
