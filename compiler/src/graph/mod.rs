//! The layer graph: nodes for the input, each layer and the loss, each node holding the
//! shape `[B, T, F]` (or `[B, F]`) it outputs, and every shape check. An edge carries its
//! source's output; it holds no shape of its own, so the two cannot disagree.
//!
//! `check` infers shapes through the graph and checks them against the data framing, the
//! encoding and the training settings, collecting every independent error. It allocates
//! nothing in proportion to the sizes a spec asks for: sizes are untrusted input, and the
//! memory they would need is estimated and bounded before anything runs.

mod dot;
mod framing;
mod memory;
mod shapes;
mod task;
mod training;

use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};

pub use dot::to_dot;
pub use framing::{sample_rows, split_counts, stream_chunks, Framed};
pub use memory::{Memory, MEMORY_LIMIT};

use crate::diagnostic::Diagnostic;
use crate::load::{Lines, Series, Text};
use crate::span::Span;
use crate::spec::{Activation, Batch, Cell, EvalOn, Loss, Merge, Spec, DEFAULT_BATCH};

/// A spec that passed every check, with its graph and the sizes derived from it.
#[derive(Clone, Debug)]
pub struct Checked {
    pub graph: LayerGraph,
    pub framed: Framed,
    pub batch: u64,
    pub memory: Memory,
    /// A csv source's columns, as read and with missing cells handled.
    pub series: Option<Series>,
    /// A text source's characters and vocabulary.
    pub text: Option<Text>,
    /// A lines source's items and vocabulary.
    pub lines: Option<Lines>,
}

/// A linear chain today (Keras `Sequential`), kept as a graph so that plans and the DOT
/// view walk edges rather than assume a list.
#[derive(Clone, Debug)]
pub struct LayerGraph {
    pub graph: DiGraph<Node, ()>,
    pub input: NodeIndex,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// What in the spec this node comes from.
    pub span: Span,
    /// Trainable parameters, in Keras' count (one bias per LSTM gate).
    pub params: u128,
    pub output: Shape,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Input,
    Recurrent {
        cell: Cell,
        units: u64,
        stateful: bool,
        sequences: bool,
        /// Keras' `Bidirectional(merge_mode=)`: two copies of the cell, merged so.
        bidirectional: Option<Merge>,
        /// Keras' `dropout=` and `recurrent_dropout=`; 0 for none.
        dropout: f64,
        recurrent_dropout: f64,
    },
    Embedding {
        units: u64,
    },
    Dropout {
        rate: f64,
    },
    Repeat {
        times: u64,
    },
    Dense {
        units: u64,
        activation: Option<Activation>,
        per_step: bool,
    },
    /// What training minimises, reading the last layer's output.
    Loss(Loss),
}

/// `[batch, steps, features]`, or `[batch, features]` when `steps` is `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub batch: u64,
    pub steps: Option<u64>,
    pub features: u64,
}

impl LayerGraph {
    /// The nodes from input to loss.
    pub fn chain(&self) -> Vec<&Node> {
        let mut nodes = vec![&self.graph[self.input]];
        let mut at = self.input;
        while let Some(next) = self.graph.neighbors(at).next() {
            nodes.push(&self.graph[next]);
            at = next;
        }
        nodes
    }

    pub fn total_params(&self) -> u128 {
        self.graph.node_weights().map(|node| node.params).sum()
    }
}

