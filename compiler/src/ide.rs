//! What an editor asks of a spec, as plain data for `lstmc lsp` to send: the diagnostics
//! `lstmc check` reports, each layer's output shape and parameters as an inlay hint, the
//! meaning of the word under the cursor, and the words to complete. Hover and completion
//! share one reading of where a word stands (a section, a layer, an item of a statement, an
//! argument of a call, the value of an option), and look the words that stand there up in
//! specs/README.md, read once. Positions are LSP's: a line and a column in UTF-16 code
//! units, both from 0.

use std::ops::Range;
use std::sync::LazyLock;

use crate::format::group;
use crate::graph::Op;
use crate::span::Span;
use crate::Compiled;

/// The language's reference: `specs/README.md`'s tables, a word and its meaning a row, and
/// `show`'s list.
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

/// A word of the language and what it means, from the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// `lstm`, `frame=`, `adam`: the word as it is written, with the `=` of an option.
    pub word: String,
    /// Its syntax, as the reference writes it: `lstm N [stateful] ...`, `frame=lag(in, out)`.
    pub syntax: String,
    pub meaning: String,
}

/// The reference's words, read once for every request.
static WORDS: LazyLock<Reference> = LazyLock::new(|| Reference::read(REFERENCE));

/// The words of the reference, by where they may stand.
#[derive(Default)]
struct Reference {
    /// `model`, `data`, ...: the first word of a statement at the top level.
    sections: Vec<Entry>,
    /// `input`, `lstm`, ...: the first word of a line of a model block.
    layers: Vec<Entry>,
    /// What may follow a statement's first word, by that word: a section's options (`data`:
    /// `source=`, ...), `show`'s items, a layer's flags and options (`lstm`: `stateful`,
    /// `merge=`, ...).
    items: Vec<(String, Entry)>,
    /// The rows of an option's own table of values, by the option (`missing`: `drop`, ...).
    values: Vec<(String, Entry)>,
    /// The rows of a call's own table of arguments, by the call (`csv`: `path`, `inputs=`, ...).
    arguments: Vec<(String, Entry)>,
    /// Each call the reference writes with its parameters, in its longest form
    /// (`adam(lr=0.001, beta1=0.9, ...)`, where `optimizer=`'s row writes `adam(...)`).
    calls: Vec<Entry>,
}

impl Reference {
    /// Reads the tables, each classed by its header's first cell (`line`, `option`, `` `csv`
    /// argument ``, `` `missing=` ``), and `show`'s list.
    fn read(text: &str) -> Reference {
        let sections = SECTIONS.iter().map(|&(word, syntax, meaning)| Entry {
            word: word.to_string(),
            syntax: syntax.to_string(),
            meaning: meaning.to_string(),
        });
        let mut reference = Reference {
            sections: sections.collect(),
            ..Reference::default()
        };
        let lines = prose(text);
        let mut table_rows = Vec::new();
        let mut section: Option<&str> = None;
        let mut at = 0;
        while at < lines.len() {
            let line = lines[at];
            if let Some(heading) = line.strip_prefix("### ") {
                section = heading.split('`').nth(1).and_then(|h| h.split(' ').next());
            } else if line.starts_with("## ") {
                section = None;
            } else if line.starts_with('|')
                && lines.get(at + 1).is_some_and(|l| l.starts_with("|--"))
            {
                let end = block_end(&lines, at + 2, |l| l.starts_with('|'));
                let header = cells(line);
                let rows = rows(&header, &lines[at + 2..end]);
                table_rows.extend(reference.table(section, &header, rows));
                at = end;
                continue;
            } else if section == Some("show") && line.starts_with("- ") {
                let end = block_end(&lines, at + 1, |l| l.starts_with("  "));
                let bullet = lines[at..end]
                    .iter()
                    .map(|l| l.trim_start_matches("- ").trim());
                let items = show_items(&bullet.collect::<Vec<&str>>().join(" "));
                let show = items.into_iter().map(|item| ("show".to_string(), item));
                reference.items.extend(show);
                at = end;
                continue;
            }
            at += 1;
        }
        reference.add_flags();
        reference.calls = reference.written_calls(table_rows);
        reference
    }

