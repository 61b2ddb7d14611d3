//! Shape inference through the layers, and the checks of the model against its data.

use petgraph::graph::DiGraph;

use super::{Framed, LayerGraph, Node, Op, Shape};
use crate::diagnostic::Diagnostic;
use crate::format::count;
use crate::span::Span;
use crate::spec::{Activation, Cell, Encode, Frame, LayerKind, Layout, Loss, Merge, Source, Spec};

/// What the walk remembers about the layers behind the current one, for hints.
struct Walk {
    shape: Shape,
    /// The layer that produced `shape`, and how to call it in a note.
    producer: Span,
    producer_text: String,
    /// Whether the producer is a recurrent layer, the one kind with a `sequences` flag to
    /// add or remove: a help offers that only then.
    producer_recurrent: bool,
    /// Where the current number of time steps was decided: `input` or a `repeat`.
    steps_from: Span,
    /// A layer received the wrong rank: the shapes after it follow from that mistake, so
    /// their ranks are not checked again.
    rank_reported: bool,
    /// What the targets are, so that a help offers only the fix that fits them.
    targets: Targets,
    /// The input's steps.
    input_steps: u64,
    /// The last recurrent layer after the current one that returns its last state, as
    /// written (`lstm 16`): a dense placed before it belongs after it.
    vector_recurrent_after: Option<String>,
}

/// The targets a model's output must match, as far as the framing is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// The framing has errors of its own.
    Unknown,
    /// One target a sample.
    One,
    /// A target at each of this many steps.
    Steps(u64),
}

/// Builds the graph, inferring each layer's output shape. A layer that receives the wrong
/// rank is reported and then taken as declared, so one mistake reports once.
pub fn build(
    spec: &Spec,
    batch: u64,
    targets: Targets,
    diagnostics: &mut Vec<Diagnostic>,
) -> LayerGraph {
    let input = &spec.model.input;
    let mut graph = DiGraph::new();
    let shape = Shape {
        batch,
        steps: Some(input.steps.value),
        features: input.features.value,
    };
    let input_node = graph.add_node(Node {
        op: Op::Input,
        span: input.span,
        params: 0,
        output: shape,
    });
    let mut walk = Walk {
        shape,
        producer: input.span,
        producer_text: "input".into(),
        producer_recurrent: false,
        steps_from: input.steps.span,
        rank_reported: false,
        targets,
        input_steps: input.steps.value,
        vector_recurrent_after: None,
    };
    let mut previous = input_node;
    for (index, layer) in spec.model.layers.iter().enumerate() {
        walk.vector_recurrent_after = last_vector_recurrent(&spec.model.layers[index + 1..]);
        let node = layer_node(&layer.kind, layer.span, &mut walk, diagnostics);
        let index = graph.add_node(node);
        graph.add_edge(previous, index, ());
        previous = index;
    }
    let loss_node = Node {
        op: Op::Loss(spec.train.loss.value),
        span: spec.train.loss.span,
        params: 0,
        output: walk.shape,
    };
    let loss = graph.add_node(loss_node);
    graph.add_edge(previous, loss, ());
    LayerGraph {
        graph,
        input: input_node,
    }
}

fn last_vector_recurrent(layers: &[crate::spec::Layer]) -> Option<String> {
    layers.iter().rev().find_map(|layer| match &layer.kind {
        LayerKind::Recurrent {
            cell,
            units,
            stateful,
            sequences: None,
            bidirectional,
            ..
        } => {
            // The flags tell it from a decoder of the same size.
            let stateful = if stateful.is_some() { " stateful" } else { "" };
            let both = if bidirectional.is_some() {
                " bidirectional"
            } else {
                ""
            };
            Some(format!(
                "{} {}{stateful}{both}",
                cell.keyword(),
                units.value
            ))
        }
        _ => None,
    })
}

