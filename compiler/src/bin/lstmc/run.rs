//! `lstmc run`: compile, lower, train with progress, evaluate, print; or several seeds at
//! once; and the per-epoch CSV log.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use compiler::{lower, page, report, summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use runtime::plan::Plan;
use runtime::train::{EpochStats, NotFinite, Score, Trainer};

use crate::files::{check_writable, same_file, write_atomically};
use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};
use crate::{trace, weights};

const EXIT_NOT_FINITE: u8 = 3;

/// `--seeds` is for a look at the spread of accuracy over seeds: a thousand runs of the
/// encoder-decoder already take hours on one core, and counts far beyond would run for years.
const MAX_SEEDS: u64 = 1000;

/// `lstmc run`'s options, parsed by clap from the command line. The numbers take negative
/// values so that clap names the option a `-1` was given to, not an unknown argument `-1`.
#[derive(clap::Args)]
pub struct Options {
    /// Use this seed instead of the spec's.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// Train for this many epochs instead of the spec's; 0, with --load, only evaluates.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Train K models (1 to 1000) with seeds seed, seed+1, ... in parallel and print each
    /// accuracy with the mean, min and max.
    #[arg(long, value_name = "K", conflicts_with = "log", allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(1..=MAX_SEEDS))]
    pub seeds: Option<u64>,
    /// Write one CSV row per epoch (epoch, loss, accuracy, seconds) to this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the trained weights to this safetensors file (PyTorch names and layouts).
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    pub save: Option<PathBuf>,
    /// Start from the weights in this safetensors file, and from its training state when
    /// the `.state` sidecar a checkpoint writes is beside it; with `--epochs 0`, evaluate only.
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    pub load: Option<PathBuf>,
    /// Write a self-contained HTML page of the run to this file: the training curves, a
    /// confusion matrix or the series with its predictions, and the recurrent layers' state
    /// over a few evaluated samples and every generation.
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    pub report: Option<PathBuf>,
    /// Write the recurrent state a report records to this file: `.csv` (one row a value) or
    /// `.safetensors` (a `[steps, units]` tensor a signal).
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    pub trace: Option<PathBuf>,
    /// Run on N threads (1 to 1024); by default `RAYON_NUM_THREADS`, or else one per core.
    /// The numbers are the same bits with any count.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// Write a checkpoint (weights and sidecar) to the `--save` file every N epochs.
    #[arg(long, value_name = "N", requires = "save", allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
}

/// The files a run writes can be written, are not one another, and are none of the files
/// it reads: found before training, not after it.
fn check_outputs(spec: &Path, options: &Options) -> Result<(), String> {
    let sidecar = options.save.as_deref().map(weights::state_path);
    let outputs = [
        options.save.as_deref(),
        sidecar.as_deref(),
        options.log.as_deref(),
        options.report.as_deref(),
        options.trace.as_deref(),
    ];
    let outputs: Vec<&Path> = outputs.into_iter().flatten().collect();
    let load_sidecar = options.load.as_deref().map(weights::state_path);
    let inputs = [Some(spec), options.load.as_deref(), load_sidecar.as_deref()];
    let inputs: Vec<&Path> = inputs.into_iter().flatten().collect();
    // Saving over the checkpoint a run resumed from updates it, sidecar and all.
    let updates = |input: &Path, output: &Path| {
        let pairs = [
            (options.load.as_deref(), options.save.as_deref()),
            (load_sidecar.as_deref(), sidecar.as_deref()),
        ];
        pairs
            .iter()
            .any(|&(from, to)| from == Some(input) && to == Some(output))
    };
    for (index, path) in outputs.iter().enumerate() {
        check_writable(path)?;
        if outputs[..index].iter().any(|other| same_file(other, path)) {
            return Err(format!(
                "{} is named for two outputs; each would overwrite the other",
                path.display()
            ));
        }
        if let Some(input) = inputs
            .iter()
            .find(|input| same_file(input, path) && !updates(input, path))
        {
            return Err(format!(
                "cannot write {}: this run reads it ({})",
                path.display(),
                input.display()
            ));
        }
    }
    if let Some(path) = &options.trace {
        trace::check_name(path)?;
    }
    Ok(())
}