    /// Files a table's rows where its header says they belong; returns those of a table of
    /// calls (the optimizers'), which only say what a call's parameters are.
    fn table(&mut self, section: Option<&str>, header: &[String], rows: Vec<Entry>) -> Vec<Entry> {
        let first = header[0].as_str();
        let named = |suffix: &str| Some(first.strip_suffix(suffix)?.strip_prefix('`')?.to_string());
        let filed = |name: &str| -> Vec<(String, Entry)> {
            rows.iter()
                .map(|row| (name.to_string(), row.clone()))
                .collect()
        };
        if first == "line" {
            self.layers.extend(rows);
        } else if first == "option" {
            if let Some(section) = section {
                self.items.extend(filed(section));
            }
        } else if let Some(call) = named("` argument") {
            self.arguments.extend(filed(&call));
        } else if let Some(option) = named("=`") {
            self.values.extend(filed(&option));
        } else if !first.ends_with(" item") {
            return rows;
        }
        // A `show` item table words `show`'s list again for one source; the list says it
        // for every source.
        Vec::new()
    }

    /// Each layer's flags and options, as items of the layer.
    fn add_flags(&mut self) {
        let mut items = Vec::new();
        for layer in &self.layers {
            let names = flag_tokens(&layer.syntax);
            let flags: Vec<&str> = names.iter().map(|t| bare(word_of(t))).collect();
            for token in &names {
                let word = word_of(token);
                let flag = Entry {
                    word: word.to_string(),
                    syntax: token.clone(),
                    meaning: flag_meaning(&self.layers, layer, bare(word), &flags),
                };
                items.push((layer.word.clone(), flag));
            }
        }
        self.items.extend(items);
    }

    /// The longest form of each call that the tables, the values their rows list, and
    /// `show`'s items write.
    fn written_calls(&self, table_rows: Vec<Entry>) -> Vec<Entry> {
        let listed = self.items.iter().flat_map(|(_, option)| listed(option));
        let rows = self.values.iter().map(|(_, row)| row.clone());
        let items = self.items.iter().map(|(_, item)| item.clone());
        let mut calls: Vec<Entry> = Vec::new();
        let written = table_rows
            .into_iter()
            .chain(rows)
            .chain(items)
            .chain(listed);
        for entry in written.filter(|e| e.syntax.starts_with(&format!("{}(", e.word))) {
            keep_longest(&mut calls, entry);
        }
        calls
    }

    /// The words that may stand at `place`.
    fn candidates(&self, place: &Place) -> Vec<Entry> {
        match place {
            Place::Section => self.sections.clone(),
            Place::Layer => self.layers.clone(),
            Place::Item(owner) => self.items(owner),
            Place::Value(owner, option) => {
                let items = self.items(owner);
                let option = items.iter().find(|item| bare(&item.word) == option);
                option.map_or_else(Vec::new, |option| self.values(option))
            }
            Place::Nowhere => Vec::new(),
        }
    }

    /// A statement's items, or a call's arguments.
    fn items(&self, owner: &Owner) -> Vec<Entry> {
        match owner {
            Owner::Statement(word) => by_name(&self.items, word),
            Owner::Call(name) => {
                let table = by_name(&self.arguments, name);
                if !table.is_empty() {
                    // Named, as any argument may be: `csv(path="...")`.
                    let named = table.into_iter().map(|row| Entry {
                        word: format!("{}=", bare(&row.word)),
                        ..row
                    });
                    return named.collect();
                }
                let call = self.calls.iter().find(|call| call.word == *name);
                call.map_or_else(Vec::new, parameters)
            }
        }
    }

