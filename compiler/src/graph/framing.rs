//! What the data section produces: how many samples, of which shape, with which targets.

use crate::diagnostic::Diagnostic;
use crate::format::count;
use crate::load::{Lines, Series, Text};
use crate::span::Spanned;
use crate::spec::{Batch, Data, Encode, EvalOn, Frame, Layout, Source, Spec};

/// The shapes the data framing produces for one draw of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed {
    pub samples: u64,
    /// `[steps, features]` of one input sample, after encoding and layout.
    pub steps: u64,
    pub features: u64,
    /// Target steps per sample for per-step targets (lag framing), `None` for one target.
    pub target_steps: Option<u64>,
    /// Classes of a symbol target, or the values of a series' target vector.
    pub classes: u64,
    /// The targets are a series' values (a regression), not symbols.
    pub values: bool,
    /// The samples one evaluation scores: every part of a series, one draw of symbols.
    pub evaluated: u64,
}

/// What the files of a spec held, for framing.
#[derive(Clone, Copy)]
pub struct Loaded<'a> {
    pub series: Option<&'a Series>,
    pub text: Option<&'a Text>,
    pub lines: Option<&'a Lines>,
    /// `batch=` as written: `batch=N` gives a text N parallel streams.
    pub batch: Option<&'a Spanned<Batch>>,
}

/// Frames the data, or explains why the framing does not fit the source. A source whose file
/// could not be read (already reported) frames nothing.
pub fn frame(data: &Data, loaded: Loaded) -> Result<Framed, Option<Diagnostic>> {
    let source = &data.source.value;
    let length = match source {
        Source::Alphabet { letters } => letters.len() as u64,
        Source::RandomInts { length, .. } => *length,
        Source::Csv(_) => return frame_series(data, loaded.series.ok_or(None)?).map_err(Some),
        Source::Text { .. } => {
            return frame_text(data, loaded.text.ok_or(None)?, loaded.batch).map_err(Some)
        }
        Source::Lines { .. } => return frame_lines(data, loaded.lines.ok_or(None)?).map_err(Some),
    };
    frame_symbols(data, length).map_err(Some)
}

/// A text in parallel streams: each part of the split cut into `streams` runs of characters,
/// every sample `steps` characters of one stream in, the next character of each out.
fn frame_text(
    data: &Data,
    text: &Text,
    batch: Option<&Spanned<Batch>>,
) -> Result<Framed, Diagnostic> {
    let Frame::Streams { steps } = data.frame.value else {
        return Err(Diagnostic::error(
            "a text source is framed by `streams`",
            data.frame.span,
            "frames other symbols",
        )
        .with_note_at(data.source.span, "a text")
        .with_help("use `frame=streams(steps=50)`: each stream advances 50 characters a step"));
    };
    let streams = match batch.map(|batch| (batch.value, batch.span)) {
        Some((Batch::Size(streams), _)) => streams,
        Some((Batch::All, span)) => {
            return Err(Diagnostic::error(
                "streams need a batch size: the number of parallel streams",
                span,
                "gives no number of streams",
            )
            .with_note_at(data.frame.span, "one stream per batch row")
            .with_help("write a number, e.g. `batch=50`"));
        }
        None => {
            return Err(Diagnostic::error(
                "streams need `batch=N` in `train`: the number of parallel streams",
                data.frame.span,
                "one stream per batch row",
            )
            .with_help("add e.g. `batch=50` to `train`"));
        }
    };
    let characters = text.ids.len() as u64;
    let parts = split_counts(data, characters, 1);
    let chunks = |part: u64| stream_chunks(part, streams, steps);
    let names = ["training", "validation", "test"];
    for (index, (part, part_characters)) in names.into_iter().zip(parts).enumerate() {
        if wanted(data, index, part_characters) && chunks(part_characters) == 0 {
            return Err(Diagnostic::error(
                format!(
                    "the {part} part has {}, too few for {} of {}",
                    count(part_characters, "character"),
                    count(streams, "stream"),
                    count(steps, "step")
                ),
                data.frame.span,
                format!("needs at least {streams} x {steps} + 1 characters"),
            )
            .with_note_at(
                data.source.span,
                format!("{} in all", count(characters, "character")),
            )
            .with_help(
                "use fewer streams (`batch=`), fewer steps, or give this part more of the text",
            ));
        }
    }
    let vocabulary = text.vocabulary.len() as u64;
    let per_symbol = match data.encode.as_ref().map(|e| e.value) {
        Some(Encode::OneHot | Encode::Ids) => vocabulary,
        _ => 1,
    };
    Ok(Framed {
        samples: streams.saturating_mul(chunks(parts[0])),
        steps,
        features: per_symbol,
        target_steps: Some(steps),
        classes: vocabulary,
        values: false,
        evaluated: parts
            .into_iter()
            .map(|part| streams.saturating_mul(chunks(part)))
            .sum(),
    })
}

