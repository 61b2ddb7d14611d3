//! `lstmc`: the command-line driver. Reads files, calls the compiler, renders diagnostics,
//! and maps outcomes to exit codes. No compiler logic lives here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compiler::{compile, diagnostic, graph, summary};

/// Exit codes: 0 all specs valid, 1 a spec has errors, 2 usage or I/O error.
const EXIT_SPEC_ERRORS: u8 = 1;
const EXIT_USAGE_OR_IO: u8 = 2;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { files, graph } => check_all(&files, graph),
    }
}

fn check_all(files: &[PathBuf], graph: bool) -> ExitCode {
    let mut worst = 0;
    for path in files {
        worst = worst.max(check_one(path, graph));
    }
    ExitCode::from(worst)
}

fn check_one(path: &Path, graph: bool) -> u8 {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", path.display());
            return EXIT_USAGE_OR_IO;
        }
    };
    let compiled = compile(&bytes);
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
        Err(diagnostics) => {
            eprint!("{}", diagnostic::render(&name, &compiled.text, diagnostics));
            let count = diagnostics.len();
            eprintln!("{name}: {count} error{}", if count == 1 { "" } else { "s" });
            EXIT_SPEC_ERRORS
        }
    }
}
