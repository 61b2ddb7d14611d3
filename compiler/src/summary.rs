//! The summary `lstmc check` prints for a valid spec, in the spirit of Keras'
//! `model.summary()`: each layer with its output shape and parameter count, then totals.

use std::fmt::Write;

use crate::format::{group, human};
use crate::graph::{Checked, Op};
use crate::spec::Spec;

pub fn render(spec: &Spec, checked: &Checked) -> String {
    let framed = checked.framed;
    let mut out = String::new();
    let target = match framed.target_steps {
        Some(steps) => format!("[{steps}, {}]", framed.classes),
        None => format!("[{}]", framed.classes),
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
    let rule = "-".repeat(62);
    writeln!(
        out,
        "{rule}\n{:<32}{:<18}{:>12}\n{rule}",
        "layer", "output shape", "params"
    )
    .unwrap();
    for node in checked.graph.chain() {
        if matches!(node.op, Op::Loss(_)) {
            continue;
        }
        // A layer written longer than its column (`lstm 128 stateful sequences bidirectional
        // merge=ave`) pushes the rest of its line right, still a space apart.
        writeln!(
            out,
            "{:<31} {:<18}{:>12}",
            node.op.to_string(),
            node.output.to_string(),
            group(node.params)
        )
        .unwrap();
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