    /// The values of `option`: its own table's rows, the alternatives its syntax writes
    /// (`order=first|random`), or the values its meaning lists.
    fn values(&self, option: &Entry) -> Vec<Entry> {
        let name = bare(&option.word);
        let table = by_name(&self.values, name);
        if !table.is_empty() {
            let rows = table.into_iter();
            return rows
                .map(|row| Entry {
                    syntax: format!("{name}={}", row.syntax),
                    ..row
                })
                .collect();
        }
        let written = option.syntax.split_once('=').map_or("", |(_, value)| value);
        if written.contains('|') {
            let alternatives: Vec<&str> = written.split('|').collect();
            return alternatives
                .iter()
                .map(|&word| Entry {
                    word: word.to_string(),
                    syntax: option.syntax.clone(),
                    meaning: passage(&option.meaning, |c| mentions(c, word), &alternatives)
                        .unwrap_or_else(|| option.meaning.clone()),
                })
                .collect();
        }
        let values = listed(option).into_iter();
        values
            .map(|value| {
                let call = self.calls.iter().find(|call| call.word == value.word);
                let Some(call) = call.filter(|_| value.syntax.contains('(')) else {
                    return Entry {
                        syntax: format!("{name}={}", value.syntax),
                        ..value
                    };
                };
                // A call's own row (`adam`'s update rule) says more than the option's.
                let mut meaning = value.meaning;
                if call.meaning != meaning {
                    meaning = format!("{meaning}\n\n{}", call.meaning);
                }
                Entry {
                    word: value.word,
                    syntax: format!("{name}={}", call.syntax),
                    meaning,
                }
            })
            .collect()
    }
}

/// The lines of Markdown outside its code blocks, whose lines are a spec's or a shell's.
fn prose(text: &str) -> Vec<&str> {
    let mut in_code = false;
    let lines = text.lines().filter(|line| {
        in_code ^= line.starts_with("```");
        !in_code && !line.starts_with("```")
    });
    lines.collect()
}

/// Where the block that goes on from `from` with lines that `goes_on` ends.
fn block_end(lines: &[&str], from: usize, goes_on: impl Fn(&str) -> bool) -> usize {
    from + lines[from..].iter().take_while(|l| goes_on(l)).count()
}

/// Adds `entry` to `entries`, or puts its syntax in place of the same word's when longer:
/// `predictions(count, order=first|random)` for `predictions`.
fn keep_longest(entries: &mut Vec<Entry>, entry: Entry) {
    match entries.iter_mut().find(|e| e.word == entry.word) {
        Some(kept) if kept.syntax.len() < entry.syntax.len() => kept.syntax = entry.syntax,
        Some(_) => {}
        None => entries.push(entry),
    }
}

/// The entries filed under `name`.
fn by_name(filed: &[(String, Entry)], name: &str) -> Vec<Entry> {
    let named = filed.iter().filter(|(under, _)| under == name);
    named.map(|(_, entry)| entry.clone()).collect()
}

/// A table row's cells, trimmed, with Markdown's `\|` read as `|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let cells = inner
        .split(" | ")
        .map(|cell| cell.trim().replace("\\|", "|"));
    cells.collect()
}

/// A table's rows, each a word when its first cell is one in backticks (not `--prime TEXT`,
/// an option of `lstmc sample`); the meaning is the first column after it that is not Keras'
/// (a peer's name is not a meaning).
fn rows(header: &[String], lines: &[&str]) -> Vec<Entry> {
    let Some(column) = (1..header.len()).find(|&c| header[c] != "Keras") else {
        return Vec::new();
    };
    let rows = lines.iter().map(|line| cells(line));
    rows.filter_map(|cells| {
        let syntax = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
        let word = word_of(syntax);
        let is_word = word.starts_with(|c: char| c.is_ascii_lowercase());
        is_word.then(|| Entry {
            word: word.to_string(),
            syntax: syntax.to_string(),
            meaning: cells.get(column).cloned().unwrap_or_default(),
        })
    })
    .collect()
}