fn layer_node(
    kind: &LayerKind,
    span: Span,
    walk: &mut Walk,
    diagnostics: &mut Vec<Diagnostic>,
) -> Node {
    let input = walk.shape;
    let (op, params, output) = match kind {
        LayerKind::Recurrent {
            cell,
            units,
            stateful,
            sequences,
            bidirectional,
            dropout,
            recurrent_dropout,
        } => {
            let steps = input.steps.unwrap_or_else(|| {
                report_rank(
                    recurrent_needs_sequence(*cell, span, walk),
                    walk,
                    diagnostics,
                );
                1
            });
            let h = u128::from(units.value);
            // A GRU has its recurrent bias apart, as `b_hn` sits inside the reset gate.
            let biases = if *cell == Cell::Gru { 2 } else { 1 };
            let gates = cell.gates() * h;
            let params = gates
                .saturating_mul(u128::from(input.features) + h)
                .saturating_add(biases * gates);
            // Each direction has weights of its own; concatenated, their outputs sit side by
            // side.
            let merge = bidirectional.as_ref().map(|merge| merge.value);
            let (params, features) = match merge {
                None => (params, units.value),
                Some(Merge::Concat) => (params.saturating_mul(2), units.value.saturating_mul(2)),
                Some(_) => (params.saturating_mul(2), units.value),
            };
            let output = Shape {
                batch: input.batch,
                steps: sequences.map(|_| steps),
                features,
            };
            (
                Op::Recurrent {
                    cell: *cell,
                    units: units.value,
                    stateful: stateful.is_some(),
                    sequences: sequences.is_some(),
                    bidirectional: merge,
                    dropout: *dropout,
                    recurrent_dropout: *recurrent_dropout,
                },
                params,
                output,
            )
        }
        LayerKind::Embedding { units } => {
            let output = Shape {
                batch: input.batch,
                steps: input.steps,
                features: units.value,
            };
            let params = u128::from(input.features) * u128::from(units.value);
            (Op::Embedding { units: units.value }, params, output)
        }
        LayerKind::Dropout { rate } => (Op::Dropout { rate: rate.value }, 0, input),
        LayerKind::Repeat { times } => {
            if input.steps.is_some() {
                report_rank(
                    repeat_needs_vector(span, times.value, walk),
                    walk,
                    diagnostics,
                );
            }
            walk.steps_from = span;
            let output = Shape {
                batch: input.batch,
                steps: Some(times.value),
                features: input.features,
            };
            (Op::Repeat { times: times.value }, 0, output)
        }
        LayerKind::Dense {
            units,
            activation,
            per_step,
        } => {
            let wrong_rank = match (per_step, input.steps) {
                (Some(flag), None) => Some(per_step_needs_sequence(*flag, walk)),
                (None, Some(_)) => Some(dense_needs_per_step(span, walk)),
                _ => None,
            };
            if let Some(diagnostic) = wrong_rank {
                report_rank(diagnostic, walk, diagnostics);
            }
            let params =
                u128::from(input.features) * u128::from(units.value) + u128::from(units.value);
            let steps = per_step.map(|_| input.steps.unwrap_or(1));
            let output = Shape {
                batch: input.batch,
                steps,
                features: units.value,
            };
            (
                Op::Dense {
                    units: units.value,
                    activation: activation.as_ref().map(|a| a.value),
                    per_step: per_step.is_some(),
                },
                params,
                output,
            )
        }
    };
    // Dropout and embedding hand on the rank they receive, so a note about the rank
    // names the layer that decided it.
    if !matches!(op, Op::Dropout { .. } | Op::Embedding { .. }) {
        walk.producer = span;
        walk.producer_text = op.to_string();
        walk.producer_recurrent = matches!(op, Op::Recurrent { .. });
    }
    walk.shape = output;
    Node {
        op,
        span,
        params,
        output,
    }
}

/// Reports a wrong rank unless an earlier layer's was: that layer was taken as declared,
/// and the ranks after it follow from its mistake.
fn report_rank(diagnostic: Diagnostic, walk: &mut Walk, diagnostics: &mut Vec<Diagnostic>) {
    if !walk.rank_reported {
        diagnostics.push(diagnostic);
    }
    walk.rank_reported = true;
}

/// What the layer before returns, said of it as it is: only a recurrent layer returns "its
/// last state".
fn returns_vector(walk: &Walk) -> String {
    if walk.producer_recurrent {
        format!("`{}` returns only its last state", walk.producer_text)
    } else {
        format!("`{}` returns one vector per sample", walk.producer_text)
    }
}

