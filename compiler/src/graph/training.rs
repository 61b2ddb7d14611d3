//! Checks that tie the model to its training and demonstration settings: fixed batches for
//! stateful layers, and what `show generate(...)` needs.

use super::framing::{self, Framed};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::spec::{Batch, EvalOn, Frame, LayerKind, ShowItem, Spec};

/// Stateful layers keep one state per batch slot, so batches must be fixed and full.
pub fn check_batch(spec: &Spec, framed: Framed, diagnostics: &mut Vec<Diagnostic>) {
    let Some(stateful) = first_stateful(spec) else {
        return;
    };
    let Some(batch) = &spec.train.batch else {
        diagnostics.push(
            Diagnostic::error(
                "stateful lstm without a fixed batch size",
                stateful,
                "keeps one state per batch slot",
            )
            .with_note_at(spec.train.span, "no `batch` here")
            .with_help(format!(
                "add `batch=N` to `train`, N dividing the {} samples, e.g. `batch=1`",
                framed.samples
            )),
        );
        return;
    };
    let Batch::Size(size) = batch.value else {
        return;
    };
    if !framed.samples.is_multiple_of(size) {
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "batch size {size} does not divide the {} samples of a stateful run",
                    framed.samples
                ),
                batch.span,
                "leaves a partial batch",
            )
            .with_note_at(
                stateful,
                "stateful: slot i of each batch carries on from slot i of the one before",
            )
            .with_help(format!(
                "every batch must be full; use one of: {}",
                divisors(framed.samples)
            )),
        );
    }
}

fn first_stateful(spec: &Spec) -> Option<Span> {
    spec.model.layers.iter().find_map(|layer| match layer.kind {
        LayerKind::Recurrent { stateful, .. } => stateful,
        _ => None,
    })
}

/// The divisors of `n`, at most eight of them, for hints.
fn divisors(n: u64) -> String {
    let small = (1..=n.min(1 << 20)).filter(|d| n.is_multiple_of(*d));
    let listed: Vec<String> = small.take(8).map(|d| format!("batch={d}")).collect();
    listed.join(", ")
}

/// Predictions come from the samples evaluated; generation feeds each predicted letter back
/// in as the next input.
pub fn check_show(spec: &Spec, framed: Option<Framed>, diagnostics: &mut Vec<Diagnostic>) {
    // What generation needs of the data is one mistake however many generations are
    // shown: it is reported at the first.
    let mut generate_reported = false;
    for item in &spec.show.items {
        if let (
            ShowItem::Predictions {
                count: Some(count), ..
            },
            Some(framed),
        ) = (&item.value, framed)
        {
            check_predictions_count(spec, item.span, *count, framed, diagnostics);
        }
        let ShowItem::Generate { from, .. } = item.value else {
            continue;
        };
        let Some(letters) = framing::letters(&spec.data.source.value) else {
            if generate_reported {
                continue;
            }
            generate_reported = true;
            diagnostics.push(
                Diagnostic::error(
                    "generate needs an alphabet source",
                    item.span,
                    "seeds with a letter",
                )
                .with_note_at(spec.data.source.span, "not an alphabet")
                .with_help("use `source=alphabet`, or show `predictions` instead"),
            );
            continue;
        };
        if !letters.contains(&from) {
            diagnostics.push(
                Diagnostic::error(
                    format!("{from:?} is not a letter of the alphabet"),
                    item.span,
                    "unknown seed letter",
                )
                .with_help(format!(
                    "seed with one of {:?}",
                    letters.iter().collect::<String>()
                )),
            );
        }
        let one_in_one_out = spec.data.frame.value == Frame::Windows { size: 1 }
            && framed.is_some_and(|f| f.steps == 1);
        if !one_in_one_out && !generate_reported {
            generate_reported = true;
            diagnostics.push(
                Diagnostic::error(
                    "generate needs one letter in and one out",
                    item.span,
                    "feeds each prediction back as the next input",
                )
                .with_note_at(spec.data.frame.span, "samples are not single letters")
                .with_help(
                    "use `frame=windows(1)` with `layout=steps`, as the stateful tutorial does",
                ),
            );
        }
    }
}

/// Each prediction shown is of an evaluated sample, so no more can be shown than were
/// evaluated.
fn check_predictions_count(
    spec: &Spec,
    at: Span,
    count: u64,
    framed: Framed,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (evaluated, note) = match spec.eval.on.value {
        EvalOn::Train => (framed.evaluated, format!("{} samples", framed.evaluated)),
        EvalOn::Fresh { draws } => (
            framed.samples.saturating_mul(draws),
            format!("{draws} draws of {} samples", framed.samples),
        ),
    };
    if count <= evaluated {
        return;
    }
    let mut diagnostic = Diagnostic::error(
        format!(
            "{count} predictions asked for, but {} evaluated",
            match evaluated {
                1 => "1 sample is".to_string(),
                n => format!("{n} samples are"),
            }
        ),
        at,
        "more than are evaluated",
    )
    .with_note_at(spec.data.frame.span, note)
    .with_help(format!("show at most `predictions(count={evaluated})`"));
    if matches!(spec.eval.on.value, EvalOn::Fresh { .. }) {
        diagnostic = diagnostic.with_note_at(spec.eval.on.span, "evaluated on these draws");
    }
    diagnostics.push(diagnostic);
}