/// A bullet of `show`'s list (`` `rmse`, `mae`: meaning ``): the items it names, each in
/// its longest written form, sharing the meaning after the first `: ` outside backticks.
fn show_items(bullet: &str) -> Vec<Entry> {
    let Some(colon) = outside_code(bullet).find(|&(at, _)| bullet[at..].starts_with(": ")) else {
        return Vec::new();
    };
    let (head, meaning) = (&bullet[..colon.0], &bullet[colon.0 + 2..]);
    let meaning = meaning.trim_end_matches([';', '.']);
    let mut items = Vec::new();
    for form in head.split('`').skip(1).step_by(2) {
        let item = Entry {
            word: word_of(form).to_string(),
            syntax: form.to_string(),
            meaning: meaning.to_string(),
        };
        keep_longest(&mut items, item);
    }
    items
}

/// The characters of `text` outside backticks, with their offsets.
fn outside_code(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut code = false;
    text.char_indices().filter(move |&(_, c)| {
        code ^= c == '`';
        !code && c != '`'
    })
}

/// The flags and options a layer's syntax writes after its word, bracketed or not
/// (`stateful`, `merge=M`, `softmax`, `steps=T`); the placeholders (`N`) are not.
fn flag_tokens(syntax: &str) -> Vec<String> {
    let tokens = syntax.split_whitespace().skip(1);
    let alternatives = tokens.flat_map(|token| token.trim_matches(['[', ']']).split('|'));
    let flags = alternatives.filter(|t| t.starts_with(|c: char| c.is_ascii_lowercase()));
    flags.map(str::to_string).collect()
}

/// What a layer's flag means: the passage of a layer's row that starts with it, the layer's
/// own row first (`gru`'s says its flags are `lstm`'s); else the passage of its row that
/// mentions it (`softmax`); else what the layer is (`relu`, `steps=`).
fn flag_meaning(layers: &[Entry], layer: &Entry, flag: &str, flags: &[&str]) -> String {
    let rows = std::iter::once(layer).chain(layers);
    let starting = rows
        .filter_map(|row| passage(&row.meaning, |c| starts_with(c, flag), flags))
        .next();
    starting
        .or_else(|| passage(&layer.meaning, |c| mentions(c, flag), flags))
        .or_else(|| {
            let first = clauses(&layer.meaning).into_iter().next()?;
            Some(layer.meaning[first].to_string())
        })
        .unwrap_or_default()
}

/// The parameters a call's syntax writes, `name=` each (a positional argument may be
/// named too), meaning what the call's meaning says of them.
fn parameters(call: &Entry) -> Vec<Entry> {
    let inside = call.syntax.split_once('(').map_or("", |(_, rest)| rest);
    let inside = inside.strip_suffix(')').unwrap_or(inside);
    let written: Vec<&str> = inside.split(", ").collect();
    let names: Vec<&str> = written.iter().map(|p| bare(word_of(p))).collect();
    let parameters = written.iter().zip(&names);
    parameters
        .filter(|(_, name)| name.starts_with(|c: char| c.is_ascii_lowercase()))
        .map(|(&parameter, &name)| {
            let alternatives = parameter.split_once('=').map_or("", |(_, v)| v).split('|');
            let words: Vec<&str> = std::iter::once(name).chain(alternatives).collect();
            let about = |clause: &str| words.iter().any(|word| mentions(clause, word));
            let others: Vec<&str> = names.iter().copied().filter(|n| *n != name).collect();
            let mut meaning = format!("an argument of `{}`", call.syntax);
            if let Some(passage) = passage(&call.meaning, about, &others) {
                meaning = format!("{meaning}: {passage}");
            }
            Entry {
                word: format!("{name}="),
                syntax: parameter.to_string(),
                meaning,
            }
        })
        .collect()
}

