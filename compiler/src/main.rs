//! `lstmc`: the command-line driver. Reads files, calls the compiler, renders diagnostics,
//! and maps outcomes to exit codes. No compiler logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compiler::{compile, diagnostic, graph, lower, report, summary, Compiled};
use runtime::plan::{Plan, ShowPlan};
use runtime::train::Trainer;

/// Exit codes: 0 success, 1 a spec has errors, 2 usage or I/O error, 3 training diverged.
const EXIT_SPEC_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;
const EXIT_NOT_FINITE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "lstmc",
    version,
    about = "A compiler and runtime for LSTM sequence models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check specs for syntax, spec and shape errors; print a summary of each valid one.
    Check {
        /// Spec files (.lstm) to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the layer graph in Graphviz DOT instead of the summary.
        #[arg(long)]
        graph: bool,
    },
    /// Train, evaluate and show what the spec asks for.
    Run {
        /// The spec file (.lstm).
        file: PathBuf,
        /// Use this seed instead of the spec's.
        #[arg(long)]
        seed: Option<u64>,
        /// Train for this many epochs instead of the spec's.
        #[arg(long)]
        epochs: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, graph } => check_all(&files, graph),
        Command::Run { file, seed, epochs } => ExitCode::from(run(&file, seed, epochs)),
    }
}

fn check_all(files: &[PathBuf], graph: bool) -> ExitCode {
    let mut worst = 0;
    for path in files {
        worst = worst.max(check_one(path, graph));
    }
    ExitCode::from(worst)
}

/// Reads and compiles a spec, or says why not and gives the exit code.
fn read_and_compile(path: &Path) -> Result<Compiled, u8> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(compile(&bytes)),
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", path.display());
            Err(EXIT_USAGE_OR_IO)
        }
    }
}

fn report_errors(path: &Path, compiled: &Compiled, diagnostics: &[diagnostic::Diagnostic]) -> u8 {
    let name = path.display().to_string();
    eprint!("{}", diagnostic::render(&name, &compiled.text, diagnostics));
    let count = diagnostics.len();
    eprintln!("{name}: {count} error{}", if count == 1 { "" } else { "s" });
    EXIT_SPEC_ERRORS
}

fn check_one(path: &Path, graph: bool) -> u8 {
    let compiled = match read_and_compile(path) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let name = path.display().to_string();
    match &compiled.result {
        Ok((spec, checked)) if graph => {
            print!("{}", graph::to_dot(&spec.model.name.value, &checked.graph));
            0
        }
        Ok((spec, checked)) => {
            println!("{name}: ok");
            print!("{}", summary::render(spec, checked));
            0
        }
        Err(diagnostics) => report_errors(path, &compiled, diagnostics),
    }
}

fn run(path: &Path, seed: Option<u64>, epochs: Option<usize>) -> u8 {
    let compiled = match read_and_compile(path) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let mut plan = match &compiled.result {
        Ok((spec, checked)) => lower::lower(spec, checked),
        Err(diagnostics) => return report_errors(path, &compiled, diagnostics),
    };
    plan.train.seed = seed.unwrap_or(plan.train.seed);
    plan.train.epochs = epochs.unwrap_or(plan.train.epochs);
    let mut trainer = Trainer::new(&plan);
    let total = plan.train.epochs;
    let every = (total / 10).max(1);
    let trained = trainer.train(|stats| {
        if stats.epoch % every == 0 || stats.epoch == total {
            eprintln!(
                "epoch {}/{total}: loss {:.4}, accuracy {:.2}%",
                stats.epoch,
                stats.loss,
                stats.accuracy * 100.0
            );
        }
    });
    if let Err(not_finite) = trained {
        eprintln!("error: {not_finite}; lower the learning rate or check the data");
        return EXIT_NOT_FINITE;
    }
    show(&plan, &mut trainer);
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
