//! Missing cells in the chosen columns: report them, drop their rows, or fill them.
//!
//! Not reading: the cells come from `Table::numbers`, which has already refused anything that
//! is neither a finite number nor a missing marker.

use super::{Table, TableError};

/// What a spec says to do with missing cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// A missing cell is an error.
    Error,
    /// A row with a missing cell in any chosen column is removed from every column.
    Drop,
    /// A missing cell takes the value above it. A gap at the start of a column is an error:
    /// there is nothing above it to carry.
    Previous,
    /// A missing cell is filled on the straight line between the values around its gap, by
    /// row position (not by a date column). A gap at the start or the end of a column is an
    /// error: filling it with the nearest value would invent a flat stretch that the data
    /// does not show, so the user chooses (delete those rows, or another mode).
    Interpolate,
}

/// The chosen columns (each a field position, as `Table::column_index` gives) as numbers,
/// with missing cells handled as `missing` says, and the file line of each row kept; every
/// returned column has as many values as there are lines. Errors: a cell that is not a
/// number, a missing cell under `Missing::Error`, no row left under `Missing::Drop`, a column
/// with no value at all, and a gap at a column's edge that `Previous` or `Interpolate`
/// cannot fill.
pub fn fill_missing(
    table: &Table,
    columns: &[usize],
    missing: Missing,
) -> Result<(Vec<Vec<f64>>, Vec<usize>), TableError> {
    let values = columns
        .iter()
        .map(|&index| table.numbers(index))
        .collect::<Result<Vec<_>, _>>()?;
    let all_lines = table.lines.clone();
    match missing {
        Missing::Error => Ok((no_gaps(table, columns, &values)?, all_lines)),
        Missing::Drop => drop_rows(table, &values),
        Missing::Previous => Ok((
            fill_each(table, columns, &values, carry_forward)?,
            all_lines,
        )),
        Missing::Interpolate => Ok((fill_each(table, columns, &values, interpolate)?, all_lines)),
    }
}

fn no_gaps(
    table: &Table,
    columns: &[usize],
    values: &[Vec<Option<f64>>],
) -> Result<Vec<Vec<f64>>, TableError> {
    for row in 0..table.rows() {
        if let Some(k) = values.iter().position(|column| column[row].is_none()) {
            return Err(TableError::new(
                table.line(row),
                Some(columns[k] + 1),
                format!("expected a value in column `{}`, found a missing cell", table.header[columns[k]]),
                "fill the cell, or say what to do with gaps: `missing=drop`, `missing=previous` or `missing=interpolate`",
            ));
        }
    }
    Ok(values
        .iter()
        .map(|column| column.iter().flatten().copied().collect())
        .collect())
}

fn drop_rows(
    table: &Table,
    values: &[Vec<Option<f64>>],
) -> Result<(Vec<Vec<f64>>, Vec<usize>), TableError> {
    let kept: Vec<usize> = (0..table.rows())
        .filter(|&row| values.iter().all(|column| column[row].is_some()))
        .collect();
    if kept.is_empty() {
        return Err(TableError::new(
            table.line(0),
            None,
            "expected a row with a value in every chosen column, found none".to_string(),
            "`missing=drop` removed every row; use `missing=interpolate` or `missing=previous`, or choose other columns",
        ));
    }
    let columns = values
        .iter()
        .map(|column| kept.iter().filter_map(|&row| column[row]).collect())
        .collect();
    let lines = kept.iter().map(|&row| table.line(row)).collect();
    Ok((columns, lines))
}

/// A column's values filled, or the edge gap that a mode cannot fill.
type Filled = Result<Vec<f64>, EdgeGap>;

/// A gap before a column's first value, or after its last.
enum EdgeGap {
    Start,
    End,
}

/// Fills each column with `fill`, given the column's values and the rows of its first and
/// last value; turns a column without values, or an edge gap `fill` refuses, into an error.
fn fill_each(
    table: &Table,
    columns: &[usize],
    values: &[Vec<Option<f64>>],
    fill: fn(&[Option<f64>], usize, usize) -> Filled,
) -> Result<Vec<Vec<f64>>, TableError> {
    let mut filled = Vec::with_capacity(values.len());
    for (&index, column) in columns.iter().zip(values) {
        let name = &table.header[index];
        let (Some(first), Some(last)) = (
            column.iter().position(Option::is_some),
            column.iter().rposition(Option::is_some),
        ) else {
            return Err(TableError::new(
                table.line(0),
                Some(index + 1),
                format!("expected numbers in column `{name}`, found only missing cells"),
                "choose a column that holds values",
            ));
        };
        let error = |row: usize, message: String, help: String| {
            TableError::new(table.line(row), Some(index + 1), message, help)
        };
        match fill(column, first, last) {
            Ok(column) => filled.push(column),
            Err(EdgeGap::Start) => {
                return Err(error(
                    0,
                    format!("expected a value before the first gap in column `{name}`, found a gap at the start"),
                    format!("nothing comes before this gap to fill it from; fill the cell, delete the rows above line {}, or use `missing=drop`", table.line(first)),
                ))
            }
            Err(EdgeGap::End) => {
                return Err(error(
                    last + 1,
                    format!("expected a value after the last gap in column `{name}`, found a gap at the end"),
                    format!("interpolation needs a value on both sides of a gap; fill the cell, delete the rows below line {}, or use `missing=previous`", table.line(last)),
                ))
            }
        }
    }
    Ok(filled)
}

fn carry_forward(column: &[Option<f64>], first: usize, _last: usize) -> Filled {
    if first > 0 {
        return Err(EdgeGap::Start);
    }
    let mut previous = 0.0;
    Ok(column
        .iter()
        .map(|value| {
            previous = value.unwrap_or(previous);
            previous
        })
        .collect())
}

fn interpolate(column: &[Option<f64>], first: usize, last: usize) -> Filled {
    if first > 0 {
        return Err(EdgeGap::Start);
    }
    if last + 1 < column.len() {
        return Err(EdgeGap::End);
    }
    let mut filled: Vec<f64> = Vec::with_capacity(column.len());
    let mut before = 0;
    for (row, value) in column.iter().enumerate() {
        if let Some(value) = *value {
            fill_gap(&mut filled, before, row, value);
            before = row;
        }
    }
    Ok(filled)
}

/// Appends the values of rows `before + 1 ..= row` to `filled`, whose last value is row
/// `before`'s: the straight line from it to `value` at `row`.
fn fill_gap(filled: &mut Vec<f64>, before: usize, row: usize, value: f64) {
    let Some(&start) = filled.last() else {
        filled.push(value);
        return;
    };
    let span = (row - before) as f64;
    for step in 1..row - before {
        // Computed as a weighted mean rather than `start + t * (value - start)`: the difference
        // of two finite values can overflow to infinity.
        let t = step as f64 / span;
        filled.push(start * (1.0 - t) + value * t);
    }
    filled.push(value);
}