/// The values an option's meaning lists: each backticked word (or call) that a `:`, `,`,
/// `.` or the cell's end follows or an `or` joins, as the tables list them (`` `normalize`:
/// one feature ...; `one_hot`: ... ``), but for a peer's own names (`` Keras'
/// `pad_sequences` ``) and what a value is for (`` for `streams`, the number of ... ``).
/// Each means the passage about it.
fn listed(option: &Entry) -> Vec<Entry> {
    let meaning = &option.meaning;
    let mut values: Vec<(String, String)> = Vec::new();
    let pieces: Vec<&str> = meaning.split('`').collect();
    for at in (1..pieces.len().saturating_sub(1)).step_by(2) {
        let (before, token, after) = (pieces[at - 1], pieces[at], pieces[at + 1]);
        if before.ends_with("' ") || before.ends_with("for ") {
            continue;
        }
        let word = word_of(token);
        let listed = after.starts_with([':', ',', '.'])
            || after.is_empty()
            || after.starts_with(" or ")
            || before.ends_with(" or ");
        let whole = token.len() == word.len() || token[word.len()..].starts_with('(');
        let value = word.starts_with(|c: char| c.is_ascii_lowercase());
        if listed && whole && value && !values.iter().any(|(w, _)| w == word) {
            values.push((word.to_string(), token.to_string()));
        }
    }
    let words: Vec<&str> = values.iter().map(|(word, _)| word.as_str()).collect();
    values
        .iter()
        .map(|(word, token)| {
            let passage = passage(meaning, |c| mentions(c, word), &words).unwrap_or_default();
            // The value's syntax is its entry's already.
            let own = passage.strip_prefix(&format!("`{token}`: "));
            Entry {
                word: word.clone(),
                syntax: token.clone(),
                meaning: own.map_or_else(|| passage.clone(), str::to_string),
            }
        })
        .collect()
}

/// The clauses of a meaning, as byte ranges: its parts between `; ` and `. ` outside
/// backticks and parentheses.
fn clauses(meaning: &str) -> Vec<Range<usize>> {
    let mut clauses = Vec::new();
    let (mut start, mut depth) = (0, 0);
    for (at, c) in outside_code(meaning) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ';' | '.' if depth <= 0 && meaning[at + 1..].starts_with(' ') => {
                clauses.push(start..at);
                start = at + 2;
            }
            _ => {}
        }
    }
    clauses.push(start..meaning.len());
    clauses.retain(|clause| !meaning[clause.clone()].trim().is_empty());
    clauses
}

/// The clauses of `meaning` from the first that `first` accepts, on until one that mentions
/// another of `others`: `lstm`'s `dropout=R` and the sentences on its mask that follow.
fn passage(meaning: &str, first: impl Fn(&str) -> bool, others: &[&str]) -> Option<String> {
    let clauses = clauses(meaning);
    let start = clauses.iter().position(|c| first(&meaning[c.clone()]))?;
    let about_another = |c: &Range<usize>| {
        let clause = &meaning[c.clone()];
        others
            .iter()
            .any(|other| !first(clause) && mentions(clause, other))
    };
    let end = clauses[start + 1..]
        .iter()
        .position(about_another)
        .map_or(clauses.len(), |n| start + 1 + n);
    let text = &meaning[clauses[start].start..clauses[end - 1].end];
    Some(text.trim_end_matches(['.', ';']).to_string())
}

/// Whether `clause` writes `word` in backticks, alone, as an option or as a call.
fn mentions(clause: &str, word: &str) -> bool {
    ['`', '=', '(']
        .iter()
        .any(|end| clause.contains(&format!("`{word}{end}")))
}

/// Whether `clause` starts with `word` in backticks, alone, as an option or as a call.
fn starts_with(clause: &str, word: &str) -> bool {
    ['`', '=', '(']
        .iter()
        .any(|end| clause.starts_with(&format!("`{word}{end}")))
}

/// The word a syntax starts with, with the `=` of an option: `frame=` of `frame=`, `lstm`
/// of `lstm N [...]`, `merge=` of `merge=M`.
fn word_of(syntax: &str) -> &str {
    let name = syntax.len() - syntax.trim_start_matches(is_word).len();
    let with_equals = name + usize::from(syntax[name..].starts_with('='));
    &syntax[..with_equals]
}

