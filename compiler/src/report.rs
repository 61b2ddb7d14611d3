//! What `lstmc run` prints after training: the accuracy line, the prediction printouts and
//! the generation demo.

use std::fmt::Write;

use runtime::data::{Affine, Scaler, PAD};
use runtime::plan::{OptimizerPlan, Plan, ShowPlan, SourcePlan};
use runtime::shapes::LayerReport;
use runtime::train::{Best, Evaluation, PartErrors, Score, Trainer};

use crate::format::{group, human};
use crate::graph::{LayerGraph, Op};

/// A symbol as the tutorials print it: a letter, or the integer it stands for.
pub fn symbol_name(source: &SourcePlan, symbol: u32) -> String {
    match source {
        SourcePlan::Alphabet { letters } => letters[symbol as usize].to_string(),
        SourcePlan::RandomInts { lo, .. } => (lo + i64::from(symbol)).to_string(),
        SourcePlan::Text { vocabulary, .. } | SourcePlan::Lines { vocabulary, .. } => {
            vocabulary[symbol as usize].escape_debug().to_string()
        }
        SourcePlan::Series { .. } => unreachable!("a series has values, not symbols"),
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

/// Where early stopping ended: the best epoch, and whether training stopped `patience`
/// epochs after it or ran every epoch; either way it holds the best epoch's weights, as
/// Keras 3's `restore_best_weights` does.
fn early_stop_line(best: &Best, patience: usize) -> String {
    let what = match best.stopped {
        true => format!(
            "stopped after epoch {}, best epoch's weights restored",
            best.epoch + patience
        ),
        false => "ran every epoch, best epoch's weights restored".to_string(),
    };
    format!(
        "early stop: best val loss {:.6} at epoch {} ({what})\n",
        best.val_loss, best.epoch
    )
}

/// `accuracy: 98.90%`, the line scripts read.
pub fn accuracy_line(accuracy: f64) -> String {
    format!("accuracy: {:.2}%", accuracy * 100.0)
}

/// What a run prints when its spec shows nothing: the accuracy, or the root mean squared
/// error of each part.
pub fn score_lines(score: &Score) -> String {
    match score {
        Score::Accuracy(_) => figure_line(&ShowPlan::Accuracy, score),
        Score::Errors(_) => figure_line(&ShowPlan::Rmse, score),
        Score::Language(_) => figure_line(&ShowPlan::Loss, score),
    }
}

/// Every figure the score has, whatever the spec shows: the accuracy; a regression's RMSE
/// and MAE in the data's units; a language model's loss and accuracy on each part.
pub fn all_figures(score: &Score) -> String {
    let items: &[ShowPlan] = match score {
        Score::Accuracy(_) => &[ShowPlan::Accuracy],
        Score::Errors(_) => &[ShowPlan::Rmse, ShowPlan::Mae],
        Score::Language(_) => &[ShowPlan::Loss, ShowPlan::Accuracy],
    };
    items.iter().map(|item| figure_line(item, score)).collect()
}

/// The mean, min and max over several seeds' scores: of the accuracy, or of the last part's
/// root mean squared error.
pub fn spread(scores: &[Score]) -> String {
    let figures: Vec<f64> = scores.iter().map(Score::headline).collect();
    let mean = figures.iter().sum::<f64>() / figures.len() as f64;
    let min = figures.iter().copied().fold(f64::INFINITY, f64::min);
    let max = figures.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    match scores.first() {
        Some(Score::Errors(parts)) => {
            let part = parts.last().map_or("", |p| p.part.name());
            format!("{part} rmse: mean {mean:.4}, min {min:.4}, max {max:.4}")
        }
        Some(Score::Language(parts)) => {
            let part = parts.last().map_or("", |p| p.part.name());
            format!("{part} loss: mean {mean:.4}, min {min:.4}, max {max:.4} nats per character")
        }
        _ => format!(
            "mean {:.2}%, min {:.2}%, max {:.2}%",
            mean * 100.0,
            min * 100.0,
            max * 100.0
        ),
    }
}

/// One figure's line: `accuracy: 98.90%`, or `rmse: train 22.93, test 47.53` in the data's
/// units. The checker shows each figure only for the task that has it.
fn figure_line(item: &ShowPlan, score: &Score) -> String {
    match (item, score) {
        (ShowPlan::Accuracy, Score::Accuracy(accuracy)) => {
            format!("{}\n", accuracy_line(*accuracy))
        }
        (ShowPlan::Accuracy, Score::Language(parts)) => {
            let figures: Vec<String> = parts
                .iter()
                .map(|part| format!("{} {:.2}%", part.part.name(), part.accuracy * 100.0))
                .collect();
            format!("accuracy: {}\n", figures.join(", "))
        }
        (ShowPlan::Loss, Score::Language(parts)) => {
            // Nats per character; bits are nats over ln 2, perplexity e to the nats.
            let figures: Vec<String> = parts
                .iter()
                .map(|part| {
                    format!(
                        "{} {:.4} nats/char ({:.4} bits/char, perplexity {:.2})",
                        part.part.name(),
                        part.loss,
                        part.loss / std::f64::consts::LN_2,
                        part.loss.exp()
                    )
                })
                .collect();
            format!("loss: {}\n", figures.join(", "))
        }
        (ShowPlan::Rmse | ShowPlan::Mae, Score::Errors(parts)) => {
            let (name, pick): (&str, fn(&PartErrors) -> f64) = match item {
                ShowPlan::Rmse => ("rmse", |p| p.rmse),
                _ => ("mae", |p| p.mae),
            };
            let figures: Vec<String> = parts
                .iter()
                .map(|part| format!("{} {:.4}", part.part.name(), pick(part)))
                .collect();
            format!("{name}: {}\n", figures.join(", "))
        }
        _ => unreachable!("the checker shows accuracy for classes and errors for values"),
    }
}

/// One line per shown sample, in the order of `samples`, the same for every framing:
/// `[input] -> [predicted] (expected [target]: right)`, padding left out.
pub fn predictions(plan: &Plan, evaluation: &Evaluation, samples: &[usize]) -> String {
    let names = |symbols: &[u32]| symbol_names(&plan.data.source, symbols).join(", ");
    let mut out = String::new();
    for &index in samples {
        let sample = evaluation.sample(index);
        let verdict = if sample.predicted == sample.target {
            "right"
        } else {
            "wrong"
        };
        writeln!(
            out,
            "[{}] -> [{}] (expected [{}]: {verdict})",
            names(sample.input),
            names(sample.predicted),
            names(sample.target)
        )
        .unwrap();
    }
    out
}

/// One line per shown sample of a series, in the data's units: its part, its input rows
/// (several columns as a tuple a row), the prediction and the target:
/// `test [112, 118] -> [125.3] (expected [132])`.
pub fn series_predictions(evaluation: &Evaluation, scaler: &Scaler, samples: &[usize]) -> String {
    let mut out = String::new();
    for &index in samples {
        let sample = evaluation.series_sample(index);
        writeln!(
            out,
            "{} [{}] -> [{}] (expected [{}])",
            sample.part.name(),
            rows(sample.input, &scaler.inputs),
            rows(sample.predicted, &scaler.targets),
            rows(sample.target, &scaler.targets),
        )
        .unwrap();
    }
    out
}

/// Scaled values, column by column in `columns`' order, back in the data's units: one value
/// a row for one column, a tuple a row for several.
fn rows(values: &[f32], columns: &[Affine]) -> String {
    let shown: Vec<String> = values
        .chunks(columns.len())
        .map(|row| {
            let row: Vec<String> = row
                .iter()
                .zip(columns)
                .map(|(&value, affine)| figure(affine.undo(value)))
                .collect();
            match row.len() {
                1 => row[0].clone(),
                _ => format!("({})", row.join(", ")),
            }
        })
        .collect();
    shown.join(", ")
}

/// A value to four decimals, without trailing zeros: what a scaling undone in f32 can claim.
fn figure(value: f32) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_string(),
        text => text.to_string(),
    }
}

