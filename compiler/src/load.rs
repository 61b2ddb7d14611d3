//! Reading the files a spec names: a csv source's columns, with missing cells handled as the
//! spec says. Problems inside a file are diagnostics at the spec's path, naming the file's
//! line and column.
//!
//! Files are read through `Files`, so that tests and the fuzz target decide what a path
//! holds; the driver reads them relative to the spec's own folder.

use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::format::human;
use crate::graph::MEMORY_LIMIT;
use crate::span::Spanned;
use crate::spec::{args, Csv, Missing, Source, Spec};
use crate::table::{self, Table, TableError};

/// Where a spec's paths lead.
pub trait Files {
    /// The bytes of the regular file at `path`, at most `limit` of them.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, Unreadable>;
}

/// Why a path could not be read, and how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreadable {
    /// Lowercase, after `cannot read PATH: `.
    pub reason: String,
    pub help: String,
}

impl Unreadable {
    pub fn new(reason: impl Into<String>, help: impl Into<String>) -> Unreadable {
        Unreadable {
            reason: reason.into(),
            help: help.into(),
        }
    }
}

/// Files relative to a folder: the spec's own.
pub struct Folder(pub PathBuf);

impl Files for Folder {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, Unreadable> {
        let full = self.0.join(path);
        let metadata = std::fs::metadata(&full).map_err(io_error)?;
        if metadata.is_dir() {
            return Err(Unreadable::new(
                "it is a folder, not a file",
                format!(
                    "name a data file inside it, as in `\"{}/FILE\"`",
                    path.trim_end_matches('/')
                ),
            ));
        }
        if !metadata.is_file() {
            return Err(Unreadable::new(
                "not a regular file",
                "name a data file saved on disk",
            ));
        }
        // Refused before it is read whole: the memory bound holds for data too.
        if metadata.len() > limit {
            return Err(Unreadable::new(
                format!(
                    "the file is {}, more than the {} limit",
                    human(metadata.len().into()),
                    human(limit.into())
                ),
                "use a shorter extract of the data",
            ));
        }
        std::fs::read(&full).map_err(io_error)
    }
}

/// An I/O error in words that do not depend on the platform for the common cases.
fn io_error(error: std::io::Error) -> Unreadable {
    match error.kind() {
        std::io::ErrorKind::NotFound => Unreadable::new(
            "no such file",
            "the path is relative to the spec's own folder",
        ),
        std::io::ErrorKind::PermissionDenied => {
            Unreadable::new("permission denied", "make the file readable by this user")
        }
        _ => Unreadable::new(
            error.to_string(),
            "the path is relative to the spec's own folder",
        ),
    }
}

impl Folder {
    /// The folder of the spec at `spec_path`.
    pub fn of(spec_path: &Path) -> Folder {
        Folder(spec_path.parent().unwrap_or(Path::new("")).to_path_buf())
    }
}

/// The columns a series spec reads, each row a time step, missing cells handled.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub inputs: Vec<Column>,
    pub targets: Vec<Column>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn rows(&self) -> usize {
        self.inputs.first().map_or(0, |column| column.values.len())
    }
}

/// A text source's characters as symbols: the vocabulary is the file's distinct characters
/// in code-point order (as char-rnn sorts them), and `ids` each character's index in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    pub vocabulary: Vec<char>,
    pub ids: Vec<u32>,
}

/// Reads the text a text source names; `None` for another source or when the file cannot
/// be a text to learn from (the diagnostics say why).
pub fn text(spec: &Spec, files: &dyn Files, diagnostics: &mut Vec<Diagnostic>) -> Option<Text> {
    let Source::Text { path } = &spec.data.source.value else {
        return None;
    };
    let text = read_text(path, files, diagnostics)?;
    let vocabulary = sorted_distinct(text.chars());
    if vocabulary.len() < 2 {
        diagnostics.push(too_few_characters(path, &vocabulary));
        return None;
    }
    let ids = SymbolIndex::new(&vocabulary).symbols(&text);
    Some(Text { vocabulary, ids })
}

