//! Each layer's dims and buffer lengths at one batch size, decided from the plan's shapes
//! alone: `Workspace::new` allocates them, and `describe` reports them for
//! `lstmc check --plan` without allocating anything in proportion to them.

use kernels::dense::dense_room;
use kernels::lstm::{InputKind, LstmDims, LstmScratch, LstmTape};

use crate::data::Encoding;
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
/// gradients and Adam moments: counted from the shapes, allocating nothing in proportion to
/// them.
pub fn describe(plan: &Plan, rows: usize) -> (Vec<LayerReport>, usize) {
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let inputs = input_widths(&plan.layers, plan.features);
    let (shapes, logits) = layer_shapes(&plan.layers, &inputs, rows, encoding);
    let last = shapes.len() - 1;
    let reports = shapes
        .iter()
        .enumerate()
        .map(|(index, shape)| {
            let loss = (index == last).then_some((plan.train.loss, 2 * logits));
            shape.report(loss)
        })
        .collect();
    let parameters = plan
        .layers
        .iter()
        .zip(&inputs)
        .map(|(layer, &input)| 4 * parameters(*layer, input))
        .sum();
    (reports, parameters)
}

/// One layer at one batch size: its dims, what it reads and its buffers' lengths, decided
/// once for `Workspace::new` to allocate and `describe` to count.
pub(crate) enum LayerShape {
    Lstm {
        dims: LstmDims,
        kind: InputKind,
        stateful: bool,
        sequences: bool,
        /// The gradient of its input: none for the first layer.
        d_input: usize,
    },
    Repeat,
    Dense {
        /// `[N, K]·[K, O]`: N is B, or T·B per step.
        n: usize,
        k: usize,
        o: usize,
        per_step: bool,
        /// `[N, O]` the output, and `Wᵀ [O, K]` for the input gradient.
        y: usize,
        w_t: usize,
        d_input: usize,
        /// Room for packing in its products (`dense_room`).
        room: usize,
    },
}

/// Each layer's shape for batches of `rows`, and the length of each loss buffer (`probs`,
/// `dlogits`).
pub(crate) fn layer_shapes(
    layers: &[LayerPlan],
    inputs: &[usize],
    rows: usize,
    encoding: Encoding,
) -> (Vec<LayerShape>, usize) {
    let mut steps = encoding.steps;
    let mut sequence = true;
    let mut shapes = Vec::with_capacity(layers.len());
    for (index, (layer, &input)) in layers.iter().zip(inputs).enumerate() {
        let shape = match *layer {
            LayerPlan::Lstm {
                units,
                stateful,
                sequences,
            } => {
                let repeated = index > 0 && matches!(layers[index - 1], LayerPlan::Repeat { .. });
                let (kind, d_input) = match (index, repeated) {
                    (0, _) if encoding.gather => (InputKind::OneHot, 0),
                    (0, _) => (InputKind::Dense, 0),
                    (_, true) => (InputKind::Repeated, rows * input),
                    (_, false) => (InputKind::Dense, steps * rows * input),
                };
                sequence = sequences;
                LayerShape::Lstm {
                    dims: LstmDims {
                        steps,
                        batch: rows,
                        input,
                        hidden: units,
                    },
                    kind,
                    stateful,
                    sequences,
                    d_input,
                }
            }
            LayerPlan::Repeat { times } => {
                steps = times;
                sequence = true;
                LayerShape::Repeat
            }
            LayerPlan::Dense { units, per_step } => {
                let n = if per_step { steps * rows } else { rows };
                sequence = per_step;
                LayerShape::Dense {
                    n,
                    k: input,
                    o: units,
                    per_step,
                    y: n * units,
                    w_t: input * units,
                    d_input: if index == 0 { 0 } else { n * input },
                    room: dense_room(n, input, units),
                }
            }
        };
        shapes.push(shape);
    }
    let classes = match layers.last() {
        Some(LayerPlan::Dense { units, .. }) => *units,
        _ => unreachable!("the compiler ends every model with a dense layer"),
    };
    let logit_rows = if sequence { steps * rows } else { rows };
    (shapes, logit_rows * classes)
}