/// Everything `lstmc run` prints after training, in the order the spec's `show` lists it:
/// evaluates the trained model and runs its demonstrations.
pub fn show(plan: &Plan, trainer: &mut Trainer) -> String {
    let evaluation = trainer.evaluate();
    show_evaluated(plan, trainer, &evaluation)
}

/// `show` with the evaluation done: what a run prints after training, and the figures a
/// report shows.
pub fn show_evaluated(plan: &Plan, trainer: &mut Trainer, evaluation: &Evaluation) -> String {
    let mut out = match (trainer.best(), plan.train.early_stop) {
        (Some(best), Some(early)) => early_stop_line(best, early.patience),
        _ => String::new(),
    };
    if plan.show.is_empty() {
        out.push_str(&score_lines(&evaluation.score));
    }
    for item in &plan.show {
        match item {
            ShowPlan::Accuracy | ShowPlan::Rmse | ShowPlan::Mae | ShowPlan::Loss => {
                out.push_str(&figure_line(item, &evaluation.score));
            }
            ShowPlan::Predictions { count, random } => {
                let samples = evaluation.shown_samples(*count, *random, plan.train.seed);
                match evaluation.score {
                    Score::Accuracy(_) | Score::Language(_) => {
                        out.push_str(&predictions(plan, evaluation, &samples))
                    }
                    Score::Errors(_) => {
                        let scaler = trainer.scaler();
                        out.push_str(&series_predictions(evaluation, scaler, &samples));
                    }
                }
            }
            ShowPlan::Generate { from, steps } => {
                let source = &plan.data.source;
                writeln!(out, "generate from {}:", symbol_name(source, *from)).unwrap();
                out.push_str(&generation(plan, &trainer.generate(*from, *steps)));
            }
            ShowPlan::Items { count, request } => {
                let drawn = trainer.sample_items(*count, *request);
                out.push_str(&items_text(&plan.data.source, trainer.items(), &drawn));
            }
            ShowPlan::Sample { prime, request } => {
                let drawn = trainer.sample(prime, *request);
                out.push_str(&sample_text(&plan.data.source, prime, &drawn));
            }
        }
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
        .filter(|node| !matches!(node.op, Op::Input | Op::Loss(_)));
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
        "parameters with gradients{}: {}",
        optimizer_state(&plan.train.optimizer),
        human(4 * parameter_floats as u128)
    )
    .unwrap();
    writeln!(out, "layer buffers: {}", human(4 * buffers as u128)).unwrap();
    out
}