pub fn run(path: &Path, options: &Options) -> u8 {
    // The whole run inside the pool: a product spread from one of its workers starts on that
    // worker at once while the others steal, where one spread from outside waits for a
    // sleeping worker to wake, at every call. Everything the run spreads (products, cell
    // passes, seeds) goes through rayon, so `install` covers it all. 0 threads is rayon's
    // default: `RAYON_NUM_THREADS`, or one a core.
    let threads = options.threads.unwrap_or(0);
    match runtime::threads::pool(threads as usize) {
        Ok(pool) => pool.install(|| run_here(path, options)),
        Err(error) => usage_error(format!("cannot start {threads} threads: {error}")),
    }
}

fn run_here(path: &Path, options: &Options) -> u8 {
    if let Err(message) = check_outputs(path, options) {
        return usage_error(message);
    }
    if options.epochs == Some(0) && options.load.is_none() {
        return usage_error(
            "--epochs 0 trains nothing; it evaluates the weights of --load, so it needs --load"
                .to_string(),
        );
    }
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
        Some(count) => match seed_range(plan.train.seed, count) {
            Ok(seeds) => run_seeds(&plan, seeds),
            Err(message) => usage_error(message),
        },
        None => {
            let summary = match &compiled.result {
                Ok((spec, checked)) => summary::render(spec, checked),
                Err(_) => unreachable!("lowered above"),
            };
            run_one(&plan, options, &compiled.text, &summary)
        }
    }
}

fn run_one(plan: &Plan, options: &Options, spec_text: &str, summary: &str) -> u8 {
    let (mut trainer, history) = match train_and_save(plan, options, spec_text) {
        Ok(trained) => trained,
        Err(code) => return code,
    };
    let recording = options.report.is_some() || options.trace.is_some();
    if recording {
        trainer.record_state();
    }
    let evaluation = trainer.evaluate();
    let shown = report::show_evaluated(plan, &mut trainer, &evaluation);
    print!("{shown}");
    if !recording {
        return 0;
    }
    let traces = trainer.recorded();
    if let Some(path) = &options.trace {
        let signals = page::traced_signals(plan, &traces);
        if let Err(message) = trace::write(path, &signals) {
            return usage_error(message);
        }
    }
    let Some(path) = &options.report else {
        return 0;
    };
    let record = page::RunRecord {
        spec_text,
        summary,
        plan,
        history: &history,
        best: trainer.best().map(|best| best.epoch),
        evaluation: &evaluation,
        shown: &shown,
        traces: &traces,
        scaler: trainer.scaler(),
    };
    let written = page::render(&record).and_then(|html| {
        write_atomically(path, html.as_bytes()).map_err(|error| error.to_string())
    });
    match written {
        Ok(()) => 0,
        Err(error) => usage_error(format!(
            "cannot write the report {}: {error}",
            path.display()
        )),
    }
}

/// Loads, trains epoch by epoch with progress, log and checkpoints, and saves; or gives the
/// exit code of what went wrong. Returns the trainer and each epoch's figures.
fn train_and_save(
    plan: &Plan,
    options: &Options,
    spec_text: &str,
) -> Result<(Trainer, Vec<EpochStats>), u8> {
    let mut trainer = Trainer::new(plan);
    if let Some(path) = &options.load {
        load_checkpoint(&mut trainer, path).map_err(usage_error)?;
    }
    let mut progress = Progress::new(plan.train.epochs);
    let mut history = Vec::new();
    let mut trained = Ok(());
    while let Some(result) = trainer.next_epoch() {
        let stats = match result {
            Ok(stats) => stats,
            Err(not_finite) => {
                trained = Err(not_finite);
                break;
            }
        };
        progress.epoch(stats);
        history.push(stats);
        if let (Some(every), Some(path)) = (options.checkpoint_every, &options.save) {
            if stats.epoch.is_multiple_of(every as usize) {
                weights::save_checkpoint(path, &trainer, spec_text).map_err(usage_error)?;
            }
        }
    }
    progress.finish();
    if let Some(log) = &options.log {
        write_atomically(log, csv(&history).as_bytes()).map_err(|error| {
            usage_error(format!("cannot write the log {}: {error}", log.display()))
        })?;
    }
    trained.map_err(diverged)?;
    if let Some(path) = &options.save {
        weights::save_checkpoint(path, &trainer, spec_text).map_err(usage_error)?;
    }
    Ok((trainer, history))
}

