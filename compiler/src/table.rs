//! CSV tables: a data file's header and cells, read from bytes, and its columns as numbers.
//!
//! Pure: bytes in, a `Table` or a `TableError` (file line, field position, message, help)
//! out. It opens no file and knows no spec or span; the caller turns a `TableError` into a
//! diagnostic at the `source=csv(...)` that named the file.
//!
//! What is accepted: a UTF-8 file (a byte-order mark is ignored), fields separated by commas
//! and quoted as RFC 4180 says, lines ending in `\n`, `\r\n` or `\r`, a last line with or
//! without its line end. Blank lines are skipped wherever they are, and every line number
//! reported is still the line in the file, counting blank lines. So in a file of one column,
//! an empty line is skipped rather than read as a missing value (write `NA` for that), and a
//! line of spaces is a row, not a blank line. Header names lose their quotes and surrounding
//! spaces; cells keep theirs until `numbers` trims them.

mod missing;

pub use missing::{fill_missing, Missing};

use std::fmt;

use csv::{ByteRecord, StringRecord};

/// A CSV file's header and cells, as read: every row has the header's width, and every cell
/// is valid UTF-8. Cells stay text until `numbers` asks for a column, so columns that are
/// never chosen (dates, labels) may hold anything.
#[derive(Clone, Debug)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<StringRecord>,
    lines: Vec<usize>,
}

/// A problem inside the file: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct TableError {
    /// The file line (1-based) of the row at fault.
    pub line: usize,
    /// The field position (1-based) of the cell at fault, when one cell is.
    pub column: Option<usize>,
    /// Lowercase headline, expected before found.
    pub message: String,
    /// How to fix the file or the spec.
    pub help: Option<String>,
}

impl TableError {
    fn new(
        line: usize,
        column: Option<usize>,
        message: String,
        help: impl Into<String>,
    ) -> TableError {
        TableError {
            line,
            column,
            message,
            help: Some(help.into()),
        }
    }
}

/// `line L, column C: message`, then `  = help: ...` on its own line.
impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TableError {}

impl Table {
    /// The column names, in file order, without their quotes and surrounding spaces.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The number of data rows; at least one.
    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The position of the column called `name` (exactly, case and all). An empty name, as
    /// pandas writes for its index column, names no column.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        if name.is_empty() {
            return None;
        }
        self.header.iter().position(|column| column == name)
    }

    /// The file line (1-based) of data row `row`. With the header on line 1 and no blank
    /// lines, data row 0 is on line 2. Panics if `row >= self.rows()`.
    pub fn line(&self, row: usize) -> usize {
        self.lines[row]
    }

    /// Column `index` as numbers, `None` for a missing cell: empty, `NA` or `NaN`
    /// (case-insensitive, surrounding spaces ignored). A cell that is not a finite number is
    /// an error naming its line and column. Panics if `index >= self.header().len()`.
    pub fn numbers(&self, index: usize) -> Result<Vec<Option<f64>>, TableError> {
        self.rows
            .iter()
            .zip(&self.lines)
            .map(|(row, &line)| self.number(&row[index], line, index))
            .collect()
    }

    fn number(&self, cell: &str, line: usize, index: usize) -> Result<Option<f64>, TableError> {
        let cell = cell.trim();
        if is_missing(cell) {
            return Ok(None);
        }
        let name = &self.header[index];
        if cell.contains('\n') {
            // A quote opened in this cell and not closed takes the lines after it in.
            return Err(TableError::new(
                line,
                Some(index + 1),
                format!("expected a number in column `{name}`, found a quoted cell that runs over several lines"),
                "a quote opened here is not closed on its line: close it, or drop it (numbers need no quotes)",
            ));
        }
        match cell.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Some(value)),
            Ok(_) => Err(TableError::new(
                line,
                Some(index + 1),
                format!("expected a finite number in column `{name}`, found `{}`", shown(cell)),
                "values must be finite and within ±1.8e308; a missing value may be left empty or written `NA` or `NaN`",
            )),
            Err(_) => Err(TableError::new(
                line,
                Some(index + 1),
                format!("expected a number in column `{name}`, found `{}`", shown(cell)),
                "write numbers with a `.` as decimal point and no thousands separator; a missing value may be left empty or written `NA` or `NaN`",
            )),
        }
    }
}

fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell.eq_ignore_ascii_case("na") || cell.eq_ignore_ascii_case("nan")
}

/// A cell as quoted in a message: a long one is cut, so that one bad cell cannot flood the
/// terminal.
fn shown(cell: &str) -> String {
    const MAX_CHARS: usize = 40;
    match cell.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}...", &cell[..end]),
        None => cell.to_string(),
    }
}

const BYTE_ORDER_MARK: &[u8] = b"\xef\xbb\xbf";