fn recurrent_needs_sequence(cell: Cell, span: Span, walk: &Walk) -> Diagnostic {
    let keyword = cell.keyword();
    // Targets at each of the input's steps need every step read in order: a `repeat` of
    // one vector cannot give them.
    let help = if walk.producer_recurrent && walk.targets == Targets::Steps(walk.input_steps) {
        "add `sequences` to the layer before".to_string()
    } else if walk.producer_recurrent {
        format!("add `sequences` to the layer before, or put `repeat N` in front of this {keyword}")
    } else {
        format!(
            "move this {keyword} before `{}`, or put `repeat N` in front of it",
            walk.producer_text
        )
    };
    Diagnostic::error(
        format!(
            "{keyword} needs a sequence `[B, T, F]`, found `{}`",
            walk.shape
        ),
        span,
        "receives one vector per sample",
    )
    .with_note_at(walk.producer, returns_vector(walk))
    .with_help(help)
}

fn repeat_needs_vector(span: Span, times: u64, walk: &Walk) -> Diagnostic {
    let help = match (walk.producer_recurrent, &walk.vector_recurrent_after) {
        (true, _) => "remove `sequences` from the layer before, so it returns its last state for repeat to copy"
            .to_string(),
        (false, Some(recurrent)) => format!("move this `repeat {times}` after the `{recurrent}`"),
        (false, None) => format!("put a recurrent layer without `sequences` between `{}` and repeat, so repeat copies its last state", walk.producer_text),
    };
    needs_vector("repeat", span, walk).with_help(help)
}

/// `layer` received a sequence where it reads one vector a sample.
fn needs_vector(layer: &str, span: Span, walk: &Walk) -> Diagnostic {
    Diagnostic::error(
        format!(
            "{layer} needs one vector `[B, F]` per sample, found the sequence `{}`",
            walk.shape
        ),
        span,
        "receives a sequence",
    )
    .with_note_at(
        walk.producer,
        format!("`{}` returns a sequence", walk.producer_text),
    )
}

fn per_step_needs_sequence(flag: Span, walk: &Walk) -> Diagnostic {
    let help = match (walk.producer_recurrent, walk.targets) {
        (true, Targets::Steps(_)) => "add `sequences` to the layer before",
        (true, Targets::Unknown) => "add `sequences` to the layer before, or remove `per_step`",
        _ => "remove `per_step`",
    };
    Diagnostic::error(
        format!(
            "per-step dense needs a sequence `[B, T, F]`, found `{}`",
            walk.shape
        ),
        flag,
        "no steps to apply it to",
    )
    .with_note_at(walk.producer, returns_vector(walk))
    .with_help(help)
}

fn dense_needs_per_step(span: Span, walk: &Walk) -> Diagnostic {
    let per_step = "add `per_step` to apply the dense layer to every step";
    let help = match (walk.producer_recurrent, walk.targets) {
        (_, Targets::Steps(_)) => per_step.to_string(),
        (true, Targets::One) => "remove `sequences` from the layer before".to_string(),
        (true, Targets::Unknown) => {
            format!("{per_step}, or remove `sequences` from the layer before")
        }
        (false, Targets::One) => match &walk.vector_recurrent_after {
            Some(recurrent) => format!("move this dense after the `{recurrent}`"),
            None => format!(
                "put an `lstm N` between `{}` and the dense to read the sequence",
                walk.producer_text
            ),
        },
        (false, Targets::Unknown) => format!(
            "put an `lstm N` between `{}` and the dense to read the sequence, or {per_step}",
            walk.producer_text
        ),
    };
    needs_vector("dense", span, walk).with_help(help)
}