fn usage_error(message: String) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE_OR_IO
}

/// The weights, and the training state when the file is a checkpoint with its sidecar.
fn load_checkpoint(trainer: &mut Trainer, path: &Path) -> Result<(), String> {
    load_into(trainer, path)?;
    if let Some(state) = weights::load_state(path)? {
        trainer
            .resume(state)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        // `--epochs 0` asks to evaluate; a plan of more epochs expected some training.
        let (done, planned) = trainer.epochs();
        let stopped = trainer.best().is_some_and(|best| best.stopped);
        let why = match stopped {
            true => "early stopping ended the run that saved it".to_string(),
            false => format!("{planned} epochs were asked for"),
        };
        if planned > 0 && (done >= planned || stopped) {
            eprintln!(
                "note: {} is a checkpoint at epoch {done}, and {why}: nothing is left to \
                 train; the weights are evaluated",
                path.display()
            );
        }
    }
    Ok(())
}

/// The first character one vocabulary has and the other lacks, in words.
fn vocabulary_difference(saved: &[char], spec: &[char]) -> String {
    let only_saved = saved.iter().find(|c| !spec.contains(c));
    let only_spec = spec.iter().find(|c| !saved.contains(c));
    match (only_saved, only_spec) {
        (Some(c), _) => format!("its text holds {c:?}, which this spec's does not"),
        (None, Some(c)) => format!("this spec's text holds {c:?}, which its text does not"),
        (None, None) => "the characters are the same but in another order".to_string(),
    }
}

/// Replaces the trainer's initial weights with a file's, checked against the spec's shapes.
pub fn load_into(trainer: &mut Trainer, path: &Path) -> Result<(), String> {
    let saved_seed = weights::load_seed(path)?;
    if let Some(seed) =
        saved_seed.filter(|&s| s != trainer.seed() && trainer.split_depends_on_seed())
    {
        return Err(format!(
            "{} was trained with seed {seed}, which chose its random split: give `--seed {seed}` so that its test part is the same",
            path.display()
        ));
    }
    // The vocabulary first: another text's weights may well fit the shapes by chance.
    if let (Some(saved), Some(spec)) = (weights::load_vocabulary(path)?, trainer.vocabulary()) {
        if saved != spec {
            return Err(format!(
                "{} was trained on another text: {}; its symbols would mean other characters",
                path.display(),
                vocabulary_difference(&saved, spec)
            ));
        }
    }
    let tensors = weights::load(path)?;
    trainer
        .model
        .import(&tensors)
        .map_err(|error| format!("{} does not fit this spec: {error}", path.display()))?;
    // Weights from elsewhere (PyTorch) have no scaling, and take the spec's.
    match weights::load_scaler(path)? {
        Some(scaler) => trainer
            .check_scaler(&scaler)
            .map_err(|error| format!("{}: {error}", path.display())),
        None => Ok(()),
    }
}

fn diverged(not_finite: NotFinite) -> u8 {
    eprintln!("error: {not_finite}; lower the learning rate or check the data");
    EXIT_NOT_FINITE
}