/// Lines as items: one sample a line, `longest + 1` steps (the start marker then the line in,
/// the line then the end marker out), parted by item.
fn frame_lines(data: &Data, lines: &Lines) -> Result<Framed, Diagnostic> {
    if data.frame.value != Frame::Items {
        return Err(Diagnostic::error(
            "a lines source is framed by `items`",
            data.frame.span,
            "frames other symbols",
        )
        .with_note_at(data.source.span, "lines")
        .with_help("use `frame=items`: each line a sample, padded to the longest"));
    }
    let items = lines.items.len() as u64;
    let parts = split_counts(data, items, 1);
    let names = ["training", "validation", "test"];
    for (index, (part, count_in_part)) in names.into_iter().zip(parts).enumerate() {
        if wanted(data, index, count_in_part) && count_in_part == 0 {
            return Err(Diagnostic::error(
                format!(
                    "the {part} part gets no line of the {}",
                    count(items, "line")
                ),
                data.frame.span,
                "one sample a line",
            )
            .with_note_at(data.source.span, format!("{} in all", count(items, "line")))
            .with_help("give this part a larger share of the lines"));
        }
    }
    let longest = lines.items.iter().map(Vec::len).max().unwrap_or(0) as u64;
    let steps = longest + 1;
    let vocabulary = lines.vocabulary.len() as u64;
    let per_symbol = match data.encode.as_ref().map(|e| e.value) {
        Some(Encode::OneHot | Encode::Ids) => vocabulary,
        _ => 1,
    };
    Ok(Framed {
        samples: parts[0],
        steps,
        features: per_symbol,
        target_steps: Some(steps),
        classes: vocabulary,
        values: false,
        evaluated: items,
    })
}

/// The training steps a part of `characters` gives `streams` streams of `steps` steps: each
/// stream holds an equal share of the characters but the last, whose successor is the last
/// target.
pub fn stream_chunks(characters: u64, streams: u64, steps: u64) -> u64 {
    (characters.saturating_sub(1) / streams.max(1)) / steps.max(1)
}