/// A word without the `=` of an option.
fn bare(word: &str) -> &str {
    word.trim_end_matches('=')
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where a word stands, which decides what it may be.
#[derive(Clone, Debug, PartialEq)]
enum Place {
    /// The first word of a statement at the top level: a section.
    Section,
    /// The first word of a line of a model block: a layer.
    Layer,
    /// An item of a statement (`lstm 10 stateful`, `data frame=...`) or an argument of a
    /// call (`adam(lr=...)`).
    Item(Owner),
    /// The value of an option: `frame=` of `data`, `order=` of `predictions(...)`.
    Value(Owner, String),
    /// Nowhere a word of the language stands: a comment, a string, a number's digits.
    Nowhere,
}

/// What an item belongs to.
#[derive(Clone, Debug, PartialEq)]
enum Owner {
    /// A statement, by its first word: `data`, `lstm`.
    Statement(String),
    /// A call, by its name: `adam`, `predictions`.
    Call(String),
}

/// Where the word that starts at `start` stands, from the text before it, read as the
/// parser reads a spec: statements end at a line's end outside parentheses and at braces;
/// `#` starts a comment and `"` a string.
fn place(text: &str, start: usize) -> Place {
    #[derive(PartialEq)]
    enum Mode {
        Code,
        Comment,
        Text,
        Escape,
    }
    let mut scan = Scan::new();
    let mut word = String::new();
    let mut mode = Mode::Code;
    for c in text[..start].chars() {
        match (&mode, c) {
            (Mode::Comment | Mode::Text, '\n') => {
                mode = Mode::Code;
                scan.newline();
            }
            (Mode::Text, '"') => mode = Mode::Code,
            (Mode::Text, '\\') => mode = Mode::Escape,
            (Mode::Escape, _) => mode = Mode::Text,
            (Mode::Comment | Mode::Text, _) => {}
            (Mode::Code, c) if is_word(c) => word.push(c),
            (Mode::Code, c) => {
                if !word.is_empty() {
                    scan.word(std::mem::take(&mut word));
                }
                match c {
                    '#' => mode = Mode::Comment,
                    '"' => {
                        mode = Mode::Text;
                        scan.last = Token::Other;
                    }
                    c => scan.symbol(c),
                }
            }
        }
    }
    if mode != Mode::Code {
        return Place::Nowhere;
    }
    if !word.is_empty() {
        scan.word(word);
    }
    scan.place()
}

/// The state of a statement read up to a word.
struct Scan {
    /// Open blocks: a statement inside one is a layer.
    blocks: usize,
    /// The statement's first word, once read.
    statement: Option<String>,
    /// The statement's own items, then a frame a call open around the word.
    frames: Vec<Frame>,
    /// The token before the word.
    last: Token,
}

#[derive(Default)]
struct Frame {
    /// The call's name; none for the statement's items.
    call: Option<String>,
    /// `name` while the item being read is `name=...`.
    option: Option<String>,
}

#[derive(PartialEq)]
enum Token {
    /// An item's start: the statement's, after `(` or after `,`.
    Start,
    Word(String),
    Equals,
    Other,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            blocks: 0,
            statement: None,
            frames: vec![Frame::default()],
            last: Token::Start,
        }
    }

    fn word(&mut self, word: String) {
        if self.statement.is_none() {
            self.statement = Some(word.clone());
        }
        self.last = Token::Word(word);
    }

    fn symbol(&mut self, c: char) {
        match c {
            '\n' => self.newline(),
            '{' => {
                self.blocks += 1;
                self.end_statement();
            }
            '}' => {
                self.blocks = self.blocks.saturating_sub(1);
                self.end_statement();
            }
            '=' => {
                let name = match &self.last {
                    Token::Word(word) => Some(word.clone()),
                    _ => None,
                };
                self.frame().option = name;
                self.last = Token::Equals;
            }
            '(' => {
                let call = match std::mem::replace(&mut self.last, Token::Start) {
                    Token::Word(word) => Some(word),
                    _ => None,
                };
                self.frames.push(Frame { call, option: None });
            }
            ')' => {
                if self.frames.len() > 1 {
                    self.frames.pop();
                }
                self.last = Token::Other;
            }
            ',' => {
                self.frame().option = None;
                self.last = Token::Start;
            }
            // Between a statement's items a space ends a value; `name = value` may space
            // its `=`.
            c if c.is_whitespace() => {
                if self.frames.len() == 1 && self.last != Token::Equals {
                    self.frame().option = None;
                }
            }
            _ => self.last = Token::Other,
        }
    }

    /// A line's end ends the statement, but inside parentheses, where it is a space.
    fn newline(&mut self) {
        if self.frames.len() > 1 {
            self.symbol(' ');
        } else {
            self.end_statement();
        }
    }

    fn end_statement(&mut self) {
        self.statement = None;
        self.frames = vec![Frame::default()];
        self.last = Token::Start;
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames
            .last_mut()
            .expect("a statement's own frame is never popped")
    }

    fn place(self) -> Place {
        let Some(statement) = self.statement else {
            return if self.blocks > 0 {
                Place::Layer
            } else {
                Place::Section
            };
        };
        let frame = &self.frames[self.frames.len() - 1];
        let owner = match (&frame.call, self.frames.len()) {
            (_, 1) => Owner::Statement(statement),
            (Some(call), _) => Owner::Call(call.clone()),
            (None, _) => return Place::Nowhere,
        };
        match (&self.last, &frame.option) {
            (Token::Equals, Some(option)) => Place::Value(owner, option.clone()),
            (Token::Equals, None) | (_, Some(_)) => Place::Nowhere,
            (_, None) => Place::Item(owner),
        }
    }
}

