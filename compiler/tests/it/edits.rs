//! One mistake, one error: every spec in `specs/` is edited in one place at a time (a flag
//! dropped, a layer dropped or resized or swapped with its neighbour, the input's steps or
//! features changed, the batch or an option changed), and each edit that no longer checks
//! must be reported by exactly one diagnostic whose caret lies on a line the edit touches:
//! the edited line, a model line next to it, or a section the edit interacts with. A second
//! diagnostic is a cascade of the first; a caret elsewhere blames a line that is not wrong.
//! The rendered reports of every spec's edits are kept as one insta snapshot per spec.

use std::path::Path;

use compiler::diagnostic::{self, Diagnostic};

use crate::{lstm_files, repo_root};

/// One edited version of a spec, and where its error may be reported.
struct Edit {
    /// What was changed, as the snapshot's header says.
    name: String,
    text: String,
    /// 1-based lines the primary caret may lie on.
    lines: Vec<usize>,
    /// Diagnostics the edit may cause: 1, or 2 where it breaks two independent things.
    errors: usize,
}

/// A spec's lines, with the model block's layer lines and its sections located.
struct Lines<'a> {
    lines: Vec<&'a str>,
    /// 0-based indices of the model's lines, `input` first.
    model: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn of(text: &'a str) -> Lines<'a> {
        let lines: Vec<&str> = text.lines().collect();
        let open = lines.iter().position(|l| l.starts_with("model ")).unwrap();
        let close = open + lines[open..].iter().position(|l| *l == "}").unwrap();
        Lines {
            lines,
            model: (open + 1..close).collect(),
        }
    }

    /// The 0-based index of the line starting with section keyword `word`.
    fn section(&self, word: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(word))
    }

    /// The layers, without the input line.
    fn layers(&self) -> &[usize] {
        &self.model[1..]
    }

    /// The first layer, and the last when it is another.
    fn first_and_last_layers(&self) -> Vec<usize> {
        let layers = self.layers();
        let mut places = vec![layers[0]];
        if layers.len() > 1 {
            places.push(*layers.last().unwrap());
        }
        places
    }

    /// The text with line `at` replaced by `new` (or removed for `None`).
    fn with(&self, at: usize, new: Option<String>) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            match (i == at, &new) {
                (false, _) => out.push_str(line),
                (true, Some(new)) => out.push_str(new),
                (true, None) => continue,
            }
            out.push('\n');
        }
        out
    }

    /// 1-based line numbers: `at`, the model lines either side of it, and `sections`.
    fn near(&self, at: usize, sections: &[&str]) -> Vec<usize> {
        let mut near = vec![at + 1];
        if let Some(i) = self.model.iter().position(|&m| m == at) {
            if i > 0 {
                near.push(self.model[i - 1] + 1);
            }
            if let Some(next) = self.model.get(i + 1) {
                near.push(next + 1);
            }
        }
        near.extend(
            sections
                .iter()
                .filter_map(|s| self.section(s))
                .map(|i| i + 1),
        );
        near
    }
}

/// Every section an edit of the model can meet: the data it is framed by, the loss and
/// batch that train it, and what is shown of it.
const ALL_SECTIONS: &[&str] = &["data", "train", "eval", "show"];

fn drop_flags(spec: &Lines) -> Vec<Edit> {
    let mut edits = Vec::new();
    for flag in ["stateful", "sequences", "per_step", "bidirectional"] {
        let word = format!(" {flag}");
        let Some(&at) = spec
            .layers()
            .iter()
            .find(|&&at| spec.lines[at].split_whitespace().any(|w| w == flag))
        else {
            continue;
        };
        let new = spec.lines[at].replacen(&word, "", 1);
        edits.push(Edit {
            name: format!("drop `{flag}` from line {}", at + 1),
            text: spec.with(at, Some(new)),
            lines: spec.near(at, ALL_SECTIONS),
            errors: 1,
        });
    }
    edits
}

/// Drops the first and the last layer.
fn drop_layers(spec: &Lines) -> Vec<Edit> {
    spec.first_and_last_layers()
        .into_iter()
        .map(|at| {
            let mut lines = spec.near(at, ALL_SECTIONS);
            // The dropped line is gone: a caret can only land on the lines around it,
            // numbered as they are after the removal.
            lines.retain(|&l| l != at + 1);
            let lines = lines
                .into_iter()
                .map(|l| if l > at + 1 { l - 1 } else { l })
                .chain([at + 1, at])
                .collect();
            Edit {
                name: format!("drop line {} `{}`", at + 1, spec.lines[at].trim()),
                text: spec.with(at, None),
                lines,
                errors: 1,
            }
        })
        .collect()
}

