//! `lstmc`: the command-line driver. Reads files, calls the compiler, renders diagnostics,
//! and maps outcomes to exit codes. No compiler logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compiler::load::Folder;
use compiler::{compile_with, diagnostic, graph, lower, report, summary, Compiled};
use runtime::shapes::describe;

mod export;
mod files;
mod fmt;
mod lsp;
mod predict;
mod run;
mod sample;
mod series;
mod trace;
mod weights;

/// Exit codes: 0 success, 1 a spec has errors, 2 usage or I/O error, 3 training diverged.
pub(crate) const EXIT_SPEC_ERRORS: u8 = 1;
pub(crate) const EXIT_USAGE_OR_IO: u8 = 2;

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
        #[arg(long, conflicts_with = "plan")]
        graph: bool,
        /// Print the lowered plan (kernel calls, buffers, bytes) instead of the summary.
        #[arg(long)]
        plan: bool,
    },
    /// Train, evaluate and show what the spec asks for.
    Run {
        /// The spec file (.lstm).
        file: PathBuf,
        #[command(flatten)]
        options: run::Options,
    },
    /// Sample text from a language model trained on a text source.
    Sample {
        /// The spec the weights were trained with.
        file: PathBuf,
        #[command(flatten)]
        options: sample::Options,
    },
    /// Predict with saved weights for new inputs, encoded as the spec encodes its data.
    // One of the two inputs, so that a command with neither names both.
    #[command(group(clap::ArgGroup::new("inputs").required(true).args(["input", "input_file"])))]
    Predict {
        /// The spec the weights were trained with.
        file: PathBuf,
        /// The safetensors file to load.
        #[arg(long, value_name = "FILE")]
        load: PathBuf,
        /// One input sequence: letters, each character one ("ABC"), or integers separated by
        /// spaces or commas ("3 6 0 3 1", "-5 -4").
        #[arg(long, allow_hyphen_values = true)]
        input: Option<String>,
        /// A file of input sequences, one a line; blank lines are skipped. For a csv series,
        /// a CSV with the spec's input columns.
        #[arg(long, value_name = "FILE")]
        input_file: Option<PathBuf>,
        /// Also print each target step's class probabilities.
        #[arg(long)]
        probabilities: bool,
        /// For a csv series: write the predictions to this CSV file (atomically) instead of
        /// standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// For a csv series: forecast the K rows after the file's last, each prediction fed
        /// back as the next input.
        #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        forecast: Option<u64>,
    },
    /// Rewrite specs in the canonical layout, comments kept; with --check, rewrite nothing,
    /// show the changes and exit 1 when a file is not formatted.
    Fmt {
        /// Spec files (.lstm) to format.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check only: exit 1 and show a diff when a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Serve the Language Server Protocol over stdio, for editors: diagnostics, inlay
    /// hints, hover, completion and formatting.
    Lsp,
    /// Write a trained model as an ONNX graph, for ONNX Runtime, tract and other runtimes.
    Export {
        /// The spec the weights were trained with.
        file: PathBuf,
        /// The safetensors file to load.
        #[arg(long, value_name = "FILE")]
        load: PathBuf,
        /// The ONNX file to write (atomically).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    end_quietly_on_a_closed_pipe();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, graph, plan } => {
            let view = if graph {
                View::Graph
            } else if plan {
                View::Plan
            } else {
                View::Summary
            };
            check_all(&files, view)
        }
        Command::Run { file, options } => ExitCode::from(run::run(&file, &options)),
        Command::Sample { file, options } => ExitCode::from(sample::sample(&file, &options)),
        Command::Predict {
            file,
            load,
            input,
            input_file,
            probabilities,
            output,
            forecast,
        } => {
            let inputs = predict::Inputs {
                line: input,
                file: input_file.as_deref(),
                probabilities,
                output: output.as_deref(),
                forecast: forecast.map(|k| k as usize),
            };
            ExitCode::from(predict::predict(&file, &load, inputs))
        }
        Command::Fmt { files, check } => ExitCode::from(fmt::fmt(&files, check)),
        Command::Lsp => ExitCode::from(lsp::lsp()),
        Command::Export { file, load, output } => {
            ExitCode::from(export::export(&file, &load, &output))
        }
    }
}

/// Rust starts programs with SIGPIPE ignored, so that writing to a closed pipe (`lstmc check
/// specs/*.lstm | head`) is an error, which `print!` turns into a panic. Its default action
/// ends the process quietly instead, as it ends other Unix tools.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: no other thread exists yet, and the default action runs no code of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What `check` prints for a valid spec.
#[derive(Clone, Copy)]
enum View {
    Summary,
    Graph,
    Plan,
}

fn check_all(files: &[PathBuf], view: View) -> ExitCode {
    let mut worst = 0;
    for path in files {
        worst = worst.max(check_one(path, view));
    }
    ExitCode::from(worst)
}

/// Reads and compiles a spec, or says why not and gives the exit code.
pub(crate) fn read_and_compile(path: &Path) -> Result<Compiled, u8> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(compile_with(&bytes, &Folder::of(path))),
        Err(error) => {
            eprintln!("error: {}", files::cannot_read(path, &error));
            Err(EXIT_USAGE_OR_IO)
        }
    }
}

pub(crate) fn report_errors(
    path: &Path,
    compiled: &Compiled,
    diagnostics: &[diagnostic::Diagnostic],
) -> u8 {
    let name = path.display().to_string();
    eprint!("{}", diagnostic::render(&name, &compiled.text, diagnostics));
    let count = diagnostics.len();
    eprintln!("{name}: {count} error{}", if count == 1 { "" } else { "s" });
    EXIT_SPEC_ERRORS
}

fn check_one(path: &Path, view: View) -> u8 {
    let compiled = match read_and_compile(path) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let name = path.display().to_string();
    match &compiled.result {
        Ok((spec, checked)) => {
            match view {
                View::Graph => print!("{}", graph::to_dot(&spec.model.name.value, &checked.graph)),
                View::Plan => {
                    let plan = lower::lower(spec, checked);
                    let (layers, parameter_floats) = describe(&plan, plan.train.batch);
                    print!(
                        "{}",
                        report::plan(&plan, &checked.graph, &layers, parameter_floats)
                    );
                }
                View::Summary => {
                    println!("{name}: ok");
                    print!("{}", summary::render(spec, checked));
                }
            }
            0
        }
        Err(diagnostics) => report_errors(path, &compiled, diagnostics),
    }
}
