//! The `data` section: the symbol source or series, how samples are framed, encoded, laid
//! out, scaled and split.

use super::args::{
    bind, boolean, callee, choice, keep, non_negative, optional, positive, real_in, required,
    string, unknown,
};
use super::{Csv, Data, Encode, Frame, Layout, Missing, Pad, Scale, Source, Split};
use crate::diagnostic::Diagnostic;
use crate::span::Spanned;
use crate::syntax::ast::{Item, Stmt, Value, ValueKind};

const PARAMS: [&str; 7] = [
    "source", "frame", "encode", "layout", "fresh", "scale", "split",
];
const SOURCES: [&str; 5] = ["alphabet", "random_ints", "csv", "text", "lines"];
const FRAMES: [&str; 7] = [
    "windows", "runs", "lag", "pick", "forecast", "streams", "items",
];
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
    let encodings = [
        ("normalize", Encode::Normalize),
        ("one_hot", Encode::OneHot),
        ("ids", Encode::Ids),
    ];
    let encode = match slots[2] {
        Some(v) => Some(keep(diagnostics, choice(v, "encode", &encodings))),
        None => None,
    };
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
    let scales = [
        ("none", Scale::None),
        ("minmax", Scale::MinMax),
        ("standard", Scale::Standard),
    ];
    let scale = optional(slots[5], Scale::None, stmt.span, diagnostics, |v| {
        choice(v, "scale", &scales)
    });
    let split = slots[6].map(|v| split(v, diagnostics));
    let (source, frame) = (source?, frame?);
    let encode = check_encode(&source, encode, stmt, diagnostics)?;
    Some(Data {
        source,
        frame,
        encode,
        layout,
        fresh,
        scale,
        split_wrong: split.as_ref().is_some_and(Option::is_none),
        split: split.flatten(),
        span: stmt.span,
    })
}

