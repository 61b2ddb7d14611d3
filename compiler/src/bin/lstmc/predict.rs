//! `lstmc predict`: saved weights, new inputs, the spec's encoding.

use std::path::Path;

use compiler::{lower, report};
use runtime::data::PAD;
use runtime::plan::{FramePlan, Plan, SourcePlan};
use runtime::train::{argmax, Trainer};

use crate::files::cannot_read;
use crate::run::load_into;
use crate::series;
use crate::weights;
use crate::{read_and_compile, report_errors, EXIT_USAGE_OR_IO};

/// Where the inputs come from, and whether to print the class probabilities too.
pub struct Inputs<'a> {
    pub line: Option<String>,
    pub file: Option<&'a Path>,
    pub probabilities: bool,
    /// A series' predictions file, and how many rows to forecast past its end.
    pub output: Option<&'a Path>,
    pub forecast: Option<usize>,
}

pub fn predict(spec: &Path, weights: &Path, inputs: Inputs) -> u8 {
    let compiled = match read_and_compile(spec) {
        Ok(compiled) => compiled,
        Err(code) => return code,
    };
    let (typed, checked) = match &compiled.result {
        Ok(compiled) => compiled,
        Err(diagnostics) => return report_errors(spec, &compiled, diagnostics),
    };
    let plan = lower::lower(typed, checked);
    if let SourcePlan::Series { .. } = plan.data.source {
        return predict_series(typed, &plan, weights, &inputs);
    }
    let generates = match plan.data.source {
        SourcePlan::Text { .. } => Some("a text: sample from it with `lstmc sample` or `show sample(...)`"),
        SourcePlan::Lines { .. } => Some("the items of a lines source: draw new ones with `show items(...)` in the spec and `lstmc run SPEC --load WEIGHTS --epochs 0`"),
        _ => None,
    };
    if let Some(what) = generates {
        eprintln!("error: {} models {what}", spec.display());
        return EXIT_USAGE_OR_IO;
    }
    if inputs.output.is_some() || inputs.forecast.is_some() {
        eprintln!(
            "error: --output and --forecast are for a csv series; {} reads symbols",
            spec.display()
        );
        return EXIT_USAGE_OR_IO;
    }
    // Every input is read before any is predicted, so a bad one prints nothing on stdout.
    let samples = match read_inputs(&plan, inputs.line, inputs.file) {
        Ok(samples) => samples,
        Err(errors) => {
            for error in errors {
                eprintln!("error: {error}");
            }
            return EXIT_USAGE_OR_IO;
        }
    };
    let mut trainer = Trainer::new(&plan);
    if let Err(message) = load_into(&mut trainer, weights) {
        eprintln!("error: {message}");
        return EXIT_USAGE_OR_IO;
    }
    for symbols in &samples {
        let probabilities = trainer.predict_one(symbols);
        print!(
            "{}",
            prediction(
                &plan.data.source,
                symbols,
                &probabilities,
                inputs.probabilities
            )
        );
    }
    0
}

/// A series' predictions for the rows of `--input-file`.
fn predict_series(spec: &compiler::spec::Spec, plan: &Plan, weights: &Path, inputs: &Inputs) -> u8 {
    let (Some(input), None, false) = (inputs.file, &inputs.line, inputs.probabilities) else {
        eprintln!("error: a csv series predicts from the rows of a CSV: give --input-file FILE (--input and --probabilities are for symbols)");
        return EXIT_USAGE_OR_IO;
    };
    // A random split's scaling is fitted on the parts the training seed chose.
    let mut plan = plan.clone();
    match weights::load_seed(weights) {
        Ok(Some(seed)) => plan.train.seed = seed,
        Ok(None) => {}
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE_OR_IO;
        }
    }
    let mut trainer = Trainer::new(&plan);
    if let Err(message) = load_into(&mut trainer, weights) {
        eprintln!("error: {message}");
        return EXIT_USAGE_OR_IO;
    }
    let request = series::SeriesRequest {
        input,
        output: inputs.output,
        forecast: inputs.forecast,
    };
    series::predict(spec, &plan, &mut trainer, &request)
}

/// The samples of `--input`, or of each line of `--input-file` that is not blank; or every
/// bad one, named `--input` or `FILE:LINE` (blank lines counted).
fn read_inputs(
    plan: &Plan,
    line: Option<String>,
    file: Option<&Path>,
) -> Result<Vec<Vec<u32>>, Vec<String>> {
    let path = match (line, file) {
        (Some(input), _) => {
            return parse(plan, &input)
                .map(|symbols| vec![symbols])
                .map_err(|message| vec![format!("--input: {message}")]);
        }
        (None, Some(path)) => path,
        (None, None) => unreachable!("clap requires --input or --input-file"),
    };
    let text = std::fs::read_to_string(path).map_err(|error| vec![cannot_read(path, &error)])?;
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    for (index, line) in text.lines().enumerate() {
        if is_blank(&plan.data.source, line) {
            continue;
        }
        match parse(plan, line) {
            Ok(symbols) => samples.push(symbols),
            Err(message) => errors.push(format!("{}:{}: {message}", path.display(), index + 1)),
        }
    }
    match errors.is_empty() {
        true => Ok(samples),
        false => Err(errors),
    }
}

