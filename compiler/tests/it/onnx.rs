//! `lstmc export`: every spec in `specs/` that exports, loaded into tract (a Rust ONNX
//! runtime), predicts what lstmc predicts for the same inputs, to about 1e-5; a stateful
//! model's state carried through the graph's inputs and outputs reads a sequence as lstmc's
//! generation does; the command writes the metadata a deployer needs.

use std::path::Path;

use compiler::onnx::{self, ExportSettings, InputKind};
use compiler::{lower, Compiled};
use prost::Message;
use runtime::data::{Batch, Encoding, PAD};
use runtime::plan::{LayerPlan, Plan, SourcePlan};
use runtime::train::{Score, Trainer};
use tract_onnx::prelude::*;

use crate::{compile_spec, lstm_files, lstmc, repo_root};

/// The spec's plan and an untrained trainer: its initial weights are as good a test of the
/// graph as trained ones, and take no training.
fn trainer(path: &Path) -> (Plan, Trainer) {
    let compiled: Compiled = compile_spec(path);
    let (spec, checked) = compiled.result.expect("a valid spec");
    let plan = lower::lower(&spec, &checked);
    let trainer = Trainer::new(&plan);
    (plan, trainer)
}

fn exported(plan: &Plan, trainer: &Trainer) -> Vec<u8> {
    let settings = ExportSettings {
        plan,
        scaler: trainer.scaler(),
        metadata: Vec::new(),
    };
    onnx::export(&settings, &trainer.model.export())
}

/// The graph's inputs for one sample of symbols, as lstmc's batch encodes it: the input,
/// and its length when the spec masks padding.
fn symbol_inputs(plan: &Plan, symbols: &[u32]) -> Vec<Tensor> {
    let mut inputs = vec![symbol_input(plan, symbols)];
    if onnx::masked(plan) {
        let length = symbols.iter().filter(|&&s| s != PAD).count() as i32;
        inputs.push(tract_ndarray::arr1(&[length]).into());
    }
    inputs
}

fn symbol_input(plan: &Plan, symbols: &[u32]) -> Tensor {
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let mut batch = Batch::new(1, encoding, 1);
    batch.fill_one(symbols, encoding);
    let steps = plan.steps;
    match (onnx::input_kind(plan), encoding.gather) {
        (InputKind::Ids, _) => {
            // A padded step's id is the number of symbols.
            let padded = plan.data.source.classes() as i64;
            let id = |s: u32| if s == PAD { padded } else { i64::from(s) };
            let ids: Vec<i64> = batch.hot.iter().map(|&s| id(s)).collect();
            tract_ndarray::Array2::from_shape_vec((1, steps), ids)
                .unwrap()
                .into()
        }
        (InputKind::Floats, true) => {
            let mut x = vec![0.0_f32; steps * plan.features];
            for (step, &s) in batch.hot.iter().enumerate() {
                x[step * plan.features + s as usize] = 1.0;
            }
            float_input(x, steps, plan.features)
        }
        (InputKind::Floats, false) => float_input(batch.x.clone(), steps, plan.features),
    }
}

fn float_input(x: Vec<f32>, steps: usize, features: usize) -> Tensor {
    tract_ndarray::Array3::from_shape_vec((1, steps, features), x)
        .unwrap()
        .into()
}

/// Zero state for each stateful layer, in the graph's order of inputs: `[1, 1, units]`, an
/// LSTM's h then c, a GRU's h.
fn zero_states(plan: &Plan) -> Vec<Tensor> {
    let mut states = Vec::new();
    for layer in &plan.layers {
        let (settings, count) = match layer {
            LayerPlan::Lstm(r) => (r, 2),
            LayerPlan::Gru(r) => (r, 1),
            _ => continue,
        };
        if settings.stateful {
            for _ in 0..count {
                states.push(Tensor::zero::<f32>(&[1, 1, settings.units]).unwrap());
            }
        }
    }
    states
}

/// Runs the graph on `inputs` and zero state; returns its first output, `output`.
fn run(bytes: &[u8], plan: &Plan, mut inputs: Vec<Tensor>) -> Vec<f32> {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the graph");
    inputs.extend(zero_states(plan));
    for (index, tensor) in inputs.iter().enumerate() {
        let fact = InferenceFact::dt_shape(tensor.datum_type(), tensor.shape());
        model = model.with_input_fact(index, fact).unwrap();
    }
    let runnable = model
        .into_optimized()
        .expect("tract optimises the graph")
        .into_runnable()
        .unwrap();
    let inputs: TVec<TValue> = inputs.into_iter().map(Tensor::into_tvalue).collect();
    let outputs = runnable.run(inputs).expect("tract runs the graph");
    let output = outputs[0].clone().into_tensor();
    let view = output.to_plain_array_view::<f32>().unwrap();
    view.iter().copied().collect()
}

fn assert_close(spec: &str, onnx: &[f32], lstmc: &[f32]) {
    assert_eq!(onnx.len(), lstmc.len(), "{spec}: output sizes");
    for (index, (a, b)) in onnx.iter().zip(lstmc).enumerate() {
        let tolerance = 1e-5 * b.abs().max(1.0);
        assert!(
            (a - b).abs() <= tolerance,
            "{spec}: output {index}: onnx {a}, lstmc {b}"
        );
    }
}