impl LayerShape {
    /// The kernel calls and the floats `Workspace::new` allocates; for the last layer, `loss`
    /// and the floats of its buffers.
    fn report(&self, loss: Option<(Loss, usize)>) -> LayerReport {
        match *self {
            LayerShape::Lstm {
                dims,
                kind,
                d_input,
                ..
            } => LayerReport {
                ops: lstm_ops(dims, kind),
                floats: LstmTape::floats_for(dims, kind)
                    + LstmScratch::floats_for(dims, kind)
                    + d_input,
            },
            LayerShape::Repeat => LayerReport {
                ops: vec![
                    "no kernel: the next lstm projects the vector once and reads it at every step"
                        .into(),
                ],
                floats: 0,
            },
            LayerShape::Dense {
                n,
                k,
                o,
                y,
                w_t,
                d_input,
                room,
                ..
            } => {
                let mut ops = vec![format!("forward: GEMM [{n}, {k}]·[{k}, {o}] + bias")];
                let mut floats = y + w_t + d_input + room;
                if let Some((loss, loss_floats)) = loss {
                    ops.push(match loss {
                        Loss::CrossEntropy => format!(
                            "loss: fused softmax cross-entropy over {n} rows of {o} classes"
                        ),
                        Loss::Mse => {
                            format!("loss: fused mean squared error over {n} rows of {o} values")
                        }
                        Loss::Mae => {
                            format!("loss: fused mean absolute error over {n} rows of {o} values")
                        }
                    });
                    floats += loss_floats;
                }
                let dx = if d_input == 0 {
                    ""
                } else {
                    ", dx against Wᵀ"
                };
                ops.push(format!(
                    "backward: dW [{k}, {n}]·[{n}, {o}], db column sums{dx}"
                ));
                LayerReport { ops, floats }
            }
        }
    }
}

/// Each layer's input width: the features for the first, else the last units before it
/// (`repeat` keeps the width).
pub(crate) fn input_widths(layers: &[LayerPlan], features: usize) -> Vec<usize> {
    let mut width = features;
    let mut inputs = Vec::with_capacity(layers.len());
    for layer in layers {
        inputs.push(width);
        if let LayerPlan::Lstm { units, .. } | LayerPlan::Dense { units, .. } = *layer {
            width = units;
        }
    }
    inputs
}

/// The parameter floats `Model::new` draws for a layer reading `input` features: `W_ih`,
/// `W_hh` and the bias of an LSTM, `W` and `b` of a dense layer.
fn parameters(layer: LayerPlan, input: usize) -> usize {
    match layer {
        LayerPlan::Lstm { units, .. } => (input + units + 1) * 4 * units,
        LayerPlan::Dense { units, .. } => (input + 1) * units,
        LayerPlan::Repeat { .. } => 0,
    }
}

fn lstm_ops(dims: LstmDims, kind: InputKind) -> Vec<String> {
    let LstmDims {
        steps: t,
        batch: b,
        input: i,
        hidden: h,
    } = dims;
    let g4 = 4 * h;
    let projection = match kind {
        InputKind::OneHot => format!("input projection: row gather from W_ih [{i}, {g4}] for [{t}, {b}] one-hot indices, no matrix multiply"),
        InputKind::Repeated => format!("input projection: one GEMM [{b}, {i}]·[{i}, {g4}] for the repeated vector, copied to {t} steps"),
        InputKind::Dense => format!("input projection: one GEMM [{}, {i}]·[{i}, {g4}] for all {t} steps", t * b),
    };
    let packed = if kernels::lstm::packing_pays(dims) {
        ", W_hh packed once per pass"
    } else {
        ""
    };
    let d_input = match kind {
        InputKind::OneHot => "dW_ih by scatter-add of rows".to_string(),
        InputKind::Repeated => {
            format!("dW_ih and the vector's gradient from the gate gradients summed over {t} steps")
        }
        InputKind::Dense => format!("dW_ih as one GEMM over {} rows", t * b),
    };
    vec![
        projection,
        format!("per step ({t}): recurrent GEMM [{b}, {h}]·[{h}, {g4}]{packed}, then the fused cell (bias, sigmoid/tanh, c and h)"),
        format!("backward per step: fused cell backward, GEMM [{b}, {g4}]·[{g4}, {h}] into the previous h"),
        format!("backward at the end: dW_hh as one GEMM over {} rows, {d_input}", t * b),
    ]
}