/// What the optimizer keeps beside each parameter, as the `--plan` report names it, from the
/// slots it really keeps (`adam.m`, `adam.v`: " and Adam moments").
fn optimizer_state(optimizer: &OptimizerPlan) -> String {
    let names = optimizer.slot_names();
    let Some((rule, _)) = names.first().and_then(|name| name.split_once('.')) else {
        return String::new();
    };
    let rule = match rule {
        "adam" => "Adam",
        "adamw" => "AdamW",
        "sgd" => "SGD",
        _ => "RMSprop",
    };
    let mut words: Vec<&str> = Vec::new();
    for name in names {
        let word = match name.split_once('.').map_or(*name, |(_, slot)| slot) {
            "m" | "v" => "moments",
            "average_grad" => "average gradient",
            slot => slot,
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    let listed = match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => unreachable!("a rule with slots"),
    };
    format!(" and {rule} {listed}")
}

/// A sample as the text it continues: `sample from "ROMEO:":`, then the prime and what was
/// drawn after it, as written.
pub fn sample_text(source: &SourcePlan, prime: &[u32], drawn: &[u32]) -> String {
    let SourcePlan::Text { vocabulary, .. } = source else {
        unreachable!("the checker samples texts only")
    };
    let text =
        |symbols: &[u32]| -> String { symbols.iter().map(|&s| vocabulary[s as usize]).collect() };
    format!(
        "sample from {:?}:\n{}{}\n",
        text(prime),
        text(prime),
        text(drawn)
    )
}

/// Drawn items, one a line, then how many are new (not a line of the file).
pub fn items_text(source: &SourcePlan, known: &[Vec<u32>], drawn: &[Vec<u32>]) -> String {
    let SourcePlan::Lines { vocabulary, .. } = source else {
        unreachable!("the checker draws items from lines only")
    };
    let known: std::collections::HashSet<&Vec<u32>> = known.iter().collect();
    let mut out = String::new();
    for item in drawn {
        let text: String = item.iter().map(|&s| vocabulary[s as usize]).collect();
        writeln!(out, "{text}").unwrap();
    }
    let new = drawn.iter().filter(|item| !known.contains(item)).count();
    writeln!(
        out,
        "new: {new} of {} ({:.1}%) are not lines of the file",
        drawn.len(),
        100.0 * new as f64 / drawn.len().max(1) as f64
    )
    .unwrap();
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