/// Symbols need an encoding; a series' values are features already.
fn check_encode(
    source: &Spanned<Source>,
    encode: Option<Option<Spanned<Encode>>>,
    stmt: &Stmt,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Option<Spanned<Encode>>> {
    match (&source.value, encode) {
        (Source::Csv(_), Some(Some(written))) => {
            diagnostics.push(
                Diagnostic::error(
                    "a csv series needs no `encode`",
                    written.span,
                    "its values are the features",
                )
                .with_note_at(source.span, "a series of numbers")
                .with_help(
                    "remove `encode`; use `scale=minmax` or `scale=standard` to scale the values",
                ),
            );
            None
        }
        (Source::Csv(_), _) => Some(None),
        (_, Some(encode)) => Some(Some(encode?)),
        (_, None) => {
            diagnostics.push(required(None, "encode", stmt.span, EXAMPLE).unwrap_err());
            None
        }
    }
}

/// `ordered(train, val=0)`: fractions of the rows, in order; the test part is the rest.
fn split(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<Split>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "split"))?;
    let random = match name {
        "ordered" => false,
        "random" => true,
        _ => {
            diagnostics.push(unknown("split", name, name_span, &["ordered", "random"]));
            return None;
        }
    };
    let before = diagnostics.len();
    let slots = bind(args, &["train", "val"], 2, name, diagnostics);
    let example = "split=ordered(train=0.67)";
    let train = keep(
        diagnostics,
        required(slots[0], "train", value.span, example)
            .and_then(|v| real_in(v, "train", 0.0, true, 1.0)),
    );
    let val = match slots[1] {
        Some(v) => keep(diagnostics, real_in(v, "val", 0.0, false, 1.0)),
        None => Some(0.0),
    };
    let (train, val) = (train?, val?);
    if train + val > 1.0 {
        // Rounded for the message: 0.064 + 0.937 is 1.0010000000000001 in binary.
        let sum = ((train + val) * 1e9).round() / 1e9;
        diagnostics.push(
            Diagnostic::error(
                format!("the split's train and val fractions add up to {sum}, more than 1"),
                value.span,
                "more than every row",
            )
            .with_help("the test part is what is left: make `train + val` at most 1"),
        );
    }
    let split = Split { random, train, val };
    (diagnostics.len() == before).then(|| Spanned::new(split, value.span))
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
        "csv" => csv(value, args, diagnostics).map(Source::Csv),
        "text" | "lines" => {
            let slots = bind(args, &["path"], 1, name, diagnostics);
            let example = "text(\"../data/tinyshakespeare.txt\")";
            keep(
                diagnostics,
                required(slots[0], "path", value.span, example).and_then(|v| {
                    string(v, "path").map(|text| Spanned::new(text.to_string(), v.span))
                }),
            )
            .map(|path| match name {
                "text" => Source::Text { path },
                _ => Source::Lines { path },
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

/// `csv("file.csv", inputs=..., targets=..., missing=error)`.
fn csv(call: &Value, args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Option<Csv> {
    let params = ["path", "inputs", "targets", "missing"];
    let slots = bind(args, &params, 1, "csv", diagnostics);
    let example = "csv(\"data.csv\", inputs=value, targets=value)";
    let path = keep(
        diagnostics,
        required(slots[0], "path", call.span, example)
            .and_then(|v| string(v, "path").map(|text| Spanned::new(text.to_string(), v.span))),
    );
    let inputs = keep(
        diagnostics,
        required(slots[1], "inputs", call.span, example),
    )
    .and_then(|v| column_names(v, "inputs", diagnostics));
    let targets = keep(
        diagnostics,
        required(slots[2], "targets", call.span, example),
    )
    .and_then(|v| column_names(v, "targets", diagnostics));
    let choices = [
        ("error", Missing::Error),
        ("drop", Missing::Drop),
        ("previous", Missing::Previous),
        ("interpolate", Missing::Interpolate),
    ];
    let missing = match slots[3] {
        Some(v) => keep(diagnostics, choice(v, "missing", &choices)).map(|m| m.value),
        None => Some(Missing::Error),
    };
    Some(Csv {
        path: path?,
        inputs: inputs?,
        targets: targets?,
        missing: missing?,
    })
}

/// One column (`name` or `"name"`), or several: `columns(a, b, "c d")`.
fn column_names(
    value: &Value,
    what: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<Spanned<String>>> {
    let name = |value: &Value| match &value.kind {
        ValueKind::Ident(name) | ValueKind::Str(name) => Ok(Spanned::new(name.clone(), value.span)),
        _ => Err(Diagnostic::error(
            format!(
                "expected a column name for `{what}`, found {}",
                value.kind.describe()
            ),
            value.span,
            "not a column name",
        )
        .with_help(format!(
            "write `{what}=name`, or `{what}=columns(a, b)` for several"
        ))),
    };
    match &value.kind {
        ValueKind::Call(callee, items) if callee.text == "columns" => {
            let before = diagnostics.len();
            let names: Vec<_> = items
                .iter()
                .filter_map(|item| match &item.name {
                    Some(named) => {
                        diagnostics.push(
                            Diagnostic::error(
                                "`columns` takes names, not options",
                                named.span,
                                "not a column",
                            )
                            .with_help("write `columns(a, b)`"),
                        );
                        None
                    }
                    None => keep(diagnostics, name(&item.value)),
                })
                .collect();
            if names.is_empty() && diagnostics.len() == before {
                diagnostics.push(
                    Diagnostic::error(format!("`{what}` names no column"), value.span, "empty")
                        .with_help("name at least one column, e.g. `columns(a)`"),
                );
            }
            (diagnostics.len() == before).then_some(names)
        }
        _ => keep(diagnostics, name(value)).map(|name| vec![name]),
    }
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
            let params = ["count", "max_len", "pad", "mask"];
            let slots = bind(args, &params, 2, "runs", diagnostics);
            let example = "runs(count=1000, max_len=5)";
            let count = number_arg(value, slots[0], "count", example, positive, diagnostics);
            let max_len = number_arg(value, slots[1], "max_len", example, positive, diagnostics);
            let pads = [("pre", Pad::Pre), ("post", Pad::Post)];
            let pad = match slots[2] {
                Some(value) => keep(diagnostics, choice(value, "pad", &pads)).map(|p| p.value),
                None => Some(Pad::Pre),
            };
            let mask = match slots[3] {
                Some(value) => keep(diagnostics, boolean(value, "mask")),
                None => None,
            };
            let mask = mask_after(pad, mask, diagnostics);
            Some(Frame::Runs {
                count: count?.value,
                max_len: max_len?.value,
                pad: pad?,
                mask,
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
        "items" => {
            bind(args, &[], 0, "items", diagnostics);
            Some(Frame::Items)
        }
        "streams" => {
            let slots = bind(args, &["steps"], 1, "streams", diagnostics);
            let steps = number_arg(
                value,
                slots[0],
                "steps",
                "streams(steps=50)",
                positive,
                diagnostics,
            );
            steps.map(|steps| Frame::Streams { steps: steps.value })
        }
        "forecast" => {
            let slots = bind(
                args,
                &["window", "ahead", "out"],
                1,
                "forecast",
                diagnostics,
            );
            let example = "forecast(window=12)";
            let window = number_arg(value, slots[0], "window", example, positive, diagnostics);
            // `ahead=0` targets the window's last row itself: other columns of the same row.
            let ahead = match slots[1] {
                Some(v) => keep(diagnostics, non_negative(v, "ahead")).map(|n| n.value),
                None => Some(1),
            };
            let out = match slots[2] {
                Some(v) => keep(diagnostics, positive(v, "out")).map(|n| n.value),
                None => Some(1),
            };
            Some(Frame::Forecast {
                window: window?.value,
                ahead: ahead?,
                out: out?,
            })
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
/// Whether padded steps are masked: only after the run (`pad=post`), because a masked step
/// carries the state, and before the run that state is the zero state anyway while Keras'
/// cuDNN path refuses masks that do not end each row.
fn mask_after(
    pad: Option<Pad>,
    mask: Option<Spanned<bool>>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    match (pad, mask) {
        (Some(Pad::Pre), Some(mask)) if mask.value => {
            diagnostics.push(
                Diagnostic::error(
                    "masking needs padding after the run: expected `pad=post`, found `pad=pre`",
                    mask.span,
                    "masks pre-padded runs",
                )
                .with_help(
                    "write `runs(..., pad=post, mask=true)`: a masked step carries the state \
                     on, so padding must come after each run (as Keras' `Masking` with \
                     `pad_sequences(padding=\"post\")`)",
                ),
            );
            false
        }
        (_, mask) => mask.is_some_and(|m| m.value),
    }
}

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
