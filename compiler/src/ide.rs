//! What an editor asks of a spec, as plain data for `lstmc lsp` to send: the diagnostics
//! `lstmc check` reports, each layer's output shape and parameters as an inlay hint, the
//! meaning of a keyword or option under the cursor, and the words to complete. Positions
//! are LSP's: a line and a column in UTF-16 code units, both from 0.

use crate::format::group;
use crate::graph::Op;
use crate::span::Span;
use crate::Compiled;

/// The language's reference: `specs/README.md`'s tables, a word and its meaning a row.
const REFERENCE: &str = include_str!("../../specs/README.md");

/// A line and a UTF-16 column, from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// Byte offsets to positions and back.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        LineIndex { text, starts }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&start| start <= offset) - 1;
        let before = &self.text[self.starts[line]..offset];
        Position {
            line: line as u32,
            column: before.encode_utf16().count() as u32,
        }
    }

    /// The byte offset of `position`, clamped to its line.
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return self.text.len();
        };
        let line = self.text[start..].split('\n').next().unwrap_or("");
        let mut units = 0;
        for (at, c) in line.char_indices() {
            if units >= position.column as usize {
                return start + at;
            }
            units += c.len_utf16();
        }
        start + line.len()
    }

    fn range(&self, span: Span) -> (Position, Position) {
        (
            self.position(span.start as usize),
            self.position(span.end as usize),
        )
    }

    /// The end of the line `offset` is on.
    fn line_end(&self, offset: usize) -> Position {
        let line = self.position(offset).line as usize;
        let start = self.starts[line];
        let text = self.text[start..].split('\n').next().unwrap_or("");
        self.position(start + text.trim_end_matches('\r').len())
    }
}

/// A diagnostic as an editor shows it: where, what (with the help), and the other places
/// that explain it.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub range: (Position, Position),
    pub message: String,
    pub related: Vec<((Position, Position), String)>,
}