/// What the word under `offset` means where it stands, in Markdown: `accuracy` as `show`'s
/// item, `random` as a value of `order=` in `predictions(...)`. On a layer of a spec that
/// checks, also the shape it outputs and its parameters.
pub fn hover(compiled: &Compiled, offset: usize) -> Option<String> {
    let text = &compiled.text;
    let (start, word) = word_at(text, offset)?;
    let place = place(text, start);
    let candidates = WORDS.candidates(&place);
    let entry = candidates.iter().find(|e| bare(&e.word) == word)?;
    let mut hover = format!("`{}`\n\n{}", entry.syntax, entry.meaning);
    if place == Place::Layer {
        if let Some(here) = layer_at(compiled, start) {
            hover += &here;
        }
    }
    Some(hover)
}

/// The shape and parameters of the layer written at `offset`, in a spec that checks.
fn layer_at(compiled: &Compiled, offset: usize) -> Option<String> {
    let Ok((_, checked)) = &compiled.result else {
        return None;
    };
    let chain = checked.graph.chain();
    let node = chain.iter().find(|node| {
        let span = node.span;
        !matches!(node.op, Op::Loss(_))
            && (span.start as usize..span.end as usize).contains(&offset)
    })?;
    let params = group(node.params);
    Some(format!(
        "\n\nHere: outputs `{}`, {params} parameters.",
        node.output
    ))
}

/// What may be written at `offset`: a section at a statement's start, a layer at a line's
/// start in the model block, a statement's items after its first word (a layer's flags, a
/// section's options, `show`'s items), a call's arguments inside it, an option's values
/// after `option=`; nothing in a comment or a string.
pub fn completions(text: &str, offset: usize) -> Vec<Entry> {
    let before = &text[..offset.min(text.len())];
    let start = before.trim_end_matches(is_word).len();
    WORDS.candidates(&place(text, start))
}

/// The word of letters, digits and `_` around `offset`, and where it starts.
fn word_at(text: &str, offset: usize) -> Option<(usize, &str)> {
    let offset = offset.min(text.len());
    let start = text[..offset].trim_end_matches(is_word).len();
    let end = text.len() - text[offset..].trim_start_matches(is_word).len();
    let word = &text[start..end];
    (!word.is_empty()).then_some((start, word))
}
