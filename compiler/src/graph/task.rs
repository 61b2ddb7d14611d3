//! Checks that the spec asks one task of its data: a classification of symbols (softmax,
//! cross-entropy, accuracy) or a regression of a series' values (linear, mse or mae, rmse
//! and mae), and that the options of the other task are not written.

use runtime::plan::Schedule;

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::spec::{Encode, Frame, LayerKind, Layout, ShowItem, Source, Spec};

/// `ranks_hold`: no layer received the wrong rank, so the last layer is the output as
/// written and its kind is checked.
pub fn check(spec: &Spec, ranks_hold: bool, diagnostics: &mut Vec<Diagnostic>) {
    let series = matches!(spec.data.source.value, Source::Csv(_));
    check_loss(spec, series, diagnostics);
    check_series_options(spec, series, diagnostics);
    for item in &spec.show.items {
        if let Some(diagnostic) = show_mismatch(spec, series, &item.value, item.span) {
            diagnostics.push(diagnostic);
        }
    }
    check_watches_validation(spec, diagnostics);
    check_target_not_in_window(spec, diagnostics);
    if let (true, Some(stateful)) = (series, first_stateful(spec)) {
        diagnostics.push(
            Diagnostic::error(
                "stateful layers on a csv series are not supported yet",
                stateful,
                "would carry state from window to window",
            )
            .with_note_at(spec.data.source.span, "a series")
            .with_help("remove `stateful`: each window is a sample of its own"),
        );
    }
    if series && ranks_hold {
        check_ends_in_dense(spec, diagnostics);
    }
    check_random_split_shares_no_rows(spec, diagnostics);
    check_embedding(spec, diagnostics);
    check_dropout_between_layers(spec, diagnostics);
}

/// Dropout drops what one layer passes the next: the input's symbols may enter as indices,
/// and the loss reads the last layer's outputs as they are.
fn check_dropout_between_layers(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let layers = &spec.model.layers;
    for (index, layer) in layers.iter().enumerate() {
        if !matches!(layer.kind, LayerKind::Dropout { .. }) {
            continue;
        }
        let (label, help) = match index {
            0 => (
                "the first layer",
                "move `dropout` after a layer: it drops that layer's outputs",
            ),
            _ if index + 1 == layers.len() => (
                "the last layer",
                "end the model with its output layer; put `dropout` before it",
            ),
            _ => continue,
        };
        diagnostics.push(
            Diagnostic::error("dropout goes between layers", layer.span, label).with_help(help),
        );
    }
}

fn encoded_as_ids(spec: &Spec) -> bool {
    let encode = spec.data.encode.as_ref();
    encode.is_some_and(|e| e.value == Encode::Ids)
}

/// `encode=ids` written for a model with no embedding to look them up.
pub fn ids_without_embedding(spec: &Spec) -> bool {
    let embedding = |layer: &crate::spec::Layer| matches!(layer.kind, LayerKind::Embedding { .. });
    encoded_as_ids(spec) && !spec.model.layers.iter().any(embedding)
}

/// An embedding first in a model whose data are not encoded as ids (`check_embedding`'s
/// one mistake, which the input's features are not checked against again).
pub fn embedding_without_ids(spec: &Spec) -> bool {
    let first = spec.model.layers.iter().find(|l| !is_dropout(l));
    !encoded_as_ids(spec) && first.is_some_and(|l| matches!(l.kind, LayerKind::Embedding { .. }))
}

/// The layers up to the output: all but a dropout written after it, which
/// `check_dropout_between_layers` reports on its own, so that the output's checks read the
/// layer before it as the output.
pub fn up_to_output(spec: &Spec) -> &[crate::spec::Layer] {
    let layers = &spec.model.layers;
    let kept = layers
        .iter()
        .rposition(|l| !is_dropout(l))
        .map_or(0, |last| last + 1);
    &layers[..kept]
}

fn is_dropout(layer: &crate::spec::Layer) -> bool {
    matches!(layer.kind, LayerKind::Dropout { .. })
}

