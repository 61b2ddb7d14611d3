//! `lstmc predict`: saved weights, new inputs, the spec's encoding.

use std::path::Path;

use compiler::{lower, report};
use runtime::data::PAD;
use runtime::plan::{FramePlan, Plan, SourcePlan};
use runtime::train::{argmax, Trainer};

use crate::run::load_into;
use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};

/// Where the inputs come from, and whether to print the class probabilities too.
pub struct Inputs<'a> {
    pub line: Option<String>,
    pub file: Option<&'a Path>,
    pub probabilities: bool,
}

pub fn predict(spec: &Path, weights: &Path, inputs: Inputs) -> u8 {
    let show_probabilities = inputs.probabilities;
    let compiled = match read_and_compile(spec) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let plan = match &compiled.result {
        Ok((spec, checked)) => lower::lower(spec, checked),
        Err(diagnostics) => return report_errors(spec, &compiled, diagnostics),
    };
    let lines = match (inputs.line, inputs.file) {
        (Some(input), _) => vec![input],
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_string)
                .collect(),
            Err(error) => {
                eprintln!("error: cannot read {}: {error}", path.display());
                return EXIT_USAGE_OR_IO;
            }
        },
        (None, None) => unreachable!("clap requires --input or --input-file"),
    };
    let mut trainer = Trainer::new(&plan);
    if let Err(message) = load_into(&mut trainer, weights) {
        eprintln!("error: {message}");
        return EXIT_USAGE_OR_IO;
    }
    for (number, line) in lines.iter().enumerate() {
        let symbols = match parse(&plan, line) {
            Ok(symbols) => symbols,
            Err(message) => {
                eprintln!("error: input {}: {message}", number + 1);
                return EXIT_USAGE_OR_IO;
            }
        };
        let probabilities = trainer.predict_one(&symbols);
        let classes = plan.data.source.classes();
        let predicted: Vec<u32> = probabilities
            .chunks(classes)
            .map(|p| argmax(p) as u32)
            .collect();
        let names = |s: &[u32]| report::symbol_names(&plan.data.source, s).join(", ");
        println!("[{}] -> [{}]", names(&symbols), names(&predicted));
        if show_probabilities {
            for step in probabilities.chunks(classes) {
                let text: Vec<String> = step.iter().map(f32::to_string).collect();
                println!("probabilities: {}", text.join(" "));
            }
        }
    }
    0
}

/// An input line as the symbols of one sample, padded as the framing pads.
fn parse(plan: &Plan, line: &str) -> Result<Vec<u32>, String> {
    let symbols = match &plan.data.source {
        SourcePlan::Alphabet { letters } => line
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| {
                letters
                    .iter()
                    .position(|&l| l == c)
                    .map(|i| i as u32)
                    .ok_or_else(|| format!("{c:?} is not a letter of the alphabet"))
            })
            .collect::<Result<Vec<u32>, String>>()?,
        SourcePlan::RandomInts { lo, hi, .. } => line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| !word.is_empty())
            .map(|word| match word.parse::<i64>() {
                Ok(v) if (*lo..*hi).contains(&v) => Ok((v - lo) as u32),
                _ => Err(format!("{word:?} is not an integer in {lo}..{hi}")),
            })
            .collect::<Result<Vec<u32>, String>>()?,
    };
    let (fits, want) = match plan.data.frame {
        FramePlan::Windows { size } => (symbols.len() == size, format!("{size} symbols")),
        FramePlan::Lag { steps_in, .. } => {
            (symbols.len() == steps_in, format!("{steps_in} symbols"))
        }
        FramePlan::Pick { .. } => (
            symbols.len() == plan.data.source.length(),
            format!("{} symbols", plan.data.source.length()),
        ),
        FramePlan::Runs { max_len, .. } => (
            (1..=max_len).contains(&symbols.len()),
            format!("1 to {max_len} symbols"),
        ),
    };
    if !fits {
        return Err(format!("the model reads {want}, found {}", symbols.len()));
    }
    Ok(pad(plan, symbols))
}

fn pad(plan: &Plan, symbols: Vec<u32>) -> Vec<u32> {
    let FramePlan::Runs {
        max_len,
        pad_before,
        ..
    } = plan.data.frame
    else {
        return symbols;
    };
    let padding = vec![PAD; max_len - symbols.len()];
    match pad_before {
        true => [padding, symbols].concat(),
        false => [symbols, padding].concat(),
    }
}
