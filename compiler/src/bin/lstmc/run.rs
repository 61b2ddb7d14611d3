//! `lstmc run`: compile, lower, train with progress, evaluate, print; or several seeds at
//! once; and the per-epoch CSV log.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};

use compiler::{lower, report};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use runtime::plan::{Plan, ShowPlan};
use runtime::train::{EpochStats, NotFinite, Trainer};

use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};

const EXIT_NOT_FINITE: u8 = 3;

pub struct Options {
    pub seed: Option<u64>,
    pub epochs: Option<usize>,
    pub seeds: Option<u64>,
    pub log: Option<PathBuf>,
}

pub fn run(path: &Path, options: &Options) -> u8 {
    let compiled = match read_and_compile(path) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let mut plan = match &compiled.result {
        Ok((spec, checked)) => lower::lower(spec, checked),
        Err(diagnostics) => return report_errors(path, &compiled, diagnostics),
    };
    plan.train.seed = options.seed.unwrap_or(plan.train.seed);
    plan.train.epochs = options.epochs.unwrap_or(plan.train.epochs);
    match options.seeds {
        Some(count) => run_seeds(&plan, count),
        None => run_one(&plan, options.log.as_deref()),
    }
}

fn run_one(plan: &Plan, log: Option<&Path>) -> u8 {
    let mut trainer = Trainer::new(plan);
    let mut progress = Progress::new(plan.train.epochs);
    let mut history = Vec::with_capacity(if log.is_some() { plan.train.epochs } else { 0 });
    let trained = trainer.train(|stats| {
        progress.epoch(stats);
        if log.is_some() {
            history.push(stats);
        }
    });
    progress.finish();
    if let Some(log) = log {
        if let Err(error) = write_atomically(log, &csv(&history)) {
            eprintln!("error: cannot write the log {}: {error}", log.display());
            return EXIT_USAGE_OR_IO;
        }
    }
    if let Err(not_finite) = trained {
        return diverged(not_finite);
    }
    show(plan, &mut trainer);
    0
}

fn diverged(not_finite: NotFinite) -> u8 {
    eprintln!("error: {not_finite}; lower the learning rate or check the data");
    EXIT_NOT_FINITE
}

/// Trains `count` models on rayon's threads, seeds `seed..seed + count`, and prints each
/// accuracy in seed order, then the spread.
fn run_seeds(plan: &Plan, count: u64) -> u8 {
    let first = plan.train.seed;
    let results: Vec<(u64, Result<f64, NotFinite>)> = (first..first.saturating_add(count))
        .into_par_iter()
        .map(|seed| {
            let mut plan = plan.clone();
            plan.train.seed = seed;
            let mut trainer = Trainer::new(&plan);
            (
                seed,
                trainer.train(|_| {}).map(|()| trainer.evaluate().accuracy),
            )
        })
        .collect();
    let mut accuracies = Vec::new();
    for (seed, result) in results {
        match result {
            Ok(accuracy) => {
                println!("seed {seed}: {}", report::accuracy_line(accuracy));
                accuracies.push(accuracy);
            }
            Err(not_finite) => eprintln!("seed {seed}: error: {not_finite}"),
        }
    }
    if accuracies.len() < count as usize {
        return EXIT_NOT_FINITE;
    }
    let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
    let min = accuracies.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = accuracies.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "mean {:.2}%, min {:.2}%, max {:.2}%",
        mean * 100.0,
        min * 100.0,
        max * 100.0
    );
    0
}

/// Prints what the spec's `show` asks for; the accuracy line also when it has no `show`.
fn show(plan: &Plan, trainer: &mut Trainer) {
    let evaluation = trainer.evaluate();
    if plan.show.is_empty() {
        println!("{}", report::accuracy_line(evaluation.accuracy));
    }
    for item in &plan.show {
        match *item {
            ShowPlan::Accuracy => println!("{}", report::accuracy_line(evaluation.accuracy)),
            ShowPlan::Predictions { count, random } => {
                let samples = evaluation.shown_samples(count, random, plan.train.seed);
                print!("{}", report::predictions(plan, &evaluation, &samples));
            }
            ShowPlan::Generate { from, steps } => {
                println!(
                    "generate from {}:",
                    report::symbol_name(&plan.data.source, from)
                );
                print!(
                    "{}",
                    report::generation(plan, &trainer.generate(from, steps))
                );
            }
        }
    }
}

/// A progress bar on a terminal; a line every tenth of the epochs otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    epochs: usize,
}

impl Progress {
    fn new(epochs: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg} {per_sec}")
                .expect("a valid template");
            ProgressBar::with_draw_target(Some(epochs as u64), ProgressDrawTarget::stderr())
                .with_style(style)
        });
        Progress { bar, epochs }
    }

    fn epoch(&mut self, stats: EpochStats) {
        let figures = format!(
            "loss {:.4}, accuracy {:.2}%",
            stats.loss,
            stats.accuracy * 100.0
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(stats.epoch as u64);
                bar.set_message(figures);
            }
            None if stats.epoch.is_multiple_of((self.epochs / 10).max(1))
                || stats.epoch == self.epochs =>
            {
                eprintln!("epoch {}/{}: {figures}", stats.epoch, self.epochs);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn csv(history: &[EpochStats]) -> String {
    let mut out = String::from("epoch,loss,accuracy,seconds\n");
    for stats in history {
        writeln!(
            out,
            "{},{},{},{}",
            stats.epoch, stats.loss, stats.accuracy, stats.seconds
        )
        .unwrap();
    }
    out
}

/// Writes through a temporary file in the same folder, synced, then renamed over `path`: a
/// killed run leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let temporary = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
