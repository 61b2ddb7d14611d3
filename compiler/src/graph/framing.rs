//! What the data section produces: how many samples, of which shape, with which targets.

use crate::diagnostic::Diagnostic;
use crate::spec::{Data, Encode, EvalOn, Frame, Layout, Source, Spec};

/// The shapes the data framing produces for one draw of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framed {
    pub samples: u64,
    /// `[steps, features]` of one input sample, after encoding and layout.
    pub steps: u64,
    pub features: u64,
    /// Target steps per sample for per-step targets (lag framing), `None` for one target.
    pub target_steps: Option<u64>,
    pub classes: u64,
}

/// Frames the data, or explains why the framing does not fit the source.
pub fn frame(data: &Data) -> Result<Framed, Diagnostic> {
    let source = &data.source.value;
    let length = source.length();
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
    let per_symbol = match data.encode.value {
        Encode::Normalize => 1,
        Encode::OneHot => classes,
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
    })
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
        Source::RandomInts { .. } => None,
    }
}