/// Runs every shape and consistency check on a resolved spec.
pub fn check(
    spec: &Spec,
    series: Option<Series>,
    text: Option<Text>,
    lines: Option<Lines>,
) -> (Option<Checked>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let loaded = framing::Loaded {
        series: series.as_ref(),
        text: text.as_ref(),
        lines: lines.as_ref(),
        batch: spec.train.batch.as_ref(),
    };
    let framed = framing::frame(&spec.data, loaded)
        .map_err(|d| diagnostics.extend(d))
        .ok();
    let batch = batch_size(spec, framed);
    let before = diagnostics.len();
    let targets = framed.map_or(shapes::Targets::Unknown, |f| {
        f.target_steps
            .map_or(shapes::Targets::One, shapes::Targets::Steps)
    });
    let graph = shapes::build(spec, batch, targets, &mut diagnostics);
    // A layer that received the wrong rank was taken as declared, so the output's steps
    // follow from that mistake and are not checked again; nor is the last layer read as
    // the output (its activation, its kind), since the layers are out of order.
    let ranks_hold = diagnostics.len() == before;
    if let Some(framed) = framed {
        shapes::check_against_data(spec, &graph, framed, ranks_hold, &mut diagnostics);
        training::check_batch(spec, framed, &mut diagnostics);
    }
    task::check(spec, ranks_hold, &mut diagnostics);
    task::check_streams(spec, ranks_hold, &mut diagnostics);
    task::check_items(spec, &mut diagnostics);
    if let Some(text) = &text {
        task::check_sample_prime(spec, &text.vocabulary, &mut diagnostics);
    }
    shapes::check_softmax(spec, ranks_hold, &mut diagnostics);
    shapes::check_repeat_feeds_lstm(spec, framed, &mut diagnostics);
    framing::check_fresh(spec, &mut diagnostics);
    training::check_show(spec, framed, &mut diagnostics);
    let eval_draws = match spec.eval.on.value {
        EvalOn::Train => 1,
        EvalOn::Fresh { draws } => draws,
    };
    let optimizer = &spec.train.optimizer.value;
    let memory = framed.map(|framed| memory::estimate(&graph, framed, eval_draws, optimizer));
    if let Some(memory) = &memory {
        memory::check(spec, &graph, batch, memory, &mut diagnostics);
    }
    let checked = match (framed, memory) {
        (Some(framed), Some(memory)) if diagnostics.is_empty() => Some(Checked {
            graph,
            framed,
            batch,
            memory,
            series,
            text,
            lines,
        }),
        _ => None,
    };
    (checked, diagnostics)
}

/// The rows a batch holds: as written (Keras' 32 if unset), the whole data set for `all`,
/// and never more than the samples, as Keras cuts a batch larger than the data.
fn batch_size(spec: &Spec, framed: Option<Framed>) -> u64 {
    let samples = framed.map(|f| f.samples);
    let written = match spec.train.batch.as_ref().map(|b| b.value) {
        Some(Batch::Size(n)) => n,
        Some(Batch::All) => samples.unwrap_or(1),
        None => DEFAULT_BATCH,
    };
    samples.map_or(written, |samples| written.min(samples))
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.steps {
            Some(steps) => write!(f, "[{}, {}, {}]", self.batch, steps, self.features),
            None => write!(f, "[{}, {}]", self.batch, self.features),
        }
    }
}

impl fmt::Display for Op {
    /// The layer as it is written in a spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Input => write!(f, "input"),
            Op::Recurrent {
                cell,
                units,
                stateful,
                sequences,
                bidirectional,
                dropout,
                recurrent_dropout,
            } => {
                write!(
                    f,
                    "{} {units}{}{}",
                    cell.keyword(),
                    flag(*stateful, " stateful"),
                    flag(*sequences, " sequences")
                )?;
                match bidirectional {
                    Some(Merge::Concat) => write!(f, " bidirectional")?,
                    Some(merge) => write!(f, " bidirectional merge={}", merge.keyword())?,
                    None => {}
                }
                if *dropout > 0.0 {
                    write!(f, " dropout={dropout}")?;
                }
                if *recurrent_dropout > 0.0 {
                    write!(f, " recurrent_dropout={recurrent_dropout}")?;
                }
                Ok(())
            }
            Op::Embedding { units } => write!(f, "embedding {units}"),
            Op::Dropout { rate } => write!(f, "dropout {rate}"),
            Op::Repeat { times } => write!(f, "repeat {times}"),
            Op::Dense {
                units,
                activation,
                per_step,
            } => {
                write!(f, "dense {units}")?;
                if let Some(activation) = activation {
                    write!(f, " {}", activation.keyword())?;
                }
                write!(f, "{}", flag(*per_step, " per_step"))
            }
            Op::Loss(Loss::CrossEntropy) => write!(f, "crossentropy"),
            Op::Loss(Loss::Mse) => write!(f, "mse"),
            Op::Loss(Loss::Mae) => write!(f, "mae"),
            Op::Loss(Loss::BinaryCrossEntropy) => write!(f, "binary_crossentropy"),
        }
    }
}

fn flag(set: bool, text: &str) -> &str {
    if set {
        text
    } else {
        ""
    }
}
