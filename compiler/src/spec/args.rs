//! Reading items: binding `name=value` and positional items to parameters, and turning
//! values into numbers, flags and choices with a diagnostic when they do not fit.

use crate::diagnostic::Diagnostic;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{Item, Value, ValueKind};

/// Binds `items` to `params` by name; the first `positional` params may also be given by
/// position, in order. Returns one slot per param. Unknown names, values given twice and
/// surplus positional values are reported and skipped, except that a misspelt name stands in
/// for the param it resembles when that param is not given, so that a typo is one error
/// rather than also "missing".
pub fn bind<'a>(
    items: &'a [Item],
    params: &[&str],
    positional: usize,
    owner: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Option<&'a Value>> {
    let mut slots: Vec<Option<&'a Value>> = vec![None; params.len()];
    let mut next_positional = 0;
    let mut misspelt = Vec::new();
    for item in items {
        let index = match &item.name {
            Some(name) => match params.iter().position(|p| *p == name.text) {
                Some(index) => index,
                None => {
                    diagnostics.push(unknown_for("option", owner, &name.text, name.span, params));
                    misspelt.push(item);
                    continue;
                }
            },
            None if next_positional < positional => {
                next_positional += 1;
                next_positional - 1
            }
            None => {
                diagnostics.push(surplus_value(item, params, positional, owner));
                continue;
            }
        };
        match slots[index] {
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    format!("`{}` given twice", params[index]),
                    item.span,
                    "given again here",
                )
                .with_note_at(first.span, "first given here")
                .with_help("remove one of them"),
            ),
            None => slots[index] = Some(&item.value),
        }
    }
    for item in misspelt {
        let name = item.name.as_ref().map_or("", |name| name.text.as_str());
        if let Some(index) = suggest_index(name, params) {
            slots[index].get_or_insert(&item.value);
        }
    }
    slots
}

fn surplus_value(item: &Item, params: &[&str], positional: usize, owner: &str) -> Diagnostic {
    let message = format!("unexpected value in `{owner}`");
    let label = match &item.value.kind {
        ValueKind::Ident(word) => match suggest(word, params) {
            Some(param) => {
                return Diagnostic::error(message, item.span, "not an option")
                    .with_help(format!("did you mean `{param}=...`?"))
            }
            None => format!("`{word}` is not an option here"),
        },
        _ => "not expected here".to_string(),
    };
    let help = if positional == 0 {
        format!(
            "`{owner}` takes `name=value` options: {}",
            params.join(", ")
        )
    } else {
        format!(
            "`{owner}` takes {positional} value(s) by position, then `name=value` options: {}",
            params.join(", ")
        )
    };
    Diagnostic::error(message, item.span, label).with_help(help)
}

/// "unknown layer `lstn`", with "did you mean `lstm`?" when a candidate is close.
pub fn unknown(kind: &str, word: &str, span: Span, candidates: &[&str]) -> Diagnostic {
    unknown_message(
        format!("unknown {kind} `{word}`"),
        kind,
        word,
        span,
        candidates,
    )
}

/// "unknown option `epoch` for `train`", with a suggestion as `unknown`.
pub fn unknown_for(
    kind: &str,
    owner: &str,
    word: &str,
    span: Span,
    candidates: &[&str],
) -> Diagnostic {
    unknown_message(
        format!("unknown {kind} `{word}` for `{owner}`"),
        kind,
        word,
        span,
        candidates,
    )
}

fn unknown_message(
    message: String,
    kind: &str,
    word: &str,
    span: Span,
    candidates: &[&str],
) -> Diagnostic {
    let diagnostic = Diagnostic::error(message, span, format!("not a known {kind}"));
    match suggest(word, candidates) {
        Some(candidate) => diagnostic.with_help(format!("did you mean `{candidate}`?")),
        None => diagnostic.with_help(format!("expected one of: {}", candidates.join(", "))),
    }
}

/// The position of `suggest`'s candidate in `candidates`.
pub fn suggest_index(word: &str, candidates: &[&str]) -> Option<usize> {
    let candidate = suggest(word, candidates)?;
    candidates.iter().position(|c| *c == candidate)
}

/// The candidate closest to `word`, if any is close enough to be a likely typo.
pub fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3) && *distance < c.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// The value, or `None` with the diagnostic recorded.
pub fn keep<T>(diagnostics: &mut Vec<Diagnostic>, result: Result<T, Diagnostic>) -> Option<T> {
    result.map_err(|d| diagnostics.push(d)).ok()
}

