//! What `lstmc run` prints after training: the accuracy line, the prediction printouts and
//! the generation demo, in the tutorials' formats.

use std::fmt::Write;

use runtime::data::PAD;
use runtime::model::LayerReport;
use runtime::plan::{FramePlan, Plan, SourcePlan};
use runtime::train::Evaluation;

use crate::format::{group, human};
use crate::graph::{LayerGraph, Op};

/// A symbol as the tutorials print it: a letter, or the integer it stands for.
pub fn symbol_name(source: &SourcePlan, symbol: u32) -> String {
    match source {
        SourcePlan::Alphabet { letters } => letters[symbol as usize].to_string(),
        SourcePlan::RandomInts { lo, .. } => (lo + i64::from(symbol)).to_string(),
    }
}

/// The symbols of a sample as the tutorials print them, padding left out.
pub fn symbol_names(source: &SourcePlan, symbols: &[u32]) -> Vec<String> {
    symbols
        .iter()
        .filter(|&&s| s != PAD)
        .map(|&s| symbol_name(source, s))
        .collect()
}

/// `accuracy: 98.90%`, the line scripts read.
pub fn accuracy_line(accuracy: f64) -> String {
    format!("accuracy: {:.2}%", accuracy * 100.0)
}

/// One line (three for index recall) per shown sample, in the order of `samples`.
pub fn predictions(plan: &Plan, evaluation: &Evaluation, samples: &[usize]) -> String {
    let source = &plan.data.source;
    let names = |symbols: &[u32]| symbol_names(source, symbols);
    let data = &evaluation.data;
    let steps = data.target_steps;
    let mut out = String::new();
    for &sample in samples {
        let input = names(data.input(sample));
        let expected = names(data.target(sample));
        let predicted = names(&evaluation.predicted[sample * steps..(sample + 1) * steps]);
        match plan.data.frame {
            FramePlan::Lag { .. } => writeln!(
                out,
                "Expected: [{}] Predicted [{}]",
                expected.join(", "),
                predicted.join(", ")
            ),
            FramePlan::Pick { .. } => writeln!(
                out,
                "Sequence: [[{}]]\nExpected: [{}]\nPredicted: [{}]",
                input.join(", "),
                expected.join(", "),
                predicted.join(", ")
            ),
            FramePlan::Windows { .. } | FramePlan::Runs { .. } => {
                let quoted: Vec<String> = input.iter().map(|s| format!("'{s}'")).collect();
                writeln!(out, "[{}] -> {}", quoted.join(", "), predicted.join(""))
            }
        }
        .unwrap();
    }
    out
}

/// The lowered plan, for `lstmc check --plan`: each layer's kernel calls and the memory its
/// buffers hold at the training batch size, then the totals.
pub fn plan(
    plan: &Plan,
    graph: &LayerGraph,
    layers: &[LayerReport],
    parameter_floats: usize,
) -> String {
    let mut out = String::new();
    let fresh = if plan.data.fresh {
        ", fresh data each epoch"
    } else {
        ""
    };
    writeln!(
        out,
        "plan {}: batch {}, {} epochs{fresh}",
        plan.name, plan.train.batch, plan.train.epochs
    )
    .unwrap();
    let names = graph
        .chain()
        .into_iter()
        .filter(|node| !matches!(node.op, Op::Input | Op::CrossEntropy));
    for (index, (node, report)) in names.zip(layers).enumerate() {
        writeln!(out, "layer {}: {}", index + 1, node.op).unwrap();
        for op in &report.ops {
            writeln!(out, "  {op}").unwrap();
        }
        if report.floats > 0 {
            writeln!(
                out,
                "  buffers: {} floats, {}",
                group(report.floats as u128),
                human(4 * report.floats as u128)
            )
            .unwrap();
        }
    }
    let buffers: usize = layers.iter().map(|l| l.floats).sum();
    writeln!(
        out,
        "parameters with gradients and Adam moments: {}",
        human(4 * parameter_floats as u128)
    )
    .unwrap();
    writeln!(out, "layer buffers: {}", human(4 * buffers as u128)).unwrap();
    out
}

/// `A -> B` per generated step.
pub fn generation(plan: &Plan, pairs: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(input, output) in pairs {
        let source = &plan.data.source;
        writeln!(
            out,
            "{} -> {}",
            symbol_name(source, input),
            symbol_name(source, output)
        )
        .unwrap();
    }
    out
}