fn frame_symbols(data: &Data, length: u64) -> Result<Framed, Diagnostic> {
    let source = &data.source.value;
    let classes = source.classes();
    let frame_span = data.frame.span;
    let too_short = |needed: u64, what: String| {
        Diagnostic::error(
            format!("{what} needs a sequence of at least {needed}, but the source gives {length}"),
            frame_span,
            "does not fit the source",
        )
        .with_note_at(data.source.span, format!("a sequence of {length} symbols"))
    };
    let (samples, symbols, target_steps) = match data.frame.value {
        Frame::Windows { size } => {
            if size >= length {
                return Err(too_short(
                    size.saturating_add(1),
                    format!("a window of {size} plus its next symbol"),
                )
                .with_help(format!("use windows of at most {} symbols", length - 1)));
            }
            (length - size, size, None)
        }
        Frame::Runs { count, max_len, .. } => {
            if length < 3 {
                return Err(too_short(3, "random runs".to_string())
                    .with_help("use a source of three symbols or more"));
            }
            // A run is followed by its target symbol, so it holds at most `length - 1`.
            if max_len >= length {
                return Err(too_short(
                    max_len.saturating_add(1),
                    format!("a run of {max_len} plus its next symbol"),
                )
                .with_help(format!("use `max_len` of at most {}", length - 1)));
            }
            (count, max_len, None)
        }
        Frame::Lag {
            steps_in,
            steps_out,
        } => {
            if steps_in > length {
                return Err(too_short(steps_in, format!("a lag window of {steps_in}"))
                    .with_help(format!("use `in` of at most {length}")));
            }
            (length - steps_in + 1, steps_in, Some(steps_out))
        }
        Frame::Items => {
            return Err(Diagnostic::error(
                "items frame a lines source",
                frame_span,
                "needs a file of lines",
            )
            .with_note_at(data.source.span, "not lines")
            .with_help("use `source=lines(\"FILE\")`, or another framing for these symbols"))
        }
        Frame::Streams { .. } => return Err(Diagnostic::error(
            "streams frame a text source",
            frame_span,
            "needs a text to cut into streams",
        )
        .with_note_at(data.source.span, "not a text")
        .with_help(
            "use `source=text(\"FILE\")`, or `windows`, `runs`, `lag` or `pick` for these symbols",
        )),
        Frame::Forecast { .. } => {
            return Err(Diagnostic::error(
                "forecast frames a csv series, not symbols",
                frame_span,
                "needs rows of numbers",
            )
            .with_note_at(data.source.span, "a symbol source")
            .with_help("use `windows`, `runs`, `lag` or `pick` for symbols, or `source=csv(...)`"))
        }
        Frame::Pick { index } => {
            if index >= length {
                return Err(
                    too_short(index + 1, format!("picking index {index}")).with_help(format!(
                        "indices start at 0: pick at most index {}",
                        length - 1
                    )),
                );
            }
            (1, length, None)
        }
    };
    let per_symbol = match data.encode.as_ref().map(|e| e.value) {
        Some(Encode::OneHot | Encode::Ids) => classes,
        _ => 1,
    };
    let (steps, features) = match data.layout.value {
        Layout::Steps => (symbols, per_symbol),
        Layout::Features => (1, symbols.saturating_mul(per_symbol)),
    };
    Ok(Framed {
        samples,
        steps,
        features,
        target_steps,
        classes,
        values: false,
        evaluated: samples,
    })
}

/// A series: windows of rows within each part of the split, the future rows as one target
/// vector. Every part that has rows must hold at least one sample.
fn frame_series(data: &Data, series: &Series) -> Result<Framed, Diagnostic> {
    let Frame::Forecast { window, ahead, out } = data.frame.value else {
        return Err(Diagnostic::error(
            "a csv series is framed by `forecast`",
            data.frame.span,
            "frames symbols",
        )
        .with_note_at(data.source.span, "a series of numbers")
        .with_help(
            "use `frame=forecast(window=N)`: N rows in (the input's steps), the next row's targets out",
        ));
    };
    let rows = series.rows() as u64;
    let needed = sample_rows(window, ahead, out);
    let parts = split_counts(data, rows, needed);
    check_parts(data, rows, needed, parts)?;
    let columns = series.inputs.len() as u64;
    let (steps, features) = match data.layout.value {
        Layout::Steps => (window, columns),
        Layout::Features => (1, window.saturating_mul(columns)),
    };
    let random = data.split.as_ref().is_some_and(|split| split.value.random);
    let samples_in = |count: u64| match random {
        true => count,
        false => (count + 1).saturating_sub(needed),
    };
    let train_samples = samples_in(parts[0]);
    let evaluated = parts.into_iter().map(samples_in).sum();
    Ok(Framed {
        samples: train_samples,
        steps,
        features,
        target_steps: None,
        classes: out.saturating_mul(series.targets.len() as u64),
        values: true,
        evaluated,
    })
}

/// The rows one sample reads: its window and its target rows (the window's last itself with
/// `ahead=0`).
pub fn sample_rows(window: u64, ahead: u64, out: u64) -> u64 {
    (window.saturating_add(ahead).saturating_add(out) - 1).max(window)
}

/// How a split parts a series: the rows of each part (training, validation, test) for an
/// ordered split, each fraction rounded down and the test part the rest (none when the
/// fractions add up to 1); for a random one,
/// the samples of each part, counted the same way over every window of the series.
pub fn split_counts(data: &Data, rows: u64, needed: u64) -> [u64; 3] {
    let Some(split) = &data.split else {
        return [rows, 0, 0];
    };
    let total = match split.value.random {
        true => (rows + 1).saturating_sub(needed),
        false => rows,
    };
    // Rounded down, but not below what the decimal fraction means: 100 x 0.29 is 28.999...
    let share = |fraction: f64| (total as f64 * fraction + 1e-9).floor() as u64;
    let train = share(split.value.train);
    // Fractions that add up to every row leave no test part, not a sliver of rounding.
    let val = match split.value.train + split.value.val >= 1.0 - 1e-9 {
        true => total - train,
        false => share(split.value.val),
    };
    [train, val, total - train - val]
}