/// A line with nothing to read: only whitespace, none of it a letter of the alphabet.
fn is_blank(source: &SourcePlan, line: &str) -> bool {
    let is_letter =
        |c: char| matches!(source, SourcePlan::Alphabet { letters } if letters.contains(&c));
    line.chars().all(|c| c.is_whitespace() && !is_letter(c))
}

/// `[A, B, C] -> [D]`, then, when asked for, a row of class labels over a row of
/// probabilities for each target step.
fn prediction(
    source: &SourcePlan,
    symbols: &[u32],
    probabilities: &[f32],
    show_probabilities: bool,
) -> String {
    let classes = source.classes();
    let predicted: Vec<u32> = probabilities
        .chunks(classes)
        .map(|p| argmax(p) as u32)
        .collect();
    let names = |s: &[u32]| {
        let names: Vec<String> = report::symbol_names(source, s)
            .into_iter()
            .map(visible)
            .collect();
        names.join(", ")
    };
    let mut out = format!("[{}] -> [{}]\n", names(symbols), names(&predicted));
    if show_probabilities {
        out += &probability_table(source, probabilities);
    }
    out
}

/// A letter that is whitespace, quoted, so that it shows in a list or a column.
fn visible(name: String) -> String {
    match name.trim().is_empty() {
        true => format!("{name:?}"),
        false => name,
    }
}

/// `classes:` and the class labels, then a `probabilities:` row per target step, in columns.
fn probability_table(source: &SourcePlan, probabilities: &[f32]) -> String {
    let classes = source.classes();
    let labels: Vec<String> = (0..classes as u32)
        .map(|k| visible(report::symbol_name(source, k)))
        .collect();
    let rows: Vec<Vec<String>> = probabilities
        .chunks(classes)
        .map(|step| step.iter().map(f32::to_string).collect())
        .collect();
    let widths: Vec<usize> = (0..classes)
        .map(|k| {
            rows.iter()
                .map(|row| row[k].len())
                .fold(labels[k].len(), usize::max)
        })
        .collect();
    let head_width = "probabilities: ".len();
    let line = |head: &str, cells: &[String]| {
        let cells: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:width$}"))
            .collect();
        format!("{head:head_width$}{}", cells.join(" "))
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line("classes:", &labels);
    for row in &rows {
        out += &line("probabilities:", row);
    }
    out
}

/// An input line as the symbols of one sample, padded as the framing pads.
fn parse(plan: &Plan, line: &str) -> Result<Vec<u32>, String> {
    let symbols = match &plan.data.source {
        SourcePlan::Alphabet { letters } => line
            .chars()
            .enumerate()
            .map(|(column, c)| letter(letters, c, column))
            .collect::<Result<Vec<u32>, String>>()?,
        SourcePlan::RandomInts { lo, hi, .. } => line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|word| !word.is_empty())
            .map(|word| match word.parse::<i64>() {
                Ok(v) if (*lo..*hi).contains(&v) => Ok((v - lo) as u32),
                _ => Err(format!("{word:?} is not an integer in {lo}..{hi}")),
            })
            .collect::<Result<Vec<u32>, String>>()?,
        SourcePlan::Series { .. } => unreachable!("`predict` refuses a series first"),
        SourcePlan::Text { .. } | SourcePlan::Lines { .. } => {
            unreachable!("`predict` refuses a text first")
        }
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
        FramePlan::Forecast { .. } => unreachable!("`predict` refuses a series first"),
        FramePlan::Streams { .. } | FramePlan::Items { .. } => {
            unreachable!("`predict` refuses a text first")
        }
    };
    if !fits {
        return Err(format!("the model reads {want}, found {}", symbols.len()));
    }
    Ok(pad(plan, symbols))
}

/// Each character of an input is one letter, so that an alphabet can hold a space.
fn letter(letters: &[char], c: char, column: usize) -> Result<u32, String> {
    if let Some(index) = letters.iter().position(|&l| l == c) {
        return Ok(index as u32);
    }
    let alphabet: String = letters.iter().collect();
    let mut message = format!(
        "{c:?} (character {}) is not a letter of the alphabet {alphabet:?}",
        column + 1
    );
    if c.is_whitespace() {
        message += "; letters are not separated: each character is one";
    }
    Err(message)
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