/// The UTF-8 text of the file at a spec's path, or a diagnostic at the path saying why not.
fn read_text(
    path: &Spanned<String>,
    files: &dyn Files,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<String> {
    let bytes = files
        .read(&path.value, MEMORY_LIMIT as u64)
        .map_err(|error| diagnostics.push(unreadable(path, &error)))
        .ok()?;
    String::from_utf8(bytes)
        .map_err(|error| diagnostics.push(not_utf8(path, error.utf8_error().valid_up_to())))
        .ok()
}

/// A vocabulary: the distinct characters, in code-point order (as char-rnn sorts them).
/// A text is mostly ASCII: those are marked in a table, the rest gathered in a set, rather
/// than every character sorted (`lstmc lsp` does this on every change).
fn sorted_distinct(chars: impl Iterator<Item = char>) -> Vec<char> {
    let mut ascii = [false; 128];
    let mut others = std::collections::BTreeSet::new();
    for c in chars {
        match c.is_ascii() {
            true => ascii[c as usize] = true,
            false => {
                others.insert(c);
            }
        }
    }
    let seen = (0..128u8)
        .filter(|&b| ascii[usize::from(b)])
        .map(char::from);
    seen.chain(others).collect()
}

/// Characters to their index in a vocabulary that holds them all, ASCII by a table.
struct SymbolIndex<'a> {
    vocabulary: &'a [char],
    ascii: [u32; 128],
}

impl<'a> SymbolIndex<'a> {
    fn new(vocabulary: &'a [char]) -> SymbolIndex<'a> {
        let mut index = SymbolIndex {
            vocabulary,
            ascii: [0; 128],
        };
        for &c in vocabulary.iter().filter(|c| c.is_ascii()) {
            index.ascii[c as usize] = index.search(c);
        }
        index
    }

    fn search(&self, c: char) -> u32 {
        self.vocabulary
            .binary_search(&c)
            .expect("every character is in the vocabulary") as u32
    }

    /// Each character of `text` as its symbol.
    fn symbols(&self, text: &str) -> Vec<u32> {
        text.chars()
            .map(|c| match c.is_ascii() {
                true => self.ascii[c as usize],
                false => self.search(c),
            })
            .collect()
    }
}

/// A lines source's items: each line that is not blank (a `\r` before its end dropped), its
/// characters as symbols of a vocabulary whose first symbol, `'\n'`, marks an item's start
/// and end (no line holds it).
#[derive(Clone, Debug, PartialEq)]
pub struct Lines {
    pub vocabulary: Vec<char>,
    pub items: Vec<Vec<u32>>,
}

pub fn lines(spec: &Spec, files: &dyn Files, diagnostics: &mut Vec<Diagnostic>) -> Option<Lines> {
    let Source::Lines { path } = &spec.data.source.value else {
        return None;
    };
    let text = read_text(path, files, diagnostics)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        diagnostics.push(
            Diagnostic::error(
                format!("{} holds no line", path.value),
                path.span,
                "this file",
            )
            .with_help("a lines source learns from the file's lines: one item a line"),
        );
        return None;
    }
    let marked = lines.iter().flat_map(|line| line.chars()).chain(['\n']);
    let vocabulary = sorted_distinct(marked);
    let index = SymbolIndex::new(&vocabulary);
    let items = lines.iter().map(|line| index.symbols(line)).collect();
    Some(Lines { vocabulary, items })
}

fn not_utf8(path: &Spanned<String>, offset: usize) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{} is not UTF-8: the first bad sequence starts at byte {offset}",
            path.value
        ),
        path.span,
        "this file",
    )
    .with_help("a text source reads UTF-8 characters; convert the file, e.g. with `iconv -t UTF-8`")
}

fn too_few_characters(path: &Spanned<String>, vocabulary: &[char]) -> Diagnostic {
    let what = match vocabulary {
        [] => "is empty".to_string(),
        [only] => format!("holds one distinct character, {only:?}"),
        _ => unreachable!("called for fewer than two characters"),
    };
    Diagnostic::error(format!("{} {what}", path.value), path.span, "this file").with_help(
        "a language model predicts the next character: the text needs at least two different ones",
    )
}