/// The model's input must be what the data framing produces, and its output what the
/// targets hold.
pub fn check_against_data(
    spec: &Spec,
    graph: &LayerGraph,
    framed: Framed,
    ranks_hold: bool,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let input = &spec.model.input;
    let written = (input.steps.value, input.features.value);
    if written != (framed.steps, framed.features)
        && Some(written) == other_layout(&spec.data, framed)
    {
        diagnostics.push(layout_mismatch(spec, framed));
    } else {
        check_input_sizes(spec, framed, diagnostics);
    }
    check_output(spec, graph, framed, diagnostics);
    // Without a `repeat`, the output's steps are the input's: a wrong `input steps=` is
    // reported once, not again at the output.
    let steps_follow_input = steps_source(spec) == spec.model.input.steps.span;
    let input_steps_wrong = input.steps.value != framed.steps;
    if ranks_hold && !ends_in_repeat(spec) && !(steps_follow_input && input_steps_wrong) {
        check_output_steps(spec, graph, framed, diagnostics);
    }
}

/// The input's steps and features, each against the framing's.
fn check_input_sizes(spec: &Spec, framed: Framed, diagnostics: &mut Vec<Diagnostic>) {
    let input = &spec.model.input;
    let data = &spec.data;
    if input.steps.value != framed.steps {
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "input has {}, but the data framing produces {}",
                    count(input.steps.value, "step"),
                    framed.steps
                ),
                input.steps.span,
                format!("the data gives {}", count(framed.steps, "step")),
            )
            .with_note_at(data.frame.span, "framed here")
            .with_help(steps_help(spec, framed)),
        );
    }
    // Ids without an embedding is reported as the one mistake; so is an embedding without
    // ids when the input's features are what ids give (one a symbol of the vocabulary), so
    // that `encode=ids` fixes both.
    let ids_fix_both = super::task::embedding_without_ids(spec)
        && !matches!(data.source.value, Source::Csv(_))
        && input.features.value == framed.classes;
    let ids_mismatch = super::task::ids_without_embedding(spec) || ids_fix_both;
    if input.features.value != framed.features && !ids_mismatch {
        let (what, at, label) = match (&data.encode, data.layout.value) {
            (_, Layout::Features) => ("layout", data.layout.span, "side by side here"),
            (Some(encode), Layout::Steps) => ("encoding", encode.span, "encoded here"),
            (None, Layout::Steps) => ("series", data.source.span, "read here"),
        };
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "input has {}, but the data {what} produces {}",
                    count(input.features.value, "feature"),
                    framed.features
                ),
                input.features.span,
                format!(
                    "the data gives {} a step",
                    count(framed.features, "feature")
                ),
            )
            .with_note_at(at, label)
            .with_help(format!(
                "write `features={}`: {}",
                framed.features,
                features_help(data, framed)
            )),
        );
    }
}

/// Writing the framing's steps fixes the input, unless the targets have other steps and the
/// model, without a `repeat`, outputs as many steps as it reads: then the frame is wrong.
fn steps_help(spec: &Spec, framed: Framed) -> String {
    let follows_input = steps_source(spec) == spec.model.input.steps.span;
    // Only where the input already reads the targets' steps, one a step, does the lag fix it.
    let reads_out =
        |out| spec.data.layout.value == Layout::Steps && spec.model.input.steps.value == out;
    match (framed.target_steps, &spec.data.frame.value) {
        (Some(out), Frame::Lag { steps_in, .. })
            if follows_input && out != *steps_in && reads_out(out) =>
        {
            format!(
                "write `lag(in={out}, out={out})`: this model outputs as many steps as it reads, \
             and the targets have {out}"
            )
        }
        _ => format!("write `steps={}`", framed.steps),
    }
}

/// Features one symbol or one row gives, before a layout puts a window of them side by side.
fn features_each(data: &crate::spec::Data, framed: Framed) -> u64 {
    match (&data.source.value, data.encode.as_ref().map(|e| e.value)) {
        (Source::Csv(csv), _) => csv.inputs.len() as u64,
        (_, Some(Encode::OneHot | Encode::Ids)) => framed.classes,
        _ => 1,
    }
}

/// What a window holds: a series' rows, or a source's symbols.
fn window_items(data: &crate::spec::Data) -> &'static str {
    match data.source.value {
        Source::Csv(_) => "rows",
        _ => "symbols",
    }
}