/// An embedding looks up the input's symbol ids, so it comes first and reads `encode=ids`;
/// ids mean nothing to any other layer. A dropout before it is reported on its own.
fn check_embedding(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let layers = &spec.model.layers;
    let ids = spec.data.encode.as_ref().filter(|e| e.value == Encode::Ids);
    for (index, layer) in layers.iter().enumerate() {
        if !matches!(layer.kind, LayerKind::Embedding { .. }) {
            continue;
        }
        if layers[..index].iter().any(|l| !is_dropout(l)) {
            diagnostics.push(
                Diagnostic::error(
                    "an embedding reads the input's symbols",
                    layer.span,
                    "not the first layer",
                )
                .with_help("move `embedding N` to the first line after `input`"),
            );
        } else if ids.is_none() {
            let diagnostic = Diagnostic::error(
                "an embedding reads integer symbols",
                layer.span,
                "looks up each step's symbol",
            );
            diagnostics.push(match &spec.data.encode {
                Some(encode) => diagnostic
                    .with_note_at(encode.span, "encoded as numbers here")
                    .with_help("write `encode=ids`: each symbol as its id"),
                None => diagnostic
                    .with_note_at(spec.data.source.span, "a series of numbers")
                    .with_help(
                        "remove the embedding: a series' values enter the first layer as they are",
                    ),
            });
        }
    }
    let Some(ids) = ids else {
        return;
    };
    // An embedding elsewhere is reported above, as the one mistake. Without one, the ids
    // are the mistake, and neither their layout nor the features they give is reported.
    if ids_without_embedding(spec) {
        diagnostics.push(
            Diagnostic::error(
                "`encode=ids` needs an `embedding` to read the ids",
                ids.span,
                "symbols as ids, and the model has no embedding",
            )
            .with_help("put `embedding N` right after `input`, or encode the symbols as features (`encode=one_hot` or `encode=normalize`)"),
        );
    } else if spec.data.layout.value == Layout::Features {
        diagnostics.push(
            Diagnostic::error(
                "ids are read one a step",
                spec.data.layout.span,
                "side by side in one step",
            )
            .with_note_at(ids.span, "symbols as ids")
            .with_help("remove `layout=features`: an embedding looks up one symbol a step"),
        );
    }
}

/// `dense N`, N the target columns times the rows a forecast predicts.
fn ends_in_dense_help(spec: &Spec) -> String {
    let (Source::Csv(csv), Frame::Forecast { out, .. }) =
        (&spec.data.source.value, &spec.data.frame.value)
    else {
        return "end the model with a linear `dense N`, N the values of a sample's targets".into();
    };
    let values = csv.targets.len() as u64 * out;
    format!("end the model with `dense {values}`, one unit a target value")
}

/// A regression's values come out of a `dense` layer.
fn check_ends_in_dense(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let Some(last) = up_to_output(spec).last() else {
        return;
    };
    if !matches!(last.kind, LayerKind::Dense { .. }) {
        diagnostics.push(
            Diagnostic::error(
                "a regression ends in a `dense` layer",
                last.span,
                "the model's last layer",
            )
            .with_help(ends_in_dense_help(spec)),
        );
    }
}

/// A random split keeps the parts apart only when no two samples read the same row: with
/// longer windows or a target row of its own, a test sample's rows would be read in
/// training, and fitted by the scaling.
fn check_random_split_shares_no_rows(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let (Some(split), Frame::Forecast { window, ahead, out }) =
        (&spec.data.split, &spec.data.frame.value)
    else {
        return;
    };
    if split.value.random && super::framing::sample_rows(*window, *ahead, *out) > 1 {
        // A row that is its own sample cannot hold a target that is also an input.
        let forecasts_itself = matches!(&spec.data.source.value, Source::Csv(csv)
            if csv.targets.iter().any(|t| csv.inputs.iter().any(|i| i.value == t.value)));
        let help = match forecasts_itself {
            true => "use `split=ordered(...)`: a series that forecasts its own column is read in time order",
            false => "use `frame=forecast(window=1, ahead=0)` for rows that are samples of their own, or `split=ordered(...)` for a series",
        };
        diagnostics.push(
            Diagnostic::error(
                "a random split needs samples that share no rows",
                split.span,
                "would read test rows in training",
            )
            .with_note_at(spec.data.frame.span, "each sample reads several rows")
            .with_help(help),
        );
    }
}

