//! `lstmc sample`: text from a trained language model, after a prime, with a temperature,
//! a top-k cut and a seed.

use std::path::Path;

use compiler::{lower, report};
use runtime::plan::SourcePlan;
use runtime::train::{SampleRequest, Trainer};

use crate::run::load_into;
use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};

/// `lstmc sample`'s options, parsed by clap from the command line.
#[derive(clap::Args)]
pub struct Options {
    /// The safetensors file to load.
    #[arg(long, value_name = "FILE")]
    pub load: std::path::PathBuf,
    /// The text the model reads before it samples; the text's first character if not given.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub prime: Option<String>,
    /// How many characters to draw.
    #[arg(long, value_name = "N", default_value_t = 500, allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub length: u64,
    /// Below 1 sharpens each choice, above 1 flattens it.
    #[arg(long, value_name = "T", default_value_t = 1.0, allow_negative_numbers = true,
          value_parser = positive_number)]
    pub temperature: f64,
    /// Draw each character from the K most likely only; 0 for all of them.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub top_k: u64,
    /// The seed of the draws: the same seed samples the same text.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub seed: u64,
}

fn positive_number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value < 100.0 => Ok(value),
        _ => Err(format!("{text:?} is not a number in (0, 100)")),
    }
}

pub fn sample(spec: &Path, options: &Options) -> u8 {
    let compiled = match read_and_compile(spec) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let plan = match &compiled.result {
        Ok((typed, checked)) => lower::lower(typed, checked),
        Err(diagnostics) => return report_errors(spec, &compiled, diagnostics),
    };
    let SourcePlan::Text { vocabulary, ids } = &plan.data.source else {
        eprintln!(
            "error: {} does not model a text: `lstmc sample` needs `source=text(...)` (a lines source draws items with `show items(...)`)",
            spec.display()
        );
        return EXIT_USAGE_OR_IO;
    };
    let prime = match &options.prime {
        Some(text) => match symbols(vocabulary, text) {
            Ok(prime) => prime,
            Err(message) => {
                eprintln!("error: --prime: {message}");
                return EXIT_USAGE_OR_IO;
            }
        },
        None => vec![ids[0]],
    };
    if prime.is_empty() {
        eprintln!("error: --prime: give at least one character for the model to read first");
        return EXIT_USAGE_OR_IO;
    }
    let mut trainer = Trainer::new(&plan);
    if let Err(message) = load_into(&mut trainer, &options.load) {
        eprintln!("error: {message}");
        return EXIT_USAGE_OR_IO;
    }
    let request = SampleRequest {
        length: options.length as usize,
        temperature: options.temperature,
        top_k: options.top_k as usize,
        seed: options.seed,
    };
    let drawn = trainer.sample(&prime, request);
    print!("{}", report::sample_text(&plan.data.source, &prime, &drawn));
    0
}

/// The prime's characters as the text's symbols, or the first that the text does not hold.
fn symbols(vocabulary: &[char], text: &str) -> Result<Vec<u32>, String> {
    text.chars()
        .map(|c| match vocabulary.binary_search(&c) {
            Ok(index) => Ok(index as u32),
            Err(_) => Err(format!("{c:?} is not a character of the text")),
        })
        .collect()
}
