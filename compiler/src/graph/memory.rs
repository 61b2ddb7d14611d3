//! The memory a spec would need to train, estimated from its shapes and bounded before
//! anything is allocated: a spec is untrusted input.

use petgraph::visit::EdgeRef;

use super::{Framed, LayerGraph, Op, Shape};
use crate::diagnostic::Diagnostic;
use crate::format::{group, human};
use crate::span::Span;
use crate::spec::Spec;

/// The most a spec may ask for: parameters, optimizer state, activations and data.
pub const MEMORY_LIMIT: u128 = 4 << 30;

const F32: u128 = 4;

/// Bytes, by what they hold. Arithmetic saturates: a spec may ask for absurd sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Weights, gradients and Adam's two moments.
    pub parameters: u128,
    /// One batch's forward tape and its gradients.
    pub activations: u128,
    /// The training data and one evaluation draw, at their encoded size (an upper bound: the
    /// runtime keeps symbol indices and encodes one batch at a time).
    pub data: u128,
}

impl Memory {
    pub fn total(&self) -> u128 {
        self.parameters
            .saturating_add(self.activations)
            .saturating_add(self.data)
    }
}

pub fn estimate(graph: &LayerGraph, framed: Framed) -> Memory {
    let parameters = graph.total_params().saturating_mul(4 * F32);
    let activations = node_activations(graph)
        .map(|(_, bytes)| bytes)
        .fold(0, u128::saturating_add);
    let per_sample = u128::from(framed.steps)
        .saturating_mul(framed.features.into())
        .saturating_add(
            u128::from(framed.target_steps.unwrap_or(1)).saturating_mul(framed.classes.into()),
        );
    // Training data and one evaluation draw, each at most this size: every fresh draw reuses
    // the same buffer.
    let data = per_sample
        .saturating_mul(framed.samples.into())
        .saturating_mul(2 * F32);
    Memory {
        parameters,
        activations,
        data,
    }
}

/// A node's share of one batch's tape: its output and gradient; an LSTM also keeps its four
/// gates, cell state and its tanh for every input step.
fn activation_bytes(op: &Op, input: Shape, output: Shape) -> u128 {
    let (steps, per_step) = match op {
        Op::Lstm { units, .. } => (
            input.steps.unwrap_or(1),
            u128::from(*units).saturating_mul(7),
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

pub fn check(spec: &Spec, graph: &LayerGraph, memory: &Memory, diagnostics: &mut Vec<Diagnostic>) {
    let total = memory.total();
    if total <= MEMORY_LIMIT {
        return;
    }
    let (at, what) = largest_part(spec, graph, memory);
    diagnostics.push(
        Diagnostic::error(
            format!("this spec needs about {} to train, more than the {} limit", human(total), human(MEMORY_LIMIT)),
            at,
            what,
        )
        .with_help(format!(
            "parameters and optimizer state {}, activations {}, data {}; make the largest of them smaller",
            human(memory.parameters),
            human(memory.activations),
            human(memory.data)
        )),
    );
}

/// Where to point: the data section, or the layer with the most parameters.
fn largest_part(spec: &Spec, graph: &LayerGraph, memory: &Memory) -> (Span, String) {
    if memory.data >= memory.parameters.max(memory.activations) {
        return (
            spec.data.span,
            format!("the data needs {}", human(memory.data)),
        );
    }
    let biggest = node_activations(graph)
        .max_by_key(|(node, bytes)| node.params.saturating_mul(4 * F32).saturating_add(*bytes));
    match biggest {
        Some((node, _)) => (node.span, format!("{} parameters", group(node.params))),
        None => (spec.model.name.span, "this model".into()),
    }
}
