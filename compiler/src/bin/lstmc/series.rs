//! `lstmc predict` for a csv series: the rows of a CSV in, a CSV of predictions in the
//! data's units out; or, with `--forecast K`, the K rows after the series' end, each
//! prediction fed back as the next input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use compiler::graph::MEMORY_LIMIT;
use compiler::load::{beyond_f32, table_missing, Files, Folder};
use compiler::spec::Spec;
use compiler::table;
use runtime::plan::{FramePlan, Plan, SourcePlan};
use runtime::train::Trainer;

use crate::files::write_atomically;
use crate::EXIT_USAGE_OR_IO;

/// Where a series' predictions go and how far to forecast.
pub struct SeriesRequest<'a> {
    pub input: &'a Path,
    pub output: Option<&'a Path>,
    pub forecast: Option<usize>,
}

/// Predicts for the rows of `request.input`; prints errors and gives the exit code.
pub fn predict(spec: &Spec, plan: &Plan, trainer: &mut Trainer, request: &SeriesRequest) -> u8 {
    let text = read_rows(spec, plan, request.input).and_then(|rows| match request.forecast {
        Some(steps) => forecast(plan, trainer, &rows, steps),
        None => each_window(plan, trainer, &rows),
    });
    let written = text.and_then(|text| match request.output {
        Some(path) => write_atomically(path, text.as_bytes())
            .map_err(|error| format!("cannot write {}: {error}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    });
    match written {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE_OR_IO
        }
    }
}

/// The series' rows `[row, input column]` read from `path`, with its file lines, missing
/// cells handled as the spec says.
struct Rows {
    values: Vec<f32>,
    lines: Vec<usize>,
}

fn read_rows(spec: &Spec, plan: &Plan, path: &Path) -> Result<Rows, String> {
    let compiler::spec::Source::Csv(csv) = &spec.data.source.value else {
        unreachable!("a series plan comes from a csv source")
    };
    // Read as the spec's own data is: a regular file, refused above the memory bound unread.
    let bytes = Folder(PathBuf::new())
        .read(&path.to_string_lossy(), MEMORY_LIMIT as u64)
        .map_err(|error| format!("cannot read {}: {}", path.display(), error.reason))?;
    let in_file = |error: table::TableError| format!("{}: {error}", path.display());
    let table = table::read_csv(&bytes).map_err(in_file)?;
    let columns = input_columns(&table, plan, path)?;
    let (filled, lines) =
        table::fill_missing(&table, &columns, table_missing(csv.missing)).map_err(in_file)?;
    // A finite f64 past f32's range would turn into an infinity here, as training refuses.
    if let Some(error) = beyond_f32(&filled, &columns, &lines) {
        return Err(in_file(error));
    }
    let mut values = Vec::with_capacity(lines.len() * columns.len());
    for row in 0..lines.len() {
        values.extend(filled.iter().map(|column| column[row] as f32));
    }
    Ok(Rows { values, lines })
}

/// The positions of the spec's input columns in the file's header, or which are missing.
fn input_columns(table: &table::Table, plan: &Plan, path: &Path) -> Result<Vec<usize>, String> {
    let SourcePlan::Series { inputs, .. } = &plan.data.source else {
        unreachable!("a series plan")
    };
    let found: Vec<Option<usize>> = inputs.iter().map(|c| table.column_index(&c.name)).collect();
    let absent: Vec<&str> = inputs
        .iter()
        .zip(&found)
        .filter(|(_, index)| index.is_none())
        .map(|(column, _)| column.name.as_str())
        .collect();
    if !absent.is_empty() {
        return Err(format!(
            "{} has no column {} (its header: {})",
            path.display(),
            absent.join(", "),
            table.header().join(", ")
        ));
    }
    Ok(found.into_iter().flatten().collect())
}

/// `(window, ahead, out)` of the spec's framing.
fn framing(plan: &Plan) -> (usize, usize, usize) {
    match plan.data.frame {
        FramePlan::Forecast { window, ahead, out } => (window, ahead, out),
        _ => unreachable!("a series is framed by forecast windows"),
    }
}

fn target_names(plan: &Plan) -> Vec<&str> {
    match &plan.data.source {
        SourcePlan::Series { targets, .. } => targets.iter().map(|c| c.name.as_str()).collect(),
        _ => unreachable!("a series plan"),
    }
}

/// One row per window of the file: the file line of the window's last row, then each
/// predicted value, named `name+h` for the row `h` after that line (`name+0` for the line's
/// own row, with `ahead=0`).
fn each_window(plan: &Plan, trainer: &mut Trainer, rows: &Rows) -> Result<String, String> {
    let (window, ahead, out) = framing(plan);
    if rows.lines.len() < window {
        return Err(format!(
            "a prediction reads {window} rows, but the file has {}",
            rows.lines.len()
        ));
    }
    let names = target_names(plan);
    let width = rows.values.len() / rows.lines.len();
    let mut header = vec!["last_line".to_string()];
    for step in 0..out {
        for name in &names {
            header.push(format!("{name}+{}", ahead + step));
        }
    }
    let mut text = header.join(",") + "\n";
    for end in window..=rows.lines.len() {
        let predicted = trainer.predict_values(&rows.values[(end - window) * width..end * width]);
        write!(text, "{}", rows.lines[end - 1]).unwrap();
        for value in predicted {
            write!(text, ",{value}").unwrap();
        }
        text.push('\n');
    }
    Ok(text)
}

/// The `steps` rows after the series' end: each prediction appended to the rows and read
/// back as input, so the targets must be the inputs and predict the very next rows.
fn forecast(
    plan: &Plan,
    trainer: &mut Trainer,
    rows: &Rows,
    steps: usize,
) -> Result<String, String> {
    let (window, ahead, out) = framing(plan);
    let SourcePlan::Series { inputs, targets } = &plan.data.source else {
        unreachable!("a series plan")
    };
    let same_columns = inputs
        .iter()
        .map(|c| &c.name)
        .eq(targets.iter().map(|c| &c.name));
    if !same_columns || ahead != 1 {
        return Err(
            "--forecast feeds each prediction back as the next input, so the spec's \
                    targets must be its inputs, in the same order, forecast from the next row \
                    (ahead=1)"
                .to_string(),
        );
    }
    if rows.lines.len() < window {
        return Err(format!(
            "--forecast starts from the last {window} rows, but the file has {}",
            rows.lines.len()
        ));
    }
    let width = inputs.len();
    let mut series = rows.values.clone();
    let mut forecast = Vec::with_capacity(steps * width);
    while forecast.len() < steps * width {
        let end = series.len();
        let predicted = trainer.predict_values(&series[end - window * width..end]);
        debug_assert_eq!(predicted.len(), out * width);
        series.extend_from_slice(&predicted);
        forecast.extend_from_slice(&predicted);
    }
    let mut text = format!("step,{}\n", target_names(plan).join(","));
    for (step, row) in forecast.chunks(width).take(steps).enumerate() {
        let values: Vec<String> = row.iter().map(f32::to_string).collect();
        writeln!(text, "{},{}", step + 1, values.join(",")).unwrap();
    }
    Ok(text)
}