/// The option as written, or `default` (spanned at `at`) when it is not written. When it is
/// written wrong, the diagnostic is recorded and `default` stands in, so that later checks
/// still run; a spec with any diagnostic is never run.
pub fn optional<T>(
    slot: Option<&Value>,
    default: T,
    at: Span,
    diagnostics: &mut Vec<Diagnostic>,
    read: impl FnOnce(&Value) -> Result<Spanned<T>, Diagnostic>,
) -> Spanned<T> {
    match slot.map(read) {
        Some(Ok(value)) => value,
        Some(Err(diagnostic)) => {
            diagnostics.push(diagnostic);
            Spanned::new(default, at)
        }
        None => Spanned::new(default, at),
    }
}

/// A value that must be written, or a diagnostic at `at` naming it.
pub fn required<'a>(
    slot: Option<&'a Value>,
    what: &str,
    at: Span,
    example: &str,
) -> Result<&'a Value, Diagnostic> {
    slot.ok_or_else(|| {
        Diagnostic::error(
            format!("missing `{what}`"),
            at,
            format!("`{what}` is required here"),
        )
        .with_help(format!("add it, e.g. `{example}`"))
    })
}

fn wrong_kind(value: &Value, expected: &str, what: &str) -> Diagnostic {
    Diagnostic::error(
        format!(
            "expected {expected} for `{what}`, found {}",
            value.kind.describe()
        ),
        value.span,
        format!("expected {expected}"),
    )
}

fn integer(value: &Value, what: &str) -> Result<i64, Diagnostic> {
    match value.kind {
        ValueKind::Int(n) => Ok(n),
        _ => Err(wrong_kind(value, "an integer", what)),
    }
}

/// A size or count: an integer of at least 1.
pub fn positive(value: &Value, what: &str) -> Result<Spanned<u64>, Diagnostic> {
    let n = integer(value, what)?;
    if n < 1 {
        return Err(Diagnostic::error(
            format!("`{what}` must be at least 1, found {n}"),
            value.span,
            "must be positive",
        )
        .with_help(format!("give `{what}` a value of 1 or more")));
    }
    Ok(Spanned::new(n as u64, value.span))
}

/// An index or seed: an integer of at least 0.
pub fn non_negative(value: &Value, what: &str) -> Result<Spanned<u64>, Diagnostic> {
    let n = integer(value, what)?;
    if n < 0 {
        return Err(Diagnostic::error(
            format!("`{what}` must not be negative, found {n}"),
            value.span,
            "negative",
        )
        .with_help(format!("give `{what}` a value of 0 or more")));
    }
    Ok(Spanned::new(n as u64, value.span))
}

/// A real number within `[low, high)` (or `(low, high)` when `low_open`).
pub fn real_in(
    value: &Value,
    what: &str,
    low: f64,
    low_open: bool,
    high: f64,
) -> Result<f64, Diagnostic> {
    let x = match value.kind {
        ValueKind::Int(n) => n as f64,
        ValueKind::Float(x) => x,
        _ => return Err(wrong_kind(value, "a number", what)),
    };
    let above_low = if low_open { x > low } else { x >= low };
    if above_low && x < high {
        return Ok(x);
    }
    let interval = format!("{}{low}, {high})", if low_open { "(" } else { "[" });
    Err(Diagnostic::error(
        format!("`{what}` must lie in {interval}, found {x}"),
        value.span,
        "out of range",
    )
    .with_help(format!("choose `{what}` in {interval}")))
}

/// One of a fixed set of names.
pub fn choice<T: Copy>(
    value: &Value,
    what: &str,
    choices: &[(&str, T)],
) -> Result<Spanned<T>, Diagnostic> {
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let ValueKind::Ident(word) = &value.kind else {
        return Err(wrong_kind(
            value,
            &format!("one of {}", names.join(", ")),
            what,
        ));
    };
    match choices.iter().find(|(name, _)| name == word) {
        Some((_, choice)) => Ok(Spanned::new(*choice, value.span)),
        None => Err(unknown_for("value", what, word, value.span, &names)),
    }
}

pub fn boolean(value: &Value, what: &str) -> Result<Spanned<bool>, Diagnostic> {
    choice(value, what, &[("true", true), ("false", false)])
}

pub fn string<'a>(value: &'a Value, what: &str) -> Result<&'a str, Diagnostic> {
    match &value.kind {
        ValueKind::Str(text) => Ok(text),
        _ => Err(wrong_kind(value, "a string", what)),
    }
}

/// A value that is either a bare name or a call `name(args)`: its name and arguments.
pub fn callee<'a>(value: &'a Value, what: &str) -> Result<(&'a str, Span, &'a [Item]), Diagnostic> {
    match &value.kind {
        ValueKind::Ident(name) => Ok((name, value.span, &[])),
        ValueKind::Call(name, args) => Ok((&name.text, name.span, args)),
        _ => Err(wrong_kind(value, "a name", what)),
    }
}