/// The `count` seeds from `first` on, or why they do not all fit in a u64.
fn seed_range(first: u64, count: u64) -> Result<RangeInclusive<u64>, String> {
    let last = first.checked_add(count - 1).ok_or_else(|| {
        format!(
            "--seeds {count} from seed {first} runs past the largest seed, {}",
            u64::MAX
        )
    })?;
    Ok(first..=last)
}

/// Trains a model for each seed on rayon's threads, and prints each score in seed order,
/// then the spread of the accuracy (or of the last part's root mean squared error).
fn run_seeds(plan: &Plan, seeds: RangeInclusive<u64>) -> u8 {
    let results: Vec<(u64, Result<Score, NotFinite>)> = seeds
        .into_par_iter()
        .map(|seed| {
            let mut plan = plan.clone();
            plan.train.seed = seed;
            let mut trainer = Trainer::new(&plan);
            (
                seed,
                trainer.train(|_| {}).map(|()| trainer.evaluate().score),
            )
        })
        .collect();
    let count = results.len();
    let mut scores = Vec::new();
    for (seed, result) in results {
        match result {
            Ok(score) => {
                print!("seed {seed}: {}", report::score_lines(&score));
                scores.push(score);
            }
            Err(not_finite) => eprintln!("seed {seed}: error: {not_finite}"),
        }
    }
    if scores.len() < count {
        return EXIT_NOT_FINITE;
    }
    println!("{}", report::spread(&scores));
    0
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
        let mut figures = match stats.accuracy {
            Some(accuracy) => format!("loss {:.4}, accuracy {:.2}%", stats.loss, accuracy * 100.0),
            None => format!("loss {:.6}", stats.loss),
        };
        if let Some(val_loss) = stats.val_loss {
            write!(figures, ", val loss {val_loss:.6}").unwrap();
        }
        match (stats.val_metric, stats.accuracy) {
            (Some(accuracy), Some(_)) => write!(figures, ", val accuracy {:.2}%", accuracy * 100.0),
            (Some(rmse), None) => write!(figures, ", val rmse {rmse:.4}"),
            (None, _) => Ok(()),
        }
        .unwrap();
        match &self.bar {
            Some(bar) => {
                bar.set_message(figures);
                bar.set_position(stats.epoch as u64);
            }
            None if stats.epoch.is_multiple_of((self.epochs / 10).max(1))
                || stats.epoch == self.epochs =>
            {
                eprintln!("epoch {}/{}: {figures}", stats.epoch, self.epochs);
            }
            None => {}
        }
        if let Some(lr) = stats.reduced_lr {
            // Printed as an f32, whose shortest form reads as a person writes the rate
            // (0.0001, where the f64 gives 0.00010000000000000002).
            let line = format!(
                "epoch {}: learning rate reduced to {}",
                stats.epoch, lr as f32
            );
            match &self.bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    /// Leaves the bar where training ended (an early stop short of the last epoch) and ends
    /// its line, so that what follows on standard output starts a line of its own.
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
            eprintln!();
        }
    }
}

/// One row per epoch: a regression has no accuracy column, and only a run with a
/// validation part has `val_loss` and `val_accuracy` (or, for a regression, `val_rmse` in
/// the data's units) columns.
fn csv(history: &[EpochStats]) -> String {
    let first = history.first();
    let accuracy = first.is_some_and(|stats| stats.accuracy.is_some());
    let validation = first.is_some_and(|stats| stats.val_loss.is_some());
    let mut out = String::from("epoch,loss");
    out += if accuracy { ",accuracy" } else { "" };
    out += match (validation, accuracy) {
        (true, true) => ",val_loss,val_accuracy",
        (true, false) => ",val_loss,val_rmse",
        (false, _) => "",
    };
    out += ",seconds\n";
    for stats in history {
        write!(out, "{},{}", stats.epoch, stats.loss).unwrap();
        let optional = [stats.accuracy, stats.val_loss, stats.val_metric];
        for figure in optional.into_iter().flatten() {
            write!(out, ",{figure}").unwrap();
        }
        writeln!(out, ",{}", stats.seconds).unwrap();
    }
    out
}
