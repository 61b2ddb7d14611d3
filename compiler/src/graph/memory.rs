//! The memory a spec would need to train, estimated from its shapes and bounded before
//! anything is allocated: a spec is untrusted input.

use petgraph::visit::EdgeRef;
use runtime::plan::OptimizerPlan;

use super::{Framed, LayerGraph, Op, Shape};
use crate::diagnostic::Diagnostic;
use crate::format::{group, human};
use crate::spec::Spec;

/// The most a spec may ask for: parameters, optimizer state, activations and data.
pub const MEMORY_LIMIT: u128 = 4 << 30;

const F32: u128 = 4;

/// Bytes, by what they hold. Arithmetic saturates: a spec may ask for absurd sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Weights, gradients and the optimizer's slots.
    pub parameters: u128,
    /// One batch's forward tape and its gradients.
    pub activations: u128,
    /// The samples as kept: the training data, every evaluation draw (kept for the
    /// predictions shown), and a split source's parts with their copies.
    pub data: u128,
}

impl Memory {
    pub fn total(&self) -> u128 {
        self.parameters
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }
}

pub fn estimate(
    graph: &LayerGraph,
    framed: Framed,
    eval_draws: u64,
    optimizer: &OptimizerPlan,
) -> Memory {
    let per_parameter = 2 + optimizer.slot_names().len() as u128;
    let parameters = graph.total_params().saturating_mul(per_parameter * F32);
    let activations = node_activations(graph)
        .map(|(_, bytes)| bytes)
        .fold(0, u128::saturating_add);
    let data = data_bytes(framed, eval_draws);
    // Evaluating and validating a split run at their own batch's workspace beside training's.
    let workspaces = if framed.evaluated > framed.samples {
        2
    } else {
        1
    };
    let activations = activations.saturating_mul(workspaces);
    Memory {
        parameters,
        activations,
        data,
    }
}

/// The samples as the runtime keeps them: a symbol index per position and target step, or a
/// series' values; the training data and every evaluation draw of symbols, and for a split
/// source every part three times (the parts, the evaluation's copies, the validation part's
/// own), plus the source itself.
fn data_bytes(framed: Framed, eval_draws: u64) -> u128 {
    let target_steps = u128::from(framed.target_steps.unwrap_or(1));
    let per_sample = match framed.values {
        true => u128::from(framed.steps)
            .saturating_mul(framed.features.into())
            .saturating_add(framed.classes.into()),
        false => u128::from(framed.steps).saturating_add(target_steps),
    };
    let copies = match framed.evaluated > framed.samples {
        true => u128::from(framed.evaluated).saturating_mul(3),
        false => {
            u128::from(framed.samples).saturating_mul(u128::from(eval_draws).saturating_add(1))
        }
    };
    per_sample.saturating_mul(copies).saturating_mul(F32)
}

/// A node's share of one batch's tape: its output and gradient; an LSTM also keeps its four
/// gates, cell state and its tanh for every input step, a GRU its three gates, the recurrent
/// part of its candidate and its state. A bidirectional layer keeps that twice, its merged
/// output, and three buffers the size of its input (the input reversed, and each direction's
/// input gradient); with `dropout=`, each copy also keeps its input masked, and with
/// `recurrent_dropout=` the state its recurrent product read, masked. Dropout keeps its
/// output, its input's gradient and its mask.
fn activation_bytes(op: &Op, input: Shape, output: Shape) -> u128 {
    let (steps, per_step) = match op {
        Op::Recurrent {
            cell,
            units,
            bidirectional,
            dropout,
            recurrent_dropout,
            ..
        } => {
            let mut tape = u128::from(*units).saturating_mul(cell.gates() + 3);
            // Input dropout keeps the masked input (and its mask, a step's worth).
            if *dropout > 0.0 {
                tape = tape.saturating_add(input.features.into());
            }
            // Recurrent dropout keeps `h_{t-1}` masked (and its mask, a step's worth).
            if *recurrent_dropout > 0.0 {
                tape = tape.saturating_add((*units).into());
            }
            let per_step = match bidirectional {
                Some(_) => tape
                    .saturating_mul(2)
                    .saturating_add(output.features.into())
                    .saturating_add(u128::from(input.features).saturating_mul(3)),
                None => tape,
            };
            (input.steps.unwrap_or(1), per_step)
        }
        // Counted twice below, as every tape is: three buffers are half again as many.
        Op::Dropout { .. } => (
            output.steps.unwrap_or(1),
            u128::from(output.features).saturating_mul(3) / 2 + 1,
        ),
        _ => (output.steps.unwrap_or(1), u128::from(output.features)),
    };
    u128::from(output.batch)
        .saturating_mul(steps.into())
        .saturating_mul(per_step)
        .saturating_mul(2 * F32)
}