#[test]
fn every_exported_spec_predicts_as_lstmc_does() {
    let mut exported_specs = 0;
    for path in lstm_files(&repo_root().join("specs")) {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (plan, mut trainer) = trainer(&path);
        let bytes = exported(&plan, &trainer);
        exported_specs += 1;
        if let Some(inputs) = text_inputs(&plan) {
            for symbols in inputs {
                let output = run(&bytes, &plan, symbol_inputs(&plan, &symbols));
                let expected = probabilities(&plan, &mut trainer, &symbols);
                assert_close(&name, &output, &expected);
            }
            continue;
        }
        let evaluation = trainer.evaluate();
        for index in 0..evaluation.samples().min(3) {
            let (input, expected) = match evaluation.score {
                Score::Errors(_) => {
                    let sample = evaluation.series_sample(index);
                    let units = unscaled_window(&trainer, sample.input);
                    let input = float_input(units.clone(), plan.steps, plan.features);
                    (vec![input], trainer.predict_values(&units))
                }
                _ => {
                    let symbols = evaluation.sample(index).input.to_vec();
                    (
                        symbol_inputs(&plan, &symbols),
                        probabilities(&plan, &mut trainer, &symbols),
                    )
                }
            };
            let output = run(&bytes, &plan, input);
            assert_close(&name, &output, &expected);
        }
    }
    assert_eq!(exported_specs, lstm_files(&repo_root().join("specs")).len());
}

/// Three inputs of a text's own symbols, without evaluating the whole text: windows of a
/// text, a lines source's first items padded to the steps.
fn text_inputs(plan: &Plan) -> Option<Vec<Vec<u32>>> {
    let steps = plan.steps;
    match &plan.data.source {
        SourcePlan::Text { ids, .. } => {
            Some(ids.chunks(steps).take(3).map(<[u32]>::to_vec).collect())
        }
        SourcePlan::Lines { items, .. } => Some(
            items
                .iter()
                .take(3)
                .map(|item| {
                    let mut symbols: Vec<u32> = item.iter().copied().take(steps).collect();
                    symbols.resize(steps, PAD);
                    symbols
                })
                .collect(),
        ),
        _ => None,
    }
}

/// lstmc's probabilities for one sample, as the graph gives them: binary cross-entropy's
/// probability of class 1 alone.
fn probabilities(plan: &Plan, trainer: &mut Trainer, symbols: &[u32]) -> Vec<f32> {
    let probs = trainer.predict_one(symbols);
    match plan.train.loss {
        runtime::plan::Loss::BinaryCrossEntropy => {
            probs.iter().skip(1).step_by(2).copied().collect()
        }
        _ => probs,
    }
}

/// A series window back in the data's units, as a deployer feeds the graph.
fn unscaled_window(trainer: &Trainer, scaled: &[f32]) -> Vec<f32> {
    let columns = &trainer.scaler().inputs;
    scaled
        .iter()
        .enumerate()
        .map(|(i, &v)| columns[i % columns.len()].undo(v))
        .collect()
}

/// A weight file's and an ONNX file's paths in the temporary folder, named for this test
/// process and `tag`.
fn weights_and_model(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let folder = std::env::temp_dir();
    let id = std::process::id();
    (
        folder.join(format!("lstmc_{id}_{tag}.safetensors")),
        folder.join(format!("lstmc_{id}_{tag}.onnx")),
    )
}

#[test]
fn the_export_command_writes_what_a_deployer_needs() {
    let (weights, output) = weights_and_model("export");
    let (weights_text, output_text) = (weights.to_str().unwrap(), output.to_str().unwrap());
    let spec = "specs/alphabet_varlen_masked.lstm";
    let trained = lstmc(&["run", spec, "--epochs", "1", "--save", weights_text]);
    assert_eq!(trained.status.code(), Some(0));
    let out = lstmc(&["export", spec, "--load", weights_text, "-o", output_text]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&output).unwrap();
    let model = onnx::proto::ModelProto::decode(&bytes[..]).unwrap();
    let keys: Vec<&str> = model
        .metadata_props
        .iter()
        .filter_map(|p| p.key.as_deref())
        .collect();
    assert_eq!(
        keys,
        [
            "lstmc_version",
            "spec",
            "input",
            "symbols",
            "output",
            "lengths"
        ]
    );
    let graph = model.graph.as_ref().unwrap();
    let inputs: Vec<&str> = graph
        .input
        .iter()
        .filter_map(|i| i.name.as_deref())
        .collect();
    assert_eq!(inputs, ["input", "lengths"]);
    let symbols = model
        .metadata_props
        .iter()
        .find(|p| p.key.as_deref() == Some("symbols"));
    let symbols = symbols.and_then(|p| p.value.as_deref()).unwrap();
    assert!(symbols.starts_with(r#"["A", "B", "C""#), "{symbols}");
    // Weights of another spec: the same error as `--load` gives, and nothing written.
    std::fs::remove_file(&output).unwrap();
    let other = "specs/encoder_decoder.lstm";
    let out = lstmc(&["export", other, "--load", weights_text, "-o", output_text]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not fit this spec"), "{stderr}");
    assert!(!output.exists());
    std::fs::remove_file(&weights).unwrap();
}

/// A random split's scaling depends on the seed the weights were trained with, which the
/// export reads from the weight file.
#[test]
fn a_model_trained_with_another_seed_exports() {
    let (weights, output) = weights_and_model("seed");
    let (weights_text, output_text) = (weights.to_str().unwrap(), output.to_str().unwrap());
    let spec = "specs/macro_unemployment.lstm";
    let trained = lstmc(&[
        "run",
        spec,
        "--epochs",
        "1",
        "--seed",
        "7",
        "--save",
        weights_text,
    ]);
    assert_eq!(trained.status.code(), Some(0));
    let out = lstmc(&["export", spec, "--load", weights_text, "-o", output_text]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&output).unwrap();
    std::fs::remove_file(&weights).unwrap();
}