/// Where the framing's features come from, in the help's words: side by side, a window's
/// symbols or rows multiply what one of them gives.
fn features_help(data: &crate::spec::Data, framed: Framed) -> String {
    let encode = data.encode.as_ref().map(|e| e.value);
    if data.layout.value == Layout::Steps {
        return match encode {
            Some(_) => format!(
                "normalize gives 1 feature a symbol, one_hot and ids one per class ({})",
                framed.classes
            ),
            None => "each input column is a feature of every step".into(),
        };
    }
    let each = features_each(data, framed);
    let one = match encode {
        Some(Encode::Normalize) => "normalize gives 1 feature a symbol".to_string(),
        Some(Encode::OneHot) => "one_hot gives one a class".to_string(),
        Some(Encode::Ids) => "ids give one a class".to_string(),
        None => format!("{} a row", count(each, "input column")),
    };
    let side_by_side = framed.features / each.max(1);
    let what = window_items(data);
    format!(
        "`layout=features` puts a window's {side_by_side} {what} side by side in one step, \
         {side_by_side} x {each} ({one})"
    )
}

/// The input's `(steps, features)` under the layout not written: a window one symbol or row
/// a step, or side by side in one. A text is read one character a step, with no other layout.
fn other_layout(data: &crate::spec::Data, framed: Framed) -> Option<(u64, u64)> {
    // Ids are read one a step, in no other layout.
    let ids = data.encode.as_ref().is_some_and(|e| e.value == Encode::Ids);
    if ids
        || matches!(
            data.source.value,
            Source::Text { .. } | Source::Lines { .. }
        )
    {
        return None;
    }
    let each = features_each(data, framed);
    match data.layout.value {
        Layout::Steps => Some((1, framed.steps.saturating_mul(each))),
        Layout::Features => Some((framed.features / each.max(1), each)),
    }
}

/// The input is written for the other layout: one mistake, in the input or the layout.
fn layout_mismatch(spec: &Spec, framed: Framed) -> Diagnostic {
    let data = &spec.data;
    let input = &spec.model.input;
    let what = window_items(data);
    let (other, label) = match data.layout.value {
        Layout::Steps => (
            "layout=features",
            format!("reads a window's {what} one a step"),
        ),
        Layout::Features => (
            "layout=steps",
            format!("puts a window's {what} side by side"),
        ),
    };
    Diagnostic::error(
        format!(
            "input `[{}, {}]` is the shape of `{other}`, but the data gives `[{}, {}]`",
            input.steps.value, input.features.value, framed.steps, framed.features
        ),
        data.layout.span,
        label,
    )
    .with_note_at(input.span, "steps and features a sample")
    .with_help(format!(
        "write `{other}`, or `input steps={} features={}`",
        framed.steps, framed.features
    ))
}

/// A model that ends in `repeat` lacks its decoder and output, which
/// `check_repeat_feeds_lstm` reports as one error.
fn ends_in_repeat(spec: &Spec) -> bool {
    matches!(
        spec.model.layers.last().map(|l| &l.kind),
        Some(LayerKind::Repeat { .. })
    )
}

fn check_output(
    spec: &Spec,
    graph: &LayerGraph,
    framed: Framed,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let chain = graph.chain();
    let last = chain[chain.len() - 2];
    if spec.train.loss.value == Loss::BinaryCrossEntropy {
        return check_binary_output(spec, last, framed, diagnostics);
    }
    if let (Op::Dense { units, .. }, Some(layer)) = (&last.op, spec.model.layers.last()) {
        if *units != framed.classes {
            let units_span = match &layer.kind {
                LayerKind::Dense { units, .. } => units.span,
                _ => layer.span,
            };
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "output size {units} differs from the {} of the targets",
                        match framed.values {
                            true => count(framed.classes, "value"),
                            false => format!("{} classes", framed.classes),
                        }
                    ),
                    units_span,
                    format!("expected {}", framed.classes),
                )
                .with_note_at(target_span(spec), target_note(framed))
                // The units only: the layer's activation and `per_step` are checked apart.
                .with_help(format!(
                    "write {}, one unit a {} of the targets",
                    framed.classes,
                    if framed.values { "value" } else { "class" }
                )),
            );
        }
    }
}

