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
        required(slots[0], "source", stmt.span, EXAMPLE).and_then(source),
    );
    let frame = keep(
        diagnostics,
        required(slots[1], "frame", stmt.span, EXAMPLE).and_then(frame),
    );
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

fn source(value: &Value) -> Result<Spanned<Source>, Diagnostic> {
    let (name, name_span, args) = callee(value, "source")?;
    let mut diagnostics = Vec::new();
    let source = match name {
        "alphabet" => {
            let slots = bind(args, &["letters"], 1, "alphabet", &mut diagnostics);
            first_error(diagnostics)?;
            let letters = match slots[0] {
                Some(value) => letters(value)?,
                None => DEFAULT_LETTERS.chars().collect(),
            };
            Source::Alphabet { letters }
        }
        "random_ints" => {
            let slots = bind(
                args,
                &["range", "length"],
                2,
                "random_ints",
                &mut diagnostics,
            );
            first_error(diagnostics)?;
            let (lo, hi) = range(required(
                slots[0],
                "range",
                value.span,
                "random_ints(0..100, length=25)",
            )?)?;
            let length = positive(
                required(
                    slots[1],
                    "length",
                    value.span,
                    "random_ints(0..100, length=25)",
                )?,
                "length",
            )?;
            Source::RandomInts {
                lo,
                hi,
                length: length.value,
            }
        }
        other => return Err(unknown("data source", other, name_span, &SOURCES)),
    };
    Ok(Spanned::new(source, value.span))
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

fn frame(value: &Value) -> Result<Spanned<Frame>, Diagnostic> {
    let (name, name_span, args) = callee(value, "frame")?;
    let mut diagnostics = Vec::new();
    let frame = match name {
        "windows" => {
            let slots = bind(args, &["size"], 1, "windows", &mut diagnostics);
            first_error(diagnostics)?;
            Frame::Windows {
                size: positive(required_arg(value, slots[0], "size", "windows(3)")?, "size")?.value,
            }
        }
        "runs" => {
            let slots = bind(
                args,
                &["count", "max_len", "pad"],
                2,
                "runs",
                &mut diagnostics,
            );
            first_error(diagnostics)?;
            let example = "runs(count=1000, max_len=5)";
            let count = positive(required_arg(value, slots[0], "count", example)?, "count")?.value;
            let max_len = positive(
                required_arg(value, slots[1], "max_len", example)?,
                "max_len",
            )?
            .value;
            let pad = match slots[2] {
                Some(value) => {
                    choice(value, "pad", &[("pre", Pad::Pre), ("post", Pad::Post)])?.value
                }
                None => Pad::Pre,
            };
            Frame::Runs {
                count,
                max_len,
                pad,
            }
        }
        "lag" => {
            let slots = bind(args, &["in", "out"], 2, "lag", &mut diagnostics);
            first_error(diagnostics)?;
            let steps_in = positive(
                required_arg(value, slots[0], "in", "lag(in=5, out=2)")?,
                "in",
            )?
            .value;
            let steps_out = positive(
                required_arg(value, slots[1], "out", "lag(in=5, out=2)")?,
                "out",
            )?;
            if steps_out.value > steps_in {
                return Err(Diagnostic::error(format!("lag framing cannot target {} steps of a {steps_in}-step window", steps_out.value), steps_out.span, "more than `in`")
                    .with_help("the target is the first `out` steps of each window, so `out` must not exceed `in`"));
            }
            Frame::Lag {
                steps_in,
                steps_out: steps_out.value,
            }
        }
        "pick" => {
            let slots = bind(args, &["index"], 1, "pick", &mut diagnostics);
            first_error(diagnostics)?;
            Frame::Pick {
                index: non_negative(required_arg(value, slots[0], "index", "pick(2)")?, "index")?
                    .value,
            }
        }
        other => return Err(unknown("framing", other, name_span, &FRAMES)),
    };
    Ok(Spanned::new(frame, value.span))
}

fn first_error(diagnostics: Vec<Diagnostic>) -> Result<(), Diagnostic> {
    diagnostics.into_iter().next().map_or(Ok(()), Err)
}

fn required_arg<'a>(
    call: &Value,
    slot: Option<&'a Value>,
    param: &str,
    example: &str,
) -> Result<&'a Value, Diagnostic> {
    required(slot, param, call.span, example)
}