/// Reads a CSV file: the first non-blank line is the header, every later non-blank line a
/// data row. Errors: an empty file, a header without data rows, duplicate column names, a
/// row whose field count differs from the header's, and bytes that are not UTF-8.
pub fn read_csv(bytes: &[u8]) -> Result<Table, TableError> {
    let bytes = bytes.strip_prefix(BYTE_ORDER_MARK).unwrap_or(bytes);
    // Flexible, so that a ragged row is ours to report: csv compares a row with the row
    // before it, where the header is what the user wrote and wants named.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut record = ByteRecord::new();
    let Some(header_line) = next_record(&mut reader, &mut record, &mut lines)? else {
        return Err(TableError::new(
            1,
            None,
            "expected a header line naming the columns, found an empty file".to_string(),
            "the first line of a CSV file names its columns, as in `month,passengers`",
        ));
    };
    let header = header_names(&record, header_line)?;
    let mut rows = Vec::new();
    let mut row_lines = Vec::new();
    while let Some(line) = next_record(&mut reader, &mut record, &mut lines)? {
        check_width(&record, header.len(), line)?;
        rows.push(as_text(&record, line)?);
        row_lines.push(line);
    }
    if rows.is_empty() {
        return Err(TableError::new(
            header_line,
            None,
            "expected data rows below the header, found none".to_string(),
            "add one line of values per time step below the header line",
        ));
    }
    Ok(Table {
        header,
        rows,
        lines: row_lines,
    })
}

/// Reads the next record into `record` and returns its file line, or `None` at the end.
fn next_record(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut ByteRecord,
    lines: &mut LineCounter,
) -> Result<Option<usize>, TableError> {
    match reader.read_byte_record(record) {
        Ok(false) => Ok(None),
        Ok(true) => {
            let position = record
                .position()
                .map_or(lines.offset, |p| p.byte() as usize);
            Ok(Some(lines.line_at(position)))
        }
        // A flexible reader over a slice has no I/O and no field-count check to fail, so this
        // is not expected; it is still an error, not a panic.
        Err(error) => Err(TableError::new(
            lines.line,
            None,
            format!("expected a CSV record, found an unreadable one ({error})"),
            "save the file as comma-separated values",
        )),
    }
}

fn header_names(record: &ByteRecord, line: usize) -> Result<Vec<String>, TableError> {
    let names: Vec<String> = as_text(record, line)?
        .iter()
        .map(|name| name.trim().to_string())
        .collect();
    for (index, name) in names.iter().enumerate() {
        let first = names[..index].iter().position(|earlier| earlier == name);
        if let (Some(first), false) = (first, name.is_empty()) {
            return Err(TableError::new(
                line,
                Some(index + 1),
                format!(
                    "expected distinct column names, found `{}` again (first in column {})",
                    shown(name),
                    first + 1
                ),
                "rename one of the two columns, so that a spec can name each",
            ));
        }
    }
    Ok(names)
}

fn check_width(record: &ByteRecord, width: usize, line: usize) -> Result<(), TableError> {
    let found = record.len();
    if found == width {
        return Ok(());
    }
    let (column, help) = if found > width {
        (Some(width + 1), "quote a field that contains a comma, as in `\"1,000\"`, or add a name for the extra column to the header".to_string())
    } else if let Some(separator) = other_separator(record) {
        (
            None,
            format!("separate fields with commas; this line seems to use `{separator}`"),
        )
    } else {
        (
            None,
            "leave a missing value empty, but keep its comma".to_string(),
        )
    };
    Err(TableError::new(
        line,
        column,
        format!(
            "expected {width} field{} as in the header, found {found}",
            plural(width)
        ),
        help,
    ))
}

/// The separator a short row seems to use instead of commas (semicolons, as spreadsheets in
/// many locales write, or tabs), if any of its fields holds one.
fn other_separator(record: &ByteRecord) -> Option<&'static str> {
    let holds = |byte: u8| record.iter().any(|field| field.contains(&byte));
    if holds(b';') {
        Some(";")
    } else if holds(b'\t') {
        Some("\\t")
    } else {
        None
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

fn as_text(record: &ByteRecord, line: usize) -> Result<StringRecord, TableError> {
    StringRecord::from_byte_record(record.clone()).map_err(|error| {
        let column = error.utf8_error().field() + 1;
        TableError::new(
            line,
            Some(column),
            "expected UTF-8 text, found bytes that are not UTF-8".to_string(),
            "save the file as UTF-8",
        )
    })
}

/// The file line of each record, counted as the csv reader counts line ends (`\n`, `\r\n`,
/// a lone `\r`). csv's own `Position::line` cannot serve: it is taken before the previous
/// record's line end and any blank lines after it, so it lags behind blank lines and CRLF.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Where the last record counted starts: never inside a line end.
    offset: usize,
    /// The line of `offset`.
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record csv positions at byte `position`: records are read in order,
    /// and csv's position lies before the line ends and blank lines that precede the record,
    /// so the record starts at the first byte after them.
    fn line_at(&mut self, position: usize) -> usize {
        let bytes = self.bytes;
        let mut start = position.clamp(self.offset, bytes.len());
        while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        let breaks = (self.offset..start)
            .filter(|&i| {
                bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
            })
            .count();
        self.offset = start;
        self.line += breaks;
        self.line
    }
}