/// Binary cross-entropy is for two classes, one output giving the probability of the
/// second.
fn check_binary_output(
    spec: &Spec,
    last: &Node,
    framed: Framed,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let loss = spec.train.loss.span;
    // Items are padded, and binary cross-entropy has no target to skip padding with.
    if matches!(spec.data.source.value, crate::spec::Source::Lines { .. }) {
        diagnostics.push(
            Diagnostic::error("binary_crossentropy on lines", loss, "scores every step, padding too")
                .with_note_at(spec.data.source.span, "items padded to the longest")
                .with_help("use `loss=crossentropy` with a `dense C softmax per_step` output: it skips the padding"),
        );
        return;
    }
    if framed.classes != 2 {
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "binary_crossentropy is for two classes, the targets have {}",
                    framed.classes
                ),
                loss,
                "scores yes/no targets",
            )
            .with_note_at(target_span(spec), target_note(framed))
            .with_help(format!(
                "use `loss=crossentropy` with a `dense {} softmax` output",
                framed.classes
            )),
        );
        return;
    }
    if let (Op::Dense { units, .. }, Some(layer)) = (&last.op, spec.model.layers.last()) {
        if *units != 1 {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "output size {units}, but binary_crossentropy reads one output a target"
                    ),
                    layer.span,
                    "expected 1",
                )
                .with_note_at(loss, "the probability of the second class")
                .with_help("end the model with `dense 1 sigmoid`"),
            );
        }
    }
}

/// Where the targets' size is decided: a forecast of several rows multiplies the source's
/// target columns.
fn target_span(spec: &Spec) -> Span {
    match spec.data.frame.value {
        Frame::Forecast { out, .. } if out > 1 => spec.data.frame.span,
        _ => spec.data.source.span,
    }
}

/// What the targets hold, for notes.
fn target_note(framed: Framed) -> String {
    match framed.values {
        true => format!("{} a sample", count(framed.classes, "target value")),
        false => format!("{} classes", framed.classes),
    }
}

/// The output has as many steps as the targets, or is one vector for one target.
fn check_output_steps(
    spec: &Spec,
    graph: &LayerGraph,
    framed: Framed,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let chain = graph.chain();
    let last = chain[chain.len() - 2];
    let steps_from = steps_source(spec);
    match (framed.target_steps, last.output.steps) {
        (Some(target), Some(steps)) if target != steps => diagnostics.push(
            Diagnostic::error(
                format!(
                    "the model outputs {}, but the targets have {target}",
                    count(steps, "step")
                ),
                steps_from,
                format!("sets {}", count(steps, "step")),
            )
            .with_note_at(
                spec.data.frame.span,
                format!("{} per sample", count(target, "target step")),
            )
            .with_help(format!(
                "the decoder must run for {target} steps: `repeat {target}` after the encoder"
            )),
        ),
        (Some(target), None) => diagnostics.push(
            Diagnostic::error(
                format!(
                    "the targets have {}, but the model outputs one vector per sample",
                    count(target, "step")
                ),
                last.span,
                "one vector per sample",
            )
            .with_note_at(
                spec.data.frame.span,
                format!("{} per sample", count(target, "target step")),
            )
            .with_help(vector_output_help(&chain, target, framed.classes)),
        ),
        (None, Some(steps)) => diagnostics.push(
            Diagnostic::error(
                format!(
                    "the model outputs {}, but the targets are one {} per sample",
                    count(steps, "step"),
                    if framed.values { "vector" } else { "symbol" }
                ),
                last.span,
                "outputs a sequence",
            )
            .with_note_at(
                spec.data.frame.span,
                if framed.values {
                    "one target vector per sample"
                } else {
                    "one target symbol per sample"
                },
            )
            .with_help(sequence_output_help(&chain)),
        ),
        _ => {}
    }
}

/// How a model that ends in one vector reaches `target` steps: per-step outputs when the
/// last sequence has as many steps, a decoder that runs for `target` steps otherwise.
fn vector_output_help(chain: &[&Node], target: u64, classes: u64) -> String {
    let sequence_steps = chain.iter().rev().find_map(|node| node.output.steps);
    if sequence_steps == Some(target) {
        return format!(
            "add `sequences` to the last lstm and end with `dense {classes} softmax per_step`"
        );
    }
    format!(
        "decode {}: after the encoder, `repeat {target}`, `lstm N sequences`, then \
         `dense {classes} softmax per_step`",
        count(target, "step")
    )
}