/// Changes the size of the first layer that has one and of the last (a dense's units then
/// no longer match the classes or targets).
fn resize_layers(spec: &Lines) -> Vec<Edit> {
    spec.first_and_last_layers()
        .into_iter()
        .filter_map(|at| {
            let new = replace_first_number(spec.lines[at], |n| n + 3)?;
            Some(Edit {
                name: format!("resize line {} to `{}`", at + 1, new.trim()),
                text: spec.with(at, Some(new)),
                lines: spec.near(at, ALL_SECTIONS),
                errors: 1,
            })
        })
        .collect()
}

/// The line with the number after the first `key` (or the first number, for an empty
/// key) replaced by `change` of it.
fn replace_number_after(line: &str, key: &str, change: impl Fn(u64) -> u64) -> Option<String> {
    let start = line.find(key)? + key.len();
    let digits = line[start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(line.len() - start);
    let number: u64 = line[start..start + digits].parse().ok()?;
    Some(format!(
        "{}{}{}",
        &line[..start],
        change(number),
        &line[start + digits..]
    ))
}

fn replace_first_number(line: &str, change: impl Fn(u64) -> u64) -> Option<String> {
    let start = line.find(|c: char| c.is_ascii_digit())?;
    replace_number_after(line, &line[..start], change)
}

/// `input steps=` and `features=` one more and one less.
fn change_input(spec: &Lines) -> Vec<Edit> {
    let at = spec.model[0];
    let mut edits = Vec::new();
    for key in ["steps=", "features="] {
        for (how, change) in [("+1", 1i64), ("-1", -1)] {
            let Some(new) =
                replace_number_after(spec.lines[at], key, |n| (n as i64 + change).max(1) as u64)
            else {
                continue;
            };
            if new == spec.lines[at] {
                continue;
            }
            edits.push(Edit {
                name: format!("input {key}{how}: `{}`", new.trim()),
                text: spec.with(at, Some(new)),
                lines: spec.near(at, &["data"]),
                errors: 1,
            });
        }
    }
    edits
}

/// `batch=` to 3 (rarely divides anything) and to `all`.
fn change_batch(spec: &Lines) -> Vec<Edit> {
    let Some(at) = spec.section("train") else {
        return Vec::new();
    };
    let line = spec.lines[at];
    let Some(start) = line.find("batch=") else {
        return Vec::new();
    };
    let rest = &line[start..];
    let old = &rest[..rest.find(' ').unwrap_or(rest.len())];
    ["batch=3", "batch=all"]
        .into_iter()
        .filter(|new| *new != old)
        .map(|new| {
            let changed = line.replacen(old, new, 1);
            Edit {
                name: format!("`{old}` to `{new}`"),
                text: spec.with(at, Some(changed)),
                lines: spec.near(at, &["data", "show"]),
                errors: 1,
            }
        })
        .collect()
}

/// Options changed to another valid value: the encoding, the frame's first number and the
/// loss. `layout=` moves a window between steps and features, so it breaks both of the
/// input's sizes at once: two errors are allowed for it.
fn change_options(spec: &Lines) -> Vec<Edit> {
    let swaps = [
        ("encode=normalize", "encode=one_hot", 1),
        ("encode=one_hot", "encode=normalize", 1),
        ("encode=ids", "encode=one_hot", 1),
        ("encode=normalize", "encode=ids", 1),
        ("layout=steps", "layout=features", 2),
        ("layout=features", "layout=steps", 2),
        ("loss=crossentropy", "loss=mse", 1),
        ("loss=mse", "loss=crossentropy", 1),
        ("scale=minmax", "scale=none", 1),
        ("shuffle=false", "shuffle=true", 1),
    ];
    let mut edits = Vec::new();
    for (old, new, errors) in swaps {
        let Some(at) = spec.lines.iter().position(|l| l.contains(old)) else {
            continue;
        };
        let changed = spec.lines[at].replacen(old, new, 1);
        edits.push(Edit {
            name: format!("`{old}` to `{new}`"),
            text: spec.with(at, Some(changed)),
            lines: option_lines(spec, at),
            errors,
        });
    }
    edits.extend(change_frame(spec));
    edits
}

/// The frame's first number one more: a window, a lag, a picked index, a stream's steps.
/// The frame decides both the input's steps and the samples (their number, which a
/// stateful batch must divide; the rows they share, which a random split must not; their
/// letters, which generation feeds back), so two errors are allowed.
fn change_frame(spec: &Lines) -> Option<Edit> {
    let at = spec.section("data")?;
    let line = spec.lines[at];
    let frame = line.find("frame=")?;
    let token = line[frame..].split(' ').next().unwrap_or("");
    let first_digit = frame + token.find(|c: char| c.is_ascii_digit())?;
    let new = replace_number_after(line, &line[..first_digit], |n| n + 1)?;
    let shown = new[frame..].split(' ').next().unwrap_or("").to_string();
    Some(Edit {
        name: format!("frame to `{shown}`"),
        text: spec.with(at, Some(new)),
        lines: option_lines(spec, at),
        errors: 2,
    })
}

/// Where an option's error may be reported: its own line, the model's ends (the input's
/// sizes, the first layer's reading, the last layer's output) and the sections.
fn option_lines(spec: &Lines, at: usize) -> Vec<usize> {
    let mut lines = spec.near(at, ALL_SECTIONS);
    let first = spec.model[..2.min(spec.model.len())].iter();
    lines.extend(first.chain(spec.model.last()).map(|i| i + 1));
    lines
}

/// Swaps the first two layers and the last two.
fn swap_layers(spec: &Lines) -> Vec<Edit> {
    let layers = spec.layers();
    if layers.len() < 2 {
        return Vec::new();
    }
    let mut places = vec![layers[0]];
    if layers.len() > 2 {
        places.push(layers[layers.len() - 2]);
    }
    places
        .into_iter()
        .map(|at| {
            let mut lines = spec.lines.clone();
            lines.swap(at, at + 1);
            let mut allowed = spec.near(at, ALL_SECTIONS);
            allowed.extend(spec.near(at + 1, &[]));
            Edit {
                name: format!("swap lines {} and {}", at + 1, at + 2),
                text: lines.iter().map(|l| format!("{l}\n")).collect(),
                lines: allowed,
                errors: 1,
            }
        })
        .collect()
}

fn edits_of(text: &str) -> Vec<Edit> {
    let spec = Lines::of(text);
    let kinds: [fn(&Lines) -> Vec<Edit>; 7] = [
        drop_flags,
        drop_layers,
        resize_layers,
        change_input,
        change_batch,
        change_options,
        swap_layers,
    ];
    kinds.iter().flat_map(|kind| kind(&spec)).collect()
}

/// The 1-based line a diagnostic's caret starts on.
fn line_of(text: &str, diagnostic: &Diagnostic) -> usize {
    let start = (diagnostic.primary.span.start as usize).min(text.len());
    text[..start].matches('\n').count() + 1
}

/// What is wrong with how `edit` was reported, if anything.
fn fault(edit: &Edit, diagnostics: &[Diagnostic]) -> Option<String> {
    if diagnostics.len() > edit.errors {
        let headlines: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        return Some(format!("{} diagnostics: {headlines:#?}", diagnostics.len()));
    }
    let misplaced = diagnostics
        .iter()
        .map(|d| (line_of(&edit.text, d), d))
        .find(|(line, _)| !edit.lines.contains(line));
    misplaced.map(|(line, d)| {
        format!(
            "`{}` points at line {line}, not one of {:?}",
            d.message, edit.lines
        )
    })
}

#[test]
fn one_edit_one_error() {
    let mut faults = Vec::new();
    let (mut broken, mut clean) = (0, 0);
    for path in lstm_files(&repo_root().join("specs")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut report = String::new();
        for edit in edits_of(&text) {
            report.push_str(&format!("## {}\n", edit.name));
            let compiled =
                compiler::compile_with(edit.text.as_bytes(), &compiler::load::Folder::of(&path));
            let Err(diagnostics) = &compiled.result else {
                clean += 1;
                report.push_str("checks clean\n\n");
                continue;
            };
            broken += 1;
            if let Some(fault) = fault(&edit, diagnostics) {
                faults.push(format!("{name}, {}: {fault}", edit.name));
            }
            report.push_str(&diagnostic::render(&name, &compiled.text, diagnostics));
            report.push('\n');
        }
        snapshot(&path, &report);
    }
    assert!(broken > 100 && clean > 10, "{broken} broken, {clean} clean");
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

fn snapshot(path: &Path, report: &str) {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    insta::assert_snapshot!(format!("edits_{stem}"), report);
}