/// Reads the series a csv source names; `None` for a symbol source or when the file does
/// not hold what the spec asks for (the diagnostics say why).
pub fn series(spec: &Spec, files: &dyn Files, diagnostics: &mut Vec<Diagnostic>) -> Option<Series> {
    let Source::Csv(csv) = &spec.data.source.value else {
        return None;
    };
    let path = &csv.path;
    let bytes = files
        .read(&path.value, MEMORY_LIMIT as u64)
        .map_err(|error| diagnostics.push(unreadable(path, &error)))
        .ok()?;
    let table = table::read_csv(&bytes)
        .map_err(|error| diagnostics.push(inside_file(path, &error)))
        .ok()?;
    let inputs = column_indices(&table, csv, &csv.inputs, diagnostics);
    let targets = column_indices(&table, csv, &csv.targets, diagnostics);
    let (inputs, targets) = (inputs?, targets?);
    let chosen: Vec<usize> = inputs.iter().chain(&targets).copied().collect();
    let (filled, lines) = table::fill_missing(&table, &chosen, table_missing(csv.missing))
        .map_err(|error| diagnostics.push(inside_file(path, &error)))
        .ok()?;
    if let Some(error) = beyond_f32(&filled, &chosen, &lines) {
        diagnostics.push(inside_file(path, &error));
        return None;
    }
    let column = |position: usize, index: usize| Column {
        name: table.header()[index].clone(),
        values: filled[position].clone(),
    };
    Some(Series {
        inputs: inputs
            .iter()
            .enumerate()
            .map(|(p, &i)| column(p, i))
            .collect(),
        targets: targets
            .iter()
            .enumerate()
            .map(|(p, &i)| column(inputs.len() + p, i))
            .collect(),
    })
}

/// The first value that f32, in which lstmc trains and predicts, cannot hold: `columns` the
/// file's columns `chosen`, their rows on `lines`.
pub fn beyond_f32(columns: &[Vec<f64>], chosen: &[usize], lines: &[usize]) -> Option<TableError> {
    for (column, &index) in columns.iter().zip(chosen) {
        if let Some(row) = column.iter().position(|v| v.abs() > f64::from(f32::MAX)) {
            return Some(TableError {
                line: lines[row],
                column: Some(index + 1),
                message: format!(
                    "{:e} is beyond the range lstmc computes in (f32, about ±3.4e38)",
                    column[row]
                ),
                help: Some(
                    "rescale the column in the file, e.g. to thousands or millions".to_string(),
                ),
            });
        }
    }
    None
}

pub fn table_missing(missing: Missing) -> table::Missing {
    match missing {
        Missing::Error => table::Missing::Error,
        Missing::Drop => table::Missing::Drop,
        Missing::Previous => table::Missing::Previous,
        Missing::Interpolate => table::Missing::Interpolate,
    }
}

/// Each named column's position in the header; every name that is not there is reported.
fn column_indices(
    table: &Table,
    csv: &Csv,
    names: &[Spanned<String>],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<usize>> {
    let before = diagnostics.len();
    let indices: Vec<usize> = names
        .iter()
        .filter_map(|name| {
            let index = table.column_index(&name.value);
            if index.is_none() {
                diagnostics.push(no_such_column(table, csv, name));
            }
            index
        })
        .collect();
    (diagnostics.len() == before).then_some(indices)
}

fn no_such_column(table: &Table, csv: &Csv, name: &Spanned<String>) -> Diagnostic {
    let header: Vec<&str> = table.header().iter().map(String::as_str).collect();
    let diagnostic = Diagnostic::error(
        format!("no column `{}` in {}", name.value, csv.path.value),
        name.span,
        "not in the file's header",
    )
    .with_note_at(csv.path.span, format!("header: {}", header.join(", ")));
    // One column whose name holds a `;` or a tab is a file that separates fields otherwise.
    if let [only] = header[..] {
        if let Some(separator) = [';', '\t'].into_iter().find(|s| only.contains(*s)) {
            return diagnostic.with_help(format!(
                "the file seems to separate its fields with {separator:?}; lstmc reads comma-separated values: convert the file"
            ));
        }
    }
    match args::suggest(&name.value, &header) {
        Some(close) => diagnostic.with_help(format!("did you mean `{close}`?")),
        None => diagnostic.with_help(format!("name one of: {}", header.join(", "))),
    }
}

fn unreadable(path: &Spanned<String>, error: &Unreadable) -> Diagnostic {
    Diagnostic::error(
        format!("cannot read {}: {}", path.value, error.reason),
        path.span,
        "this path",
    )
    .with_help(error.help.clone())
}

fn inside_file(path: &Spanned<String>, error: &TableError) -> Diagnostic {
    let column = error.column.map_or(String::new(), |c| format!(":{c}"));
    let diagnostic = Diagnostic::error(
        format!("{}:{}{column}: {}", path.value, error.line, error.message),
        path.span,
        "in this file",
    );
    match &error.help {
        Some(help) => diagnostic.with_help(help.clone()),
        None => diagnostic,
    }
}
