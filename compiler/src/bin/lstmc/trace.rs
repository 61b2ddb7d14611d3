//! `lstmc run --trace FILE`: the recorded recurrent state for people who plot with their own
//! tools, as CSV (one row a value) or safetensors (one `[steps, units]` tensor a signal).

use std::fmt::Write as _;
use std::path::Path;

use compiler::page::TracedSignal;
use runtime::model::NamedTensor;

use crate::files::write_atomically;
use crate::weights::write_file;

enum Format {
    Csv,
    Safetensors,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "safetensors" => Some(Format::Safetensors),
        _ => None,
    }
}

/// The file's name says which format to write, before anything is trained.
pub fn check_name(path: &Path) -> Result<(), String> {
    match format_of(path) {
        Some(_) => Ok(()),
        None => Err(format!(
            "--trace {}: name a .csv or a .safetensors file, which says the format",
            path.display()
        )),
    }
}

pub fn write(path: &Path, signals: &[TracedSignal]) -> Result<(), String> {
    match format_of(path) {
        Some(Format::Csv) => write_atomically(path, csv(signals).as_bytes())
            .map_err(|error| format!("cannot write {}: {error}", path.display())),
        Some(Format::Safetensors) => safetensors(path, signals),
        None => check_name(path),
    }
}

/// `trace,row,layer,signal,step,read,unit,value`: steps from 1 along the strip, `read` what
/// the step read, units from 0 in the layer's own order.
fn csv(signals: &[TracedSignal]) -> String {
    let mut out = String::from("trace,row,layer,signal,step,read,unit,value\n");
    for signal in signals {
        for step in 0..signal.steps {
            let read = csv_field(&signal.labels[step]);
            for unit in 0..signal.units {
                let value = signal.values[step * signal.units + unit];
                writeln!(
                    out,
                    "{},{},{},{},{},{read},{unit},{value}",
                    signal.trace,
                    signal.row,
                    signal.layer,
                    csv_field(&signal.signal),
                    step + 1
                )
                .unwrap();
            }
        }
    }
    out
}

/// A field quoted when it holds a comma, a quote or a line break (a text's symbols may).
fn csv_field(text: &str) -> String {
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text.to_string(),
    }
}

/// Tensors named `evaluation.row1.layer1.h`; each strip's step labels in the metadata under
/// `evaluation.row1.layer1.read`, one a line.
fn safetensors(path: &Path, signals: &[TracedSignal]) -> Result<(), String> {
    let prefix = |s: &TracedSignal| format!("{}.row{}.layer{}", s.trace, s.row, s.layer);
    let tensors: Vec<NamedTensor> = signals
        .iter()
        .map(|s| NamedTensor {
            name: format!("{}.{}", prefix(s), s.signal.replace(' ', "_")),
            shape: vec![s.steps, s.units],
            data: s.values.clone(),
        })
        .collect();
    let mut labels: Vec<(String, String)> = signals
        .iter()
        .map(|s| (format!("{}.read", prefix(s)), s.labels.join("\n")))
        .collect();
    labels.dedup();
    let metadata: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    write_file(path, tensors, &metadata)
}