/// Whether part `index` (training, validation, test) must hold a sample: training always, a
/// validation part the spec asks for even when its share rounds down to nothing, and a test
/// part that has rows.
fn wanted(data: &Data, index: usize, count: u64) -> bool {
    let asks_validation = data
        .split
        .as_ref()
        .is_some_and(|split| split.value.val > 0.0);
    index == 0 || count > 0 || (index == 1 && asks_validation)
}

/// Every part a split gives rows must hold at least one sample, and the training part must.
fn check_parts(data: &Data, rows: u64, needed: u64, parts: [u64; 3]) -> Result<(), Diagnostic> {
    let random = data.split.as_ref().is_some_and(|split| split.value.random);
    let names = ["training", "validation", "test"];
    for (index, (part, count)) in names.into_iter().zip(parts).enumerate() {
        let short = if random { count == 0 } else { count < needed };
        if wanted(data, index, count) && short {
            return Err(too_few_rows(data, rows, needed, parts, part, count));
        }
    }
    Ok(())
}

fn too_few_rows(
    data: &Data,
    rows: u64,
    needed: u64,
    parts: [u64; 3],
    part: &str,
    count_in_part: u64,
) -> Diagnostic {
    let Frame::Forecast { window, ahead, out } = data.frame.value else {
        unreachable!("a series is framed by forecast")
    };
    let random = data.split.as_ref().is_some_and(|split| split.value.random);
    let message = match random {
        true => format!(
            "the {part} part gets no sample of the {}",
            count(parts.iter().sum(), "sample")
        ),
        false => format!(
            "the {part} part has {}, but a sample needs {needed}",
            count(count_in_part, "row")
        ),
    };
    let mut diagnostic = Diagnostic::error(
        message,
        data.frame.span,
        format!(
            "{} in, then {} starting {} after the window's last",
            count(window, "row"),
            count(out, "target row"),
            count(ahead, "row")
        ),
    )
    .with_note_at(
        data.source.span,
        format!("{} after missing cells are handled", count(rows, "row")),
    );
    let help = match &data.split {
        Some(split) => {
            let unit = if random { "samples" } else { "rows" };
            let named = [
                ("to train", parts[0]),
                ("to validate", parts[1]),
                ("to test", parts[2]),
            ];
            let shares: Vec<String> = named
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(what, n)| format!("{n} {what}"))
                .collect();
            diagnostic =
                diagnostic.with_note_at(split.span, format!("{unit}: {}", shares.join(", ")));
            "use a shorter window or forecast, or give this part more of the rows"
        }
        None => "use a shorter window or forecast",
    };
    diagnostic.with_help(help)
}

/// Fresh data has to come from somewhere random: a random source or random runs.
pub fn check_fresh(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let data = &spec.data;
    if data.source.value.is_random() || data.frame.value.is_random() {
        return;
    }
    let deterministic = |at, what: &str| {
        Diagnostic::error(
            format!("{what} needs random data"),
            at,
            "every draw would be the same",
        )
        .with_note_at(
            data.source.span,
            "this source and framing give the same samples every time",
        )
        .with_help("use `source=random_ints(...)` or `frame=runs(...)`, or drop it")
    };
    if let Some(at) = data.fresh {
        diagnostics.push(deterministic(at, "`fresh=each_epoch`"));
    }
    if let EvalOn::Fresh { .. } = spec.eval.on.value {
        diagnostics.push(deterministic(spec.eval.on.span, "`eval on=fresh`"));
    }
}

/// The symbols of an alphabet source, for checks on generation seeds.
pub fn letters(source: &Source) -> Option<&[char]> {
    match source {
        Source::Alphabet { letters } => Some(letters),
        Source::RandomInts { .. } | Source::Csv(_) | Source::Text { .. } | Source::Lines { .. } => {
            None
        }
    }
}