/// With `ahead=0` the target row is the window's last, so a target column that is also an
/// input would hand the model its own answer.
fn check_target_not_in_window(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let (Source::Csv(csv), Frame::Forecast { ahead: 0, .. }) =
        (&spec.data.source.value, &spec.data.frame.value)
    else {
        return;
    };
    for target in &csv.targets {
        if let Some(input) = csv.inputs.iter().find(|input| input.value == target.value) {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "`{}` is both an input and the target of the same row",
                        target.value
                    ),
                    target.span,
                    "the model would read its own answer",
                )
                .with_note_at(input.span, "read as an input here")
                .with_note_at(
                    spec.data.frame.span,
                    "`ahead=0` targets the window's last row",
                )
                .with_help("forecast a later row (`ahead=1`), or drop the column from `inputs`"),
            );
        }
    }
}

/// Early stopping and a plateau schedule watch the validation loss, so there must be a
/// validation part.
fn check_watches_validation(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    let has_validation = spec
        .data
        .split
        .as_ref()
        .is_some_and(|split| split.value.val > 0.0);
    if has_validation || spec.data.split_wrong {
        return;
    }
    // A symbol source draws its samples afresh and has no part to hold out.
    let splits = matches!(
        spec.data.source.value,
        Source::Csv(_) | Source::Text { .. } | Source::Lines { .. }
    );
    let split = match splits {
        true => {
            "split the data with a validation fraction, e.g. `split=ordered(train=0.6, val=0.2)`"
        }
        false => "a symbol source has no validation part",
    };
    if let Some(stop) = &spec.train.stop {
        let diagnostic = no_validation(spec, "early stopping", stop.span);
        diagnostics.push(diagnostic.with_help(match splits {
            true => split.to_string(),
            false => format!("{split}: remove `stop=`"),
        }));
    }
    if let Some(schedule) = &spec.train.schedule {
        if let Schedule::Plateau(_) = schedule.value {
            let diagnostic = no_validation(spec, "a plateau schedule", schedule.span);
            let by_steps = "lower the rate by steps, e.g. `schedule=step(every=1000, rate=0.5)`";
            diagnostics.push(diagnostic.with_help(match splits {
                true => format!("{split}, or {by_steps}"),
                false => format!("{split}: {by_steps}"),
            }));
        }
    }
}

fn no_validation(spec: &Spec, what: &str, at: Span) -> Diagnostic {
    let diagnostic = Diagnostic::error(
        format!("{what} needs a validation part"),
        at,
        "watches the validation loss",
    );
    match &spec.data.split {
        Some(split) => diagnostic.with_note_at(split.span, "no `val` fraction here"),
        None => diagnostic,
    }
}

/// Whether the loss is one of the data's task: cross-entropy for symbols, mse or mae for a
/// series. When it is not, that one error is reported, and the output's activation, which
/// follows from the loss, is not checked against the wrong one.
pub fn loss_fits(spec: &Spec) -> bool {
    let series = matches!(spec.data.source.value, Source::Csv(_));
    series != spec.train.loss.value.is_classes()
}

fn check_loss(spec: &Spec, series: bool, diagnostics: &mut Vec<Diagnostic>) {
    let loss = &spec.train.loss;
    if !loss_fits(spec) && series && loss.span == spec.train.span {
        diagnostics.push(
            Diagnostic::error(
                "a csv series needs `loss=mse` or `loss=mae`",
                loss.span,
                "no `loss`: the default, crossentropy, needs classes",
            )
            .with_note_at(spec.data.source.span, "the targets are values")
            .with_help("add `loss=mse` to `train`, with a linear `dense` output"),
        );
    } else if !loss_fits(spec) {
        let (message, help) = if series {
            let loss = match loss.value {
                crate::spec::Loss::BinaryCrossEntropy => "binary_crossentropy",
                _ => "crossentropy",
            };
            (
                format!("{loss} needs classes, but a csv series' targets are values"),
                "use `loss=mse` or `loss=mae`, with a linear `dense` output",
            )
        } else {
            (
                "mse and mae compare values, but these targets are symbols".to_string(),
                "use `loss=crossentropy` with a `dense C softmax` output",
            )
        };
        diagnostics.push(
            Diagnostic::error(message, loss.span, "does not fit the targets")
                .with_note_at(spec.data.source.span, "the targets come from here")
                .with_help(help),
        );
    }
}