/// What makes the output a sequence: only the flags that are really written.
fn sequence_output_help(chain: &[&Node]) -> String {
    let mut drops = Vec::new();
    let last_lstm = chain.iter().rev().find_map(|node| match node.op {
        Op::Recurrent { sequences, .. } => Some(sequences),
        _ => None,
    });
    if last_lstm == Some(true) {
        drops.push("`sequences` from the last recurrent layer");
    }
    if chain
        .iter()
        .any(|node| matches!(node.op, Op::Dense { per_step: true, .. }))
    {
        drops.push("`per_step` from the dense");
    }
    if chain
        .iter()
        .any(|node| matches!(node.op, Op::Repeat { .. }))
    {
        drops.push("the `repeat` and the decoder after it");
    }
    format!("drop {}", drops.join(" and "))
}

/// Where the output's number of steps was set: the last `repeat`, else `input`.
fn steps_source(spec: &Spec) -> Span {
    let last_repeat = spec
        .model
        .layers
        .iter()
        .rev()
        .find_map(|layer| match &layer.kind {
            LayerKind::Repeat { times } => Some(times.span),
            _ => None,
        });
    last_repeat.unwrap_or(spec.model.input.steps.span)
}

/// `repeat` copies a vector over steps for an LSTM decoder to read; the runtime feeds it to
/// that LSTM as a repeated input, projected once.
pub fn check_repeat_feeds_lstm(
    spec: &Spec,
    framed: Option<Framed>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let layers = &spec.model.layers;
    for (index, layer) in layers.iter().enumerate() {
        if !matches!(layer.kind, LayerKind::Repeat { .. }) {
            continue;
        }
        let next = layers.get(index + 1);
        if matches!(next.map(|l| &l.kind), Some(LayerKind::Recurrent { .. })) {
            continue;
        }
        // The output written right after repeat, ahead of the decoder, is reported as the
        // misplaced output; moving it puts the decoder after repeat.
        if misplaced_output(spec) == Some(index + 1) {
            continue;
        }
        let one_target = framed.is_some_and(|f| f.target_steps.is_none());
        let values = framed.is_some_and(|f| f.values);
        let help = match (next, one_target) {
            (None, true) if values => "the targets are one vector per sample: remove `repeat` and end the model with a linear `dense N`, N the target values",
            (None, true) => "the targets are one symbol per sample: remove `repeat` and end the model with `dense C softmax`",
            (None, false) => "repeat copies the encoder's last state over steps for a recurrent decoder: end the model with `lstm N sequences` and `dense C softmax per_step` after it",
            (Some(_), _) => "repeat copies the encoder's last state over steps for a recurrent decoder: put `lstm N sequences` (or `gru`) after it",
        };
        let mut diagnostic = Diagnostic::error(
            "repeat must feed a recurrent layer",
            layer.span,
            "not followed by an lstm or a gru",
        )
        .with_help(help);
        if let Some(next) = next {
            diagnostic = diagnostic.with_note_at(
                next.span,
                format!("`{}` reads the repeated vector", next.kind.keyword()),
            );
        }
        diagnostics.push(diagnostic);
    }
}