/// The diagnostics `lstmc check` would print for the spec.
pub fn diagnostics(compiled: &Compiled) -> Vec<Note> {
    let Err(diagnostics) = &compiled.result else {
        return Vec::new();
    };
    let index = LineIndex::new(&compiled.text);
    diagnostics
        .iter()
        .map(|d| {
            let mut message = format!("{}: {}", d.message, d.primary.text);
            if let Some(help) = &d.help {
                message = format!("{message}\nhelp: {help}");
            }
            Note {
                range: index.range(d.primary.span),
                message,
                related: d
                    .secondary
                    .iter()
                    .map(|label| (index.range(label.span), label.text.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// A label at the end of a line.
#[derive(Clone, Debug, PartialEq)]
pub struct Hint {
    pub position: Position,
    pub label: String,
}

/// Each layer's output shape and parameters at the end of its line, as the summary shows
/// them (`[21, 2, 150]  180,600 params`); none for a spec with errors.
pub fn inlay_hints(compiled: &Compiled) -> Vec<Hint> {
    let Ok((_, checked)) = &compiled.result else {
        return Vec::new();
    };
    let index = LineIndex::new(&compiled.text);
    checked
        .graph
        .chain()
        .into_iter()
        .filter(|node| !matches!(node.op, Op::Loss(_)))
        .map(|node| Hint {
            position: index.line_end(node.span.start as usize),
            label: format!("{}  {} params", node.output, group(node.params)),
        })
        .collect()
}

/// The sections of a spec, which the reference describes in prose rather than in a table.
const SECTIONS: [(&str, &str, &str); 5] = [
    (
        "model",
        "model NAME { ... }",
        "the layers, from `input` to the last `dense`, one a line",
    ),
    (
        "data",
        "data source=... frame=... encode=...",
        "where the samples come from, and how they are framed and encoded",
    ),
    (
        "train",
        "train loss=... optimizer=... epochs=... batch=...",
        "how the model is trained",
    ),
    (
        "eval",
        "eval on=train|fresh [draws=N]",
        "the data the trained model is evaluated on",
    ),
    (
        "show",
        "show ITEM...",
        "what a run prints after training: figures, predictions, demonstrations",
    ),
];

/// A word of the language and what it means, from the reference's tables.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// `lstm`, `frame=`, `adam`: the first word of the row's syntax.
    pub word: String,
    /// The row's syntax, as written there.
    pub syntax: String,
    pub meaning: String,
}

/// Every word the reference's tables define, the first row of each word only.
pub fn reference() -> Vec<Entry> {
    let mut entries: Vec<Entry> = SECTIONS
        .iter()
        .map(|&(word, syntax, meaning)| Entry {
            word: word.to_string(),
            syntax: syntax.to_string(),
            meaning: meaning.to_string(),
        })
        .collect();
    let lines: Vec<&str> = REFERENCE.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        // A table's header row names its columns, not a word.
        if lines
            .get(index + 1)
            .is_some_and(|next| next.starts_with("|--") || next.starts_with("| --"))
        {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(syntax) = cells.first().and_then(|c| c.strip_prefix("| `")) else {
            continue;
        };
        let syntax = syntax.split('`').next().unwrap_or("").to_string();
        let word: String = syntax
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '=')
            .collect();
        if word.is_empty() || cells.len() < 2 || entries.iter().any(|e| e.word == word) {
            continue;
        }
        entries.push(Entry {
            word,
            syntax,
            meaning: cells[1].trim().to_string(),
        });
    }
    let flags = entries.iter().flat_map(layer_flags).collect::<Vec<Entry>>();
    for flag in flags {
        if !entries.iter().any(|e| e.word == flag.word) {
            entries.push(flag);
        }
    }
    entries
}

/// The flags and options a layer's syntax shows in brackets (`lstm N [stateful]
/// [dropout=R]`, `dense N [softmax|relu]`), each meaning what the layer's row says.
fn layer_flags(layer: &Entry) -> Vec<Entry> {
    let inside = layer.syntax.split('[').skip(1);
    let words = inside.flat_map(|part| {
        let part = part.split(']').next().unwrap_or("");
        part.split(['|', '\\', ' '])
            .map(|w| {
                w.split('=').next().unwrap_or("").to_string()
                    + if w.contains('=') { "=" } else { "" }
            })
            .collect::<Vec<String>>()
    });
    words
        .filter(|w| {
            w.trim_end_matches('=')
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .filter(|w| !w.trim_end_matches('=').is_empty())
        .map(|word| Entry {
            word,
            syntax: layer.syntax.clone(),
            meaning: format!("written on `{}`: {}", layer.word, layer.meaning),
        })
        .collect()
}

/// What the word under `offset` means, in Markdown; on a layer of a spec that checks, also
/// the shape it outputs and its parameters.
pub fn hover(compiled: &Compiled, offset: usize) -> Option<String> {
    let word = word_at(&compiled.text, offset)?;
    let entries = reference();
    let entry = entries
        .iter()
        .find(|e| e.word == word || e.word == format!("{word}="));
    // A value (`windows` in `frame=windows(3)`) means what its option's row says.
    let Some(entry) = entry else {
        return entries.iter().find_map(|option| {
            let values = option_values(&option.meaning);
            let (_, syntax) = values.into_iter().find(|(value, _)| *value == word)?;
            Some(format!("`{}{syntax}`\n\n{}", option.word, option.meaning))
        });
    };
    let mut text = format!("`{}`\n\n{}", entry.syntax, entry.meaning);
    if let Ok((_, checked)) = &compiled.result {
        let chain = checked.graph.chain();
        let layer = chain.iter().find(|node| {
            let span = node.span;
            !matches!(node.op, Op::Loss(_))
                && (span.start as usize..span.end as usize).contains(&offset)
        });
        if let Some(node) = layer {
            let params = group(node.params);
            text += &format!("\n\nHere: outputs `{}`, {params} parameters.", node.output);
        }
    }
    Some(text)
}

/// What to complete at `offset`: after `option=`, the values the option's row of the
/// reference names; anywhere else, every word the reference defines.
pub fn completions(text: &str, offset: usize) -> Vec<Entry> {
    let entries = reference();
    let Some(option) = option_before(text, offset) else {
        return entries;
    };
    let Some(row) = entries.iter().find(|e| e.word == option) else {
        return Vec::new();
    };
    option_values(&row.meaning)
        .into_iter()
        .map(|(word, syntax)| Entry {
            word,
            syntax,
            meaning: format!("a value of `{option}`"),
        })
        .collect()
}

/// `name=` when the word being written at `offset` is an option's value.
fn option_before(text: &str, offset: usize) -> Option<String> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let before = &text[..offset.min(text.len())];
    let value_start = before.trim_end_matches(is_word);
    let name_part = value_start.strip_suffix('=')?;
    let name_start = name_part.trim_end_matches(is_word);
    let name = &name_part[name_start.len()..];
    (!name.is_empty()).then(|| format!("{name}="))
}

/// The values a row's meaning names: each backticked word (or call) that a `:`, `,`, `.`
/// or the cell's end follows or an `or` joins, as the tables list them (`` `normalize`: one
/// feature ...; `one_hot`: ... ``), but for a peer's own names (`` Keras' `pad_sequences` ``).
fn option_values(meaning: &str) -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = Vec::new();
    let pieces: Vec<&str> = meaning.split('`').collect();
    for at in (1..pieces.len().saturating_sub(1)).step_by(2) {
        let (before, token, after) = (pieces[at - 1], pieces[at], pieces[at + 1]);
        if before.ends_with("' ") {
            continue;
        }
        let word: String = token
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let listed = after.starts_with([':', ',', '.'])
            || after.is_empty()
            || after.starts_with(" or ")
            || before.ends_with(" or ");
        let whole = token.len() == word.len() || token[word.len()..].starts_with('(');
        if listed && whole && !word.is_empty() && !values.iter().any(|(w, _)| *w == word) {
            values.push((word, token.to_string()));
        }
    }
    values
}

/// The word of letters, digits and `_` around `offset`, with the `=` after it when an
/// option's name.
fn word_at(text: &str, offset: usize) -> Option<String> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_word(c))
        .last()
        .map_or(offset, |(at, _)| at);
    let end = text[offset..]
        .char_indices()
        .find(|&(_, c)| !is_word(c))
        .map_or(text.len(), |(at, _)| offset + at);
    let word = &text[start..end];
    match (word.is_empty(), text[end..].starts_with('=')) {
        (true, _) => None,
        (false, true) => Some(format!("{word}=")),
        (false, false) => Some(word.to_string()),
    }
}
