//! The `data` section: the symbol source, how samples are framed, encoded and laid out.

use super::args::{
    bind, callee, choice, keep, non_negative, optional, positive, required, string, unknown,
};
use super::{Data, Encode, Frame, Layout, Pad, Source};
use crate::diagnostic::Diagnostic;
use crate::span::Spanned;
use crate::syntax::ast::{Stmt, Value, ValueKind};

const PARAMS: [&str; 5] = ["source", "frame", "encode", "layout", "fresh"];
const SOURCES: [&str; 2] = ["alphabet", "random_ints"];
const FRAMES: [&str; 4] = ["windows", "runs", "lag", "pick"];
const EXAMPLE: &str = "data source=alphabet frame=windows(3) encode=normalize";
const DEFAULT_LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

pub fn resolve(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Data> {
    let slots = bind(&stmt.items, &PARAMS, 0, "data", diagnostics);
    let source = keep(
        diagnostics,
        required(slots[0], "source", stmt.span, EXAMPLE),
    )
    .and_then(|v| source(v, diagnostics));
    let frame = keep(diagnostics, required(slots[1], "frame", stmt.span, EXAMPLE))
        .and_then(|v| frame(v, diagnostics));
    let encode = keep(
        diagnostics,
        required(slots[2], "encode", stmt.span, EXAMPLE).and_then(|v| {
            choice(
                v,
                "encode",
                &[
                    ("normalize", Encode::Normalize),
                    ("one_hot", Encode::OneHot),
                ],
            )
        }),
    );
    let layout = optional(slots[3], Layout::Steps, stmt.span, diagnostics, |v| {
        choice(
            v,
            "layout",
            &[("steps", Layout::Steps), ("features", Layout::Features)],
        )
    });
    let fresh = optional(slots[4], false, stmt.span, diagnostics, |v| {
        choice(v, "fresh", &[("each_epoch", true), ("never", false)])
    });
    let fresh = fresh.value.then_some(fresh.span);
    Some(Data {
        source: source?,
        frame: frame?,
        encode: encode?,
        layout,
        fresh,
        span: stmt.span,
    })
}

/// The source, each of its arguments checked on its own so that every wrong one is reported.
fn source(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<Source>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "source"))?;
    let before = diagnostics.len();
    let source = match name {
        "alphabet" => {
            let slots = bind(args, &["letters"], 1, "alphabet", diagnostics);
            let letters = match slots[0] {
                Some(value) => keep(diagnostics, letters(value)),
                None => Some(DEFAULT_LETTERS.chars().collect()),
            };
            letters.map(|letters| Source::Alphabet { letters })
        }
        "random_ints" => {
            let slots = bind(args, &["range", "length"], 2, "random_ints", diagnostics);
            let example = "random_ints(0..100, length=25)";
            let range = keep(
                diagnostics,
                required(slots[0], "range", value.span, example).and_then(range),
            );
            let length = keep(
                diagnostics,
                required(slots[1], "length", value.span, example)
                    .and_then(|v| positive(v, "length")),
            );
            let ((lo, hi), length) = (range?, length?);
            Some(Source::RandomInts {
                lo,
                hi,
                length: length.value,
            })
        }
        other => {
            diagnostics.push(unknown("data source", other, name_span, &SOURCES));
            None
        }
    };
    let source = source.filter(|_| diagnostics.len() == before)?;
    Some(Spanned::new(source, value.span))
}

fn letters(value: &Value) -> Result<Vec<char>, Diagnostic> {
    let text = string(value, "letters")?;
    let letters: Vec<char> = text.chars().collect();
    if letters.len() < 2 {
        return Err(Diagnostic::error(
            "an alphabet needs at least two letters",
            value.span,
            "too few letters",
        )
        .with_help(format!("e.g. alphabet(\"{DEFAULT_LETTERS}\")")));
    }
    for (index, c) in letters.iter().enumerate() {
        if letters[..index].contains(c) {
            return Err(Diagnostic::error(
                format!("letter {c:?} appears twice in the alphabet"),
                value.span,
                "repeated letter",
            )
            .with_help("each letter is one class, so each must appear once"));
        }
    }
    Ok(letters)
}

fn range(value: &Value) -> Result<(i64, i64), Diagnostic> {
    match value.kind {
        ValueKind::Range(lo, hi) if lo < hi => Ok((lo, hi)),
        ValueKind::Range(lo, hi) => Err(Diagnostic::error(
            format!("empty range {lo}..{hi}"),
            value.span,
            "no integers in this range",
        )
        .with_help("the end is exclusive and must be larger than the start, e.g. `0..100`")),
        _ => Err(Diagnostic::error(
            "expected a range such as `0..100`",
            value.span,
            "not a range",
        )),
    }
}

/// The framing, each of its arguments checked on its own so that every wrong one is reported.
fn frame(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<Frame>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "frame"))?;
    let before = diagnostics.len();
    let frame = match name {
        "windows" => {
            let slots = bind(args, &["size"], 1, "windows", diagnostics);
            let size = number_arg(value, slots[0], "size", "windows(3)", positive, diagnostics);
            size.map(|size| Frame::Windows { size: size.value })
        }
        "runs" => {
            let slots = bind(args, &["count", "max_len", "pad"], 2, "runs", diagnostics);
            let example = "runs(count=1000, max_len=5)";
            let count = number_arg(value, slots[0], "count", example, positive, diagnostics);
            let max_len = number_arg(value, slots[1], "max_len", example, positive, diagnostics);
            let pads = [("pre", Pad::Pre), ("post", Pad::Post)];
            let pad = match slots[2] {
                Some(value) => keep(diagnostics, choice(value, "pad", &pads)).map(|p| p.value),
                None => Some(Pad::Pre),
            };
            Some(Frame::Runs {
                count: count?.value,
                max_len: max_len?.value,
                pad: pad?,
            })
        }
        "lag" => {
            let slots = bind(args, &["in", "out"], 2, "lag", diagnostics);
            let steps_in = number_arg(
                value,
                slots[0],
                "in",
                "lag(in=5, out=2)",
                positive,
                diagnostics,
            );
            let steps_out = number_arg(
                value,
                slots[1],
                "out",
                "lag(in=5, out=2)",
                positive,
                diagnostics,
            );
            let (steps_in, steps_out) = (steps_in?.value, steps_out?);
            if steps_out.value > steps_in {
                diagnostics.push(Diagnostic::error(format!("lag framing cannot target {} steps of a {steps_in}-step window", steps_out.value), steps_out.span, "more than `in`")
                    .with_help("the target is the first `out` steps of each window, so `out` must not exceed `in`"));
            }
            Some(Frame::Lag {
                steps_in,
                steps_out: steps_out.value,
            })
        }
        "pick" => {
            let slots = bind(args, &["index"], 1, "pick", diagnostics);
            let index = number_arg(
                value,
                slots[0],
                "index",
                "pick(2)",
                non_negative,
                diagnostics,
            );
            index.map(|index| Frame::Pick { index: index.value })
        }
        other => {
            diagnostics.push(unknown("framing", other, name_span, &FRAMES));
            None
        }
    };
    let frame = frame.filter(|_| diagnostics.len() == before)?;
    Some(Spanned::new(frame, value.span))
}

/// A required integer argument of the call `call`, read by `read`, reported if wrong.
fn number_arg(
    call: &Value,
    slot: Option<&Value>,
    param: &str,
    example: &str,
    read: fn(&Value, &str) -> Result<Spanned<u64>, Diagnostic>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Spanned<u64>> {
    let result = required(slot, param, call.span, example).and_then(|v| read(v, param));
    keep(diagnostics, result)
}