/// `scale` and `split` apply to a series' rows; symbols have neither.
fn check_series_options(spec: &Spec, series: bool, diagnostics: &mut Vec<Diagnostic>) {
    if series {
        return;
    }
    let scale = &spec.data.scale;
    // A text splits in order too: its characters are its rows.
    let text = matches!(spec.data.source.value, Source::Text { .. });
    // Lines split by item, in order or at random: each line is a sample of its own.
    let lines = matches!(spec.data.source.value, Source::Lines { .. });
    let split = spec.data.split.as_ref().filter(|_| !text && !lines);
    if let Some(split) = spec
        .data
        .split
        .as_ref()
        .filter(|split| text && split.value.random)
    {
        diagnostics.push(
            Diagnostic::error(
                "a text splits in order",
                split.span,
                "would cut the text into shuffled pieces",
            )
            .with_help("use `split=ordered(train=0.95, val=0.05)`: the first characters train, the last validate"),
        );
    }
    if let (true, Layout::Features) = (text || lines, spec.data.layout.value) {
        diagnostics.push(
            Diagnostic::error(
                "a text is read one character a step",
                spec.data.layout.span,
                "`layout=features` does not apply",
            )
            .with_help("remove `layout=features`"),
        );
    }
    let written = [
        (scale.value != crate::spec::Scale::None).then_some((scale.span, "scale")),
        split.map(|split| (split.span, "split")),
    ];
    for (span, option) in written.into_iter().flatten() {
        diagnostics.push(
            Diagnostic::error(
                format!("`{option}` applies to a csv series"),
                span,
                "a symbol source has no rows to scale or split",
            )
            .with_note_at(spec.data.source.span, "a symbol source")
            .with_help(format!("remove `{option}`")),
        );
    }
}

fn show_mismatch(spec: &Spec, series: bool, item: &ShowItem, at: Span) -> Option<Diagnostic> {
    let (message, label, help) = match (item, series) {
        (ShowItem::Accuracy, true) => (
            "accuracy counts classes, but a csv series' targets are values",
            "does not fit the targets",
            "show `rmse` or `mae`",
        ),
        (ShowItem::Rmse | ShowItem::Mae, false) => (
            "rmse and mae measure values, but these targets are symbols",
            "does not fit the targets",
            "show `accuracy`",
        ),
        (ShowItem::Loss, _) if !is_text(spec) && !is_lines(spec) => (
            "`loss` shows a language model of a text or of lines",
            "needs a text or lines source",
            "use `source=text(\"FILE\")` or `source=lines(\"FILE\")`, or show `accuracy` or `rmse`",
        ),
        (ShowItem::Sample { .. }, _) if !is_text(spec) => (
            "`sample` continues a language model of a text",
            "needs a text source",
            "use `source=text(\"FILE\")`; a lines source draws whole items with `items(...)`",
        ),
        (ShowItem::Items { .. }, _) if !is_lines(spec) => (
            "`items` draws whole items from a model of lines",
            "needs a lines source",
            "use `source=lines(\"FILE\")`; a text continues with `sample(...)`",
        ),
        _ => return None,
    };
    Some(
        Diagnostic::error(message, at, label)
            .with_note_at(spec.data.source.span, "the targets come from here")
            .with_help(help),
    )
}

fn is_text(spec: &Spec) -> bool {
    matches!(spec.data.source.value, Source::Text { .. })
}

fn is_lines(spec: &Spec) -> bool {
    matches!(spec.data.source.value, Source::Lines { .. })
}

/// Each line is read from a zero state: a state carried from batch to batch would run one
/// item into the next. Each step predicts the next character from those before it, so no
/// layer may read an item backwards.
pub fn check_items(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    if !is_lines(spec) {
        return;
    }
    if let Some(stateful) = first_stateful(spec) {
        diagnostics.push(
            Diagnostic::error(
                "items are read from a zero state",
                stateful,
                "would carry one item into the next",
            )
            .with_note_at(spec.data.source.span, "one sample a line")
            .with_help("remove `stateful`"),
        );
    }
    if let Some(flag) = first_bidirectional(spec) {
        diagnostics.push(
            Diagnostic::error(
                "items need a prediction at every step from the steps before it",
                flag,
                "reads each item from its end too",
            )
            .with_note_at(spec.data.frame.span, "the target of each step is the next character")
            .with_help("remove `bidirectional`: its backward direction would read the characters it predicts"),
        );
    }
}

