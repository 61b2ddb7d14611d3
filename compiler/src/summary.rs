//! The summary `lstmc check` prints for a valid spec, in the spirit of Keras'
//! `model.summary()`: each layer with its output shape and parameter count, then totals.

use std::fmt::Write;

use crate::format::{group, human};
use crate::graph::{Checked, Op};
use crate::spec::{Loss, Spec};

pub fn render(spec: &Spec, checked: &Checked) -> String {
    let framed = checked.framed;
    let mut out = String::new();
    // Binary cross-entropy's output is one probability for its two classes.
    let width = match spec.train.loss.value {
        Loss::BinaryCrossEntropy => 1,
        _ => framed.classes,
    };
    let target = match framed.target_steps {
        Some(steps) => format!("[{steps}, {width}]"),
        None => format!("[{width}]"),
    };
    writeln!(
        out,
        "model {}: {} sample{} of [{}, {}] -> {target}, batch {}",
        spec.model.name.value,
        framed.samples,
        if framed.samples == 1 { "" } else { "s" },
        framed.steps,
        framed.features,
        checked.batch
    )
    .unwrap();
    let rows: Vec<[String; 3]> = checked
        .graph
        .chain()
        .into_iter()
        .filter(|node| !matches!(node.op, Op::Loss(_)))
        .map(|node| {
            [
                node.op.to_string(),
                node.output.to_string(),
                group(node.params),
            ]
        })
        .collect();
    // A layer written longer than the column (`lstm 128 stateful sequences bidirectional
    // merge=ave`) widens it for every line, so that the shapes and counts stay aligned.
    let width = rows
        .iter()
        .map(|[layer, ..]| layer.chars().count())
        .fold(31, usize::max);
    let rule = "-".repeat(width + 31);
    writeln!(
        out,
        "{rule}\n{:<w$}{:<18}{:>12}\n{rule}",
        "layer",
        "output shape",
        "params",
        w = width + 1
    )
    .unwrap();
    for [layer, output, params] in &rows {
        writeln!(out, "{layer:<width$} {output:<18}{params:>12}").unwrap();
    }
    writeln!(out, "{rule}").unwrap();
    writeln!(out, "total params: {}", group(checked.graph.total_params())).unwrap();
    writeln!(
        out,
        "memory to train: about {}",
        human(checked.memory.total())
    )
    .unwrap();
    out
}