/// Cross-entropy takes probabilities: softmax on the last layer and nowhere else; a
/// regression's outputs are linear.
/// `ranks_hold`: no layer received the wrong rank. Otherwise the layers are out of order
/// and which one is the output is in doubt, so only what a flag says on its own is checked.
pub fn check_softmax(spec: &Spec, ranks_hold: bool, diagnostics: &mut Vec<Diagnostic>) {
    if !super::task::loss_fits(spec) {
        return;
    }
    match spec.train.loss.value {
        Loss::CrossEntropy => {}
        Loss::BinaryCrossEntropy => return check_sigmoid_output(spec, ranks_hold, diagnostics),
        Loss::Mse | Loss::Mae => return check_linear_output(spec, diagnostics),
    }
    if !ranks_hold {
        return;
    }
    let layers = super::task::up_to_output(spec);
    for (index, layer) in layers.iter().enumerate() {
        let Some(flag) = layer.kind.softmax() else {
            continue;
        };
        if index + 1 < layers.len() {
            // Without a softmax at the end, this one is the output written too early: moving
            // it fixes both; with one, it is a second softmax to remove.
            let help = if misplaced_output(spec).is_some() {
                "move this layer to the end of the model; only the last layer takes softmax"
            } else {
                "remove `softmax` here; only the last layer takes it"
            };
            diagnostics.push(
                Diagnostic::error(
                    "softmax on a layer that is not the output",
                    flag,
                    "not the last layer",
                )
                .with_note_at(
                    spec.train.loss.span,
                    "crossentropy applies softmax's probabilities at the output",
                )
                .with_help(help),
            );
        }
    }
    let ends_in_softmax = layers.last().is_some_and(|l| l.kind.softmax().is_some());
    let no_output = !ends_in_softmax && !ends_in_repeat(spec) && misplaced_output(spec).is_none();
    if let (true, Some(last)) = (no_output, layers.last()) {
        diagnostics.push(
            Diagnostic::error(
                "crossentropy needs a softmax output",
                last.span,
                "the last layer has no softmax",
            )
            .with_note_at(spec.train.loss.span, "the loss is crossentropy")
            .with_help(format!(
                "end the model with `dense C softmax{}`, C the number of classes",
                per_step_after(last)
            )),
        );
    }
}

/// ` per_step` when `layer` returns a sequence, so that an output added after it reads
/// every step (without it, the output would receive the wrong rank).
fn per_step_after(layer: &crate::spec::Layer) -> &'static str {
    match layer.kind {
        LayerKind::Recurrent {
            sequences: Some(_), ..
        }
        | LayerKind::Repeat { .. } => " per_step",
        _ => "",
    }
}

/// The index of a softmax layer written before other layers while the last layer has none:
/// the output out of its place, reported once as such.
pub fn misplaced_output(spec: &Spec) -> Option<usize> {
    let layers = super::task::up_to_output(spec);
    let last = layers.len().checked_sub(1)?;
    if layers[last].kind.softmax().is_some() {
        return None;
    }
    layers[..last]
        .iter()
        .position(|layer| layer.kind.softmax().is_some())
}

/// Binary cross-entropy reads one sigmoid output, the probability of class 1.
fn check_sigmoid_output(spec: &Spec, ranks_hold: bool, diagnostics: &mut Vec<Diagnostic>) {
    let loss = spec.train.loss.span;
    for layer in &spec.model.layers {
        if let Some(flag) = layer.kind.softmax() {
            diagnostics.push(
                Diagnostic::error("softmax with binary_crossentropy", flag, "a distribution over classes")
                    .with_note_at(loss, "the loss reads one probability a target")
                    .with_help("end the model with `dense 1 sigmoid`; for more classes, use `loss=crossentropy`"),
            );
            return;
        }
    }
    let Some(last) = super::task::up_to_output(spec).last() else {
        return;
    };
    let sigmoid = matches!(
        &last.kind,
        LayerKind::Dense { activation: Some(a), .. } if a.value == Activation::Sigmoid
    );
    if ranks_hold && !sigmoid && !ends_in_repeat(spec) {
        diagnostics.push(
            Diagnostic::error(
                "binary_crossentropy needs a sigmoid output",
                last.span,
                "the last layer has no sigmoid",
            )
            .with_note_at(loss, "the loss is binary_crossentropy")
            .with_help("end the model with `dense 1 sigmoid`"),
        );
    }
}

/// Mean squared and absolute errors compare values, so no layer may squash them into
/// probabilities.
fn check_linear_output(spec: &Spec, diagnostics: &mut Vec<Diagnostic>) {
    for layer in &spec.model.layers {
        if let Some(flag) = layer.kind.softmax() {
            diagnostics.push(
                Diagnostic::error(
                    "softmax in a regression",
                    flag,
                    "turns the values into probabilities",
                )
                .with_note_at(spec.train.loss.span, "the loss compares values")
                .with_help("remove `softmax`: a regression's dense layers are linear"),
            );
        }
    }
}