fn first_bidirectional(spec: &Spec) -> Option<Span> {
    spec.model
        .layers
        .iter()
        .find_map(|layer| match &layer.kind {
            LayerKind::Recurrent { bidirectional, .. } => bidirectional.as_ref().map(|b| b.span),
            _ => None,
        })
}

/// Streams continue from batch to batch only if nothing reorders the batches and every
/// layer carries its state from one to the next.
/// `ranks_hold`: a layer that received the wrong rank was reported with the layer before
/// it, which is the one that reads ahead; the read-ahead is not reported again.
pub fn check_streams(spec: &Spec, ranks_hold: bool, diagnostics: &mut Vec<Diagnostic>) {
    if !matches!(spec.data.frame.value, crate::spec::Frame::Streams { .. }) {
        return;
    }
    if spec.train.shuffle.value {
        diagnostics.push(
            Diagnostic::error(
                "streams need `shuffle=false`",
                spec.train.shuffle.span,
                "would reorder the batches",
            )
            .with_note_at(spec.data.frame.span, "each batch continues every stream")
            .with_help("write `shuffle=false` in `train` (Keras shuffles by default)"),
        );
    }
    // Each step's prediction must read the characters up to that step and no further; the
    // first layer that reads further is the mistake, the layers after it follow from it.
    let mut read_ahead_reported = !ranks_hold;
    for layer in &spec.model.layers {
        if let LayerKind::Recurrent {
            bidirectional: Some(_),
            stateful: Some(_),
            ..
        } = layer.kind
        {
            // Reported as a bidirectional layer that cannot be stateful: the one mistake.
            read_ahead_reported = true;
        }
        let reads_ahead = match layer.kind {
            LayerKind::Repeat { .. } => Some("`repeat` copies a state that read the whole chunk"),
            LayerKind::Recurrent {
                bidirectional: Some(_),
                ..
            } => Some("a bidirectional layer reads the chunk from its end too"),
            LayerKind::Recurrent {
                sequences: None, ..
            } => Some("a recurrent layer without `sequences` sums up the whole chunk"),
            _ => None,
        };
        if let (Some(why), false) = (reads_ahead, read_ahead_reported) {
            read_ahead_reported = true;
            diagnostics.push(
                Diagnostic::error("streams need a prediction at every step from the steps before it", layer.span, why)
                    .with_note_at(spec.data.frame.span, "the target of each step is the next character")
                    .with_help("use `lstm N stateful sequences` layers and a `dense V softmax per_step` output"),
            );
        }
        if let LayerKind::Recurrent {
            cell,
            stateful: None,
            ..
        } = layer.kind
        {
            let keyword = cell.keyword();
            diagnostics.push(
                Diagnostic::error(
                    format!("streams need stateful {keyword} layers"),
                    layer.span,
                    "starts every batch from zero",
                )
                .with_note_at(spec.data.frame.span, "each batch continues every stream")
                .with_help(format!(
                    "add `stateful` to every {keyword}: slot b of a batch carries stream b on"
                )),
            );
        }
    }
}

/// A sample starts by reading its prime, which must be written in the text's characters.
pub fn check_sample_prime(spec: &Spec, vocabulary: &[char], diagnostics: &mut Vec<Diagnostic>) {
    for item in &spec.show.items {
        let ShowItem::Sample { from, .. } = &item.value else {
            continue;
        };
        if let Some(unknown) = from.chars().find(|c| vocabulary.binary_search(c).is_err()) {
            diagnostics.push(
                Diagnostic::error(
                    format!("{unknown:?} is not a character of the text"),
                    item.span,
                    "in the prime",
                )
                .with_note_at(
                    spec.data.source.span,
                    format!("{} distinct characters", vocabulary.len()),
                )
                .with_help("prime with characters the text holds"),
            );
        }
    }
}

fn first_stateful(spec: &Spec) -> Option<Span> {
    spec.model.layers.iter().find_map(|layer| match layer.kind {
        LayerKind::Recurrent { stateful, .. } => stateful,
        _ => None,
    })
}