/// Each node with the bytes its activations take, from the shape flowing into it.
fn node_activations(graph: &LayerGraph) -> impl Iterator<Item = (&super::Node, u128)> {
    graph.graph.edge_references().map(|edge| {
        let node = &graph.graph[edge.target()];
        (
            node,
            activation_bytes(&node.op, graph.graph[edge.source()].output, node.output),
        )
    })
}

pub fn check(
    spec: &Spec,
    graph: &LayerGraph,
    batch: u64,
    memory: &Memory,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let total = memory.total();
    if total <= MEMORY_LIMIT {
        return;
    }
    let headline = format!(
        "this spec needs about {} to train, more than the {} limit",
        human(total),
        human(MEMORY_LIMIT)
    );
    let parts = format!(
        "parameters and optimizer state {}, activations {}, data {}",
        human(memory.parameters),
        human(memory.activations),
        human(memory.data)
    );
    let diagnostic = if memory.data >= memory.parameters.max(memory.activations) {
        Diagnostic::error(
            headline,
            spec.data.span,
            format!("the data needs {}", human(memory.data)),
        )
        .with_help(format!("{parts}; draw fewer or shorter samples"))
    } else if memory.activations >= memory.parameters {
        // `items` fixes the steps at the longest line's length.
        let fewer = match spec.data.frame.value {
            crate::spec::Frame::Items => "fewer units",
            _ => "fewer units or steps",
        };
        activations_diagnostic(spec, graph, batch, headline).with_help(format!(
            "{parts}; activations grow with the batch: use a smaller `batch=`, or {fewer}"
        ))
    } else {
        parameters_diagnostic(spec, graph, headline).with_help(format!("{parts}; use fewer units"))
    };
    diagnostics.push(diagnostic);
}

/// Activations are one batch's tape: point at the batch that sizes them, and note the layer
/// whose tape is largest.
fn activations_diagnostic(
    spec: &Spec,
    graph: &LayerGraph,
    batch: u64,
    headline: String,
) -> Diagnostic {
    let label = format!("batches of {} samples", group(batch.into()));
    let diagnostic = match &spec.train.batch {
        Some(written) => Diagnostic::error(headline, written.span, label),
        None => Diagnostic::error(
            headline,
            spec.train.span,
            format!("{label}, Keras' default"),
        ),
    };
    match node_activations(graph).max_by_key(|(_, bytes)| *bytes) {
        Some((node, bytes)) => diagnostic.with_note_at(
            node.span,
            format!("{} of activations per batch", human(bytes)),
        ),
        None => diagnostic,
    }
}

fn parameters_diagnostic(spec: &Spec, graph: &LayerGraph, headline: String) -> Diagnostic {
    match graph.chain().into_iter().max_by_key(|node| node.params) {
        Some(node) if node.params > 0 => Diagnostic::error(
            headline,
            node.span,
            format!("{} parameters", group(node.params)),
        ),
        _ => Diagnostic::error(headline, spec.model.name.span, "this model"),
    }
}
