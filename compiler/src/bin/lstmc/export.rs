//! `lstmc export FILE --load W -o model.onnx`: the trained model as an ONNX graph, with what
//! a deployer must repeat (the encoding, the vocabulary, the scaling) in its metadata.

use std::path::Path;

use compiler::onnx::{self, ExportSettings, InputKind};
use compiler::{lower, report};
use runtime::plan::{Plan, SourcePlan};
use runtime::train::Trainer;

use crate::files::{check_writable, same_file, write_atomically};
use crate::run::load_into;
use crate::weights;
use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};

pub fn export(path: &Path, load: &Path, output: &Path) -> u8 {
    let usage = |message: String| {
        eprintln!("error: {message}");
        EXIT_USAGE_OR_IO
    };
    if let Err(message) = check_writable(output) {
        return usage(message);
    }
    if let Some(input) = [path, load]
        .into_iter()
        .find(|input| same_file(input, output))
    {
        return usage(format!(
            "cannot write {}: the export reads it ({})",
            output.display(),
            input.display()
        ));
    }
    let compiled = match read_and_compile(path) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let (spec, checked) = match &compiled.result {
        Ok(result) => result,
        Err(diagnostics) => return report_errors(path, &compiled, diagnostics),
    };
    let mut plan = lower::lower(spec, checked);
    // A random split's scaling is fitted on the part the training seed chose.
    match weights::load_seed(load) {
        Ok(Some(seed)) => plan.train.seed = seed,
        Ok(None) => {}
        Err(message) => return usage(message),
    }
    let mut trainer = Trainer::new(&plan);
    if let Err(message) = load_into(&mut trainer, load) {
        return usage(message);
    }
    let settings = ExportSettings {
        plan: &plan,
        scaler: trainer.scaler(),
        metadata: metadata(&plan, &compiled.text),
    };
    let bytes = onnx::export(&settings, &trainer.model.export());
    match write_atomically(output, &bytes) {
        Ok(()) => 0,
        Err(error) => usage(format!("cannot write {}: {error}", output.display())),
    }
}

/// What a deployer needs to feed the graph and read it: the input's encoding, the symbols
/// each class and one-hot position stand for, lstmc's version and the spec.
fn metadata(plan: &Plan, spec_text: &str) -> Vec<(String, String)> {
    let classes = plan.data.source.classes();
    let symbols: Vec<String> = (0..classes as u32).map(|s| symbol(plan, s)).collect();
    let input = match (onnx::input_kind(plan), &plan.data.source) {
        (InputKind::Ids, _) => format!(
            "int64 [batch, steps]: each step's symbol id, {classes} for a padded step"
        ),
        (_, SourcePlan::Series { inputs, .. }) => {
            let columns: Vec<&str> = inputs.iter().map(|c| c.name.as_str()).collect();
            format!(
                "float [batch, {}, {}]: a window of {} rows of the columns {}, oldest first, in the data's units (the graph scales them)",
                plan.steps,
                plan.features,
                window(plan),
                columns.join(", ")
            )
        }
        _ if plan.data.one_hot && plan.data.as_features => format!(
            "float [batch, 1, {}]: the window's symbols side by side, one-hot each, position p * {classes} + k for symbol k at place p",
            plan.features
        ),
        _ if plan.data.one_hot => format!(
            "float [batch, steps, {}]: one-hot rows, position k for symbol k (from 0, in the order of `symbols`)",
            plan.features
        ),
        _ if plan.data.as_features => format!(
            "float [batch, 1, {}]: the window's symbols side by side, each symbol k (from 0, in the order of `symbols`) as k / {classes}",
            plan.features
        ),
        _ => format!(
            "float [batch, steps, {}]: each symbol k (from 0, in the order of `symbols`) as k / {classes}",
            plan.features
        ),
    };
    let mut pairs = vec![
        ("lstmc_version", env!("CARGO_PKG_VERSION").to_string()),
        ("spec", spec_text.to_string()),
        ("input", input),
    ];
    if classes > 0 {
        pairs.push(("symbols", json_strings(&symbols)));
    }
    pairs.push(("output", output_words(plan)));
    if plan.layers.iter().any(is_stateful) {
        let words = "each stateful layer's initial state is an input `layerN_h` (and `layerN_c`), [1, batch, units], and its final state the output `layerN_h_out` (`layerN_c_out`): feed each call's outputs to the next call's inputs to carry the state as lstmc does; zeros start afresh";
        pairs.push(("state", words.to_string()));
    }
    if onnx::masked(plan) {
        let words =
            "int32 [batch]: each sample's real steps, 1 to steps, its padding after them masked";
        pairs.push(("lengths", words.to_string()));
    }
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Symbol `s` as the data holds it: a text's own character, a letter, an integer.
fn symbol(plan: &Plan, s: u32) -> String {
    match &plan.data.source {
        SourcePlan::Text { vocabulary, .. } | SourcePlan::Lines { vocabulary, .. } => {
            vocabulary[s as usize].to_string()
        }
        source => report::symbol_name(source, s),
    }
}

/// A JSON array of strings, which any language reads back whatever the characters.
fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| serde_json::to_string(item).expect("a string serialises"))
        .collect();
    format!("[{}]", quoted.join(", "))
}
/// The window a series' sample reads, in rows.
fn window(plan: &Plan) -> usize {
    match plan.data.frame {
        runtime::plan::FramePlan::Forecast { window, .. } => window,
        _ => plan.steps,
    }
}

fn is_stateful(layer: &runtime::plan::LayerPlan) -> bool {
    use runtime::plan::LayerPlan;
    matches!(layer, LayerPlan::Lstm(r) | LayerPlan::Gru(r) if r.stateful)
}

/// What the graph's `output` holds.
fn output_words(plan: &Plan) -> String {
    use runtime::plan::Loss;
    match plan.train.loss {
        Loss::CrossEntropy => "the probability of each class, in the order of `symbols` (a softmax), for the sample or for each step".into(),
        Loss::BinaryCrossEntropy => "the probability of class 1 (the second of `symbols`)".into(),
        Loss::Mse | Loss::Mae => "the predicted values in the data's units: each forecast row's target columns in turn".into(),
    }
}
