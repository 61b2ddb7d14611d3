//! The `model NAME { ... }` section: the input declaration and the layers, in order.

use super::args::{self, bind, choice, positive, required, unknown};
use super::{Activation, Cell, Flag, Input, Layer, LayerKind, Merge, Model};
use crate::diagnostic::Diagnostic;
use crate::span::{Span, Spanned};
use crate::syntax::ast::{Item, Stmt, ValueKind};

/// A dense layer's flags: its activations, then `per_step`.
const DENSE_FLAGS: [&str; 5] = ["softmax", "relu", "tanh", "sigmoid", "per_step"];

/// A recurrent layer's flags, and its options: `merge=` for a bidirectional layer, and
/// Keras' `dropout=` and `recurrent_dropout=`.
const RECURRENT_FLAGS: [&str; 3] = ["stateful", "sequences", "bidirectional"];
const RECURRENT_OPTIONS: [&str; 3] = ["merge", "dropout", "recurrent_dropout"];

const LAYERS: [&str; 7] = [
    "input",
    "embedding",
    "lstm",
    "gru",
    "dropout",
    "repeat",
    "dense",
];

/// Keras names users reach for, and what this language calls them.
const KERAS_NAMES: [(&str, &str); 7] = [
    ("repeatvector", "`repeat N`"),
    (
        "bidirectional",
        "the `bidirectional` flag of lstm and gru: `lstm N bidirectional merge=concat`",
    ),
    ("timedistributed", "`dense N per_step`"),
    ("softmax", "the `softmax` flag of dense: `dense N softmax`"),
    ("relu", "the `relu` flag of dense: `dense N relu`"),
    ("sequential", "a `model NAME { ... }` block"),
    (
        "activation",
        "a flag of dense: `dense N relu` (or softmax, tanh, sigmoid)",
    ),
];

pub fn resolve(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Model> {
    let name = model_name(stmt, diagnostics);
    let Some(block) = &stmt.block else {
        diagnostics.push(
            Diagnostic::error("model without layers", stmt.span, "expected `{` and the layers")
                .with_help("write `model NAME {`, then `input steps=T features=F` and one layer a line, then `}`"),
        );
        return None;
    };
    let mut input = None;
    let mut layers = Vec::new();
    // A layer that does not resolve leaves a hole in the chain: shapes after it would be
    // checked against the wrong input, so the model is not checked further.
    let mut all_layers_resolved = true;
    for (index, layer_stmt) in block.stmts.iter().enumerate() {
        let keyword = &layer_stmt.keyword;
        if keyword.text == "input" {
            if index > 0 {
                diagnostics.push(
                    Diagnostic::error("`input` must come first", keyword.span, "not the first line of the model")
                        .with_help("move `input` to the first line of the block; it declares what the layers receive"),
                );
            }
            input = resolve_input(layer_stmt, diagnostics).or(input);
        } else {
            match resolve_layer(layer_stmt, diagnostics) {
                Some(layer) => layers.push(layer),
                None => all_layers_resolved = false,
            }
        }
    }
    if block.stmts.iter().all(|s| s.keyword.text != "input") {
        diagnostics.push(
            Diagnostic::error(
                "missing `input`",
                block.span,
                "no `input` line in this model",
            )
            .with_help(
                "start the block with the shape of one sample, e.g. `input steps=5 features=100`",
            ),
        );
    }
    if block.stmts.iter().all(|s| s.keyword.text == "input") {
        diagnostics.push(
            Diagnostic::error("model has no layers", block.span, "no layers in this block")
                .with_help("add layers after `input`, e.g. `lstm 32` and `dense 26 softmax`"),
        );
        return None;
    }
    if !all_layers_resolved {
        return None;
    }
    Some(Model {
        name: name?,
        input: input?,
        layers,
    })
}

fn model_name(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<String>> {
    match stmt.items.as_slice() {
        [item] if item.name.is_none() => match &item.value.kind {
            ValueKind::Ident(name) => Some(Spanned::new(name.clone(), item.span)),
            _ => {
                diagnostics.push(
                    Diagnostic::error("expected a model name", item.span, "not a name")
                        .with_help("name the model with a plain word: `model echo {`"),
                );
                None
            }
        },
        _ => {
            diagnostics.push(
                Diagnostic::error(
                    "expected one model name",
                    stmt.keyword
                        .span
                        .to(stmt.items.last().map_or(stmt.keyword.span, |i| i.span)),
                    "one name after `model`",
                )
                .with_help("write `model NAME {`"),
            );
            None
        }
    }
}

fn resolve_input(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Input> {
    let slots = bind(&stmt.items, &["steps", "features"], 0, "input", diagnostics);
    let steps = required(slots[0], "steps", stmt.span, "input steps=5 features=100");
    let features = required(
        slots[1],
        "features",
        stmt.span,
        "input steps=5 features=100",
    );
    let steps = steps.and_then(|v| positive(v, "steps"));
    let features = features.and_then(|v| positive(v, "features"));
    match (steps, features) {
        (Ok(steps), Ok(features)) => Some(Input {
            steps,
            features,
            span: stmt.span,
        }),
        (steps, features) => {
            diagnostics.extend(steps.err().into_iter().chain(features.err()));
            None
        }
    }
}

fn resolve_layer(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Layer> {
    let keyword = &stmt.keyword;
    let kind = match keyword.text.as_str() {
        "lstm" | "gru" => recurrent(stmt, diagnostics)?,
        "embedding" => {
            let (units, _) = size_and_flags(stmt, "output_dim", &[], &[], diagnostics);
            LayerKind::Embedding { units: units? }
        }
        "dropout" => LayerKind::Dropout {
            rate: dropout_rate(stmt, diagnostics)?,
        },
        "repeat" => {
            let (times, _) = size_and_flags(stmt, "times", &[], &[], diagnostics);
            LayerKind::Repeat { times: times? }
        }
        "dense" => {
            let (units, flags) = size_and_flags(stmt, "units", &DENSE_FLAGS, &[], diagnostics);
            LayerKind::Dense {
                units: units?,
                activation: one_activation(&flags, diagnostics),
                per_step: flags[Activation::ALL.len()],
            }
        }
        other => {
            let lower = other.to_ascii_lowercase();
            let diagnostic = match KERAS_NAMES.iter().find(|(keras, _)| *keras == lower) {
                Some((_, ours)) => Diagnostic::error(
                    format!("unknown layer `{other}`"),
                    keyword.span,
                    "not a known layer",
                )
                .with_help(format!("this language writes it as {ours}")),
                None => unknown("layer", other, keyword.span, &LAYERS),
            };
            diagnostics.push(diagnostic);
            return None;
        }
    };
    Some(Layer {
        kind,
        span: stmt.span,
    })
}

/// `dropout RATE`: one number in `[0, 1)`.
fn dropout_rate(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<f64>> {
    let [item] = stmt.items.as_slice() else {
        diagnostics.push(
            Diagnostic::error("expected one rate for `dropout`", stmt.span, "one number")
                .with_help(
                    "write `dropout R`, R the fraction of values to drop, e.g. `dropout 0.2`",
                ),
        );
        return None;
    };
    let rate = args::real_in(&item.value, "dropout", 0.0, false, 1.0);
    let rate = rate.map_err(|d| diagnostics.push(d)).ok()?;
    Some(Spanned::new(rate, item.span))
}

/// `lstm N` or `gru N` with its flags, `merge=` for a bidirectional one (Keras' default,
/// `concat`, when it is not given), and `dropout=` and `recurrent_dropout=` rates.
fn recurrent(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<LayerKind> {
    let keyword = stmt.keyword.text.as_str();
    let (units, flags) = size_and_flags(
        stmt,
        "units",
        &RECURRENT_FLAGS,
        &RECURRENT_OPTIONS,
        diagnostics,
    );
    let [stateful, sequences, bidirectional] = flags[..] else {
        unreachable!("one slot a flag")
    };
    let options: Vec<Item> = stmt
        .items
        .iter()
        .filter(|i| i.name.is_some())
        .cloned()
        .collect();
    let slots = bind(&options, &RECURRENT_OPTIONS, 0, keyword, diagnostics);
    let merge =
        slots[0].and_then(|value| args::keep(diagnostics, choice(value, "merge", &Merge::ALL)));
    let mut rate = |slot: Option<&crate::syntax::ast::Value>, what: &str| {
        slot.and_then(|value| {
            let rate = args::real_in(value, what, 0.0, false, 1.0);
            rate.map_err(|d| diagnostics.push(d)).ok()
        })
        .unwrap_or(0.0)
    };
    let dropout = rate(slots[1], "dropout");
    let recurrent_dropout = rate(slots[2], "recurrent_dropout");
    let merge_item = options
        .iter()
        .find(|item| item.name.as_ref().is_some_and(|n| n.text == "merge"));
    if let (None, Some(item)) = (bidirectional, merge_item) {
        diagnostics.push(merge_without_bidirectional(item.span));
    }
    if let (Some(stateful), Some(flag)) = (stateful, bidirectional) {
        diagnostics.push(stateful_bidirectional(stateful, flag));
    }
    Some(LayerKind::Recurrent {
        cell: if keyword == "lstm" {
            Cell::Lstm
        } else {
            Cell::Gru
        },
        units: units?,
        stateful,
        sequences,
        bidirectional: bidirectional
            .map(|flag| Spanned::new(merge.map_or(Merge::Concat, |m| m.value), flag)),
        dropout,
        recurrent_dropout,
    })
}

fn merge_without_bidirectional(merge: Span) -> Diagnostic {
    Diagnostic::error(
        "`merge` needs `bidirectional`",
        merge,
        "merges two directions",
    )
    .with_help("add `bidirectional` to read the sequence in both directions, or remove `merge=`")
}

/// Keras would carry both directions' states, but the backward direction ends each batch
/// at the batch's first step, which the next batch does not continue.
fn stateful_bidirectional(stateful: Span, bidirectional: Span) -> Diagnostic {
    Diagnostic::error(
        "a bidirectional layer cannot be stateful",
        stateful,
        "would carry its state into the next batch",
    )
    .with_note_at(bidirectional, "reads each sequence from its end too")
    .with_help(
        "remove `bidirectional`, or `stateful` where no batch continues the one before (streams \
         do): the backward direction ends at a batch's first step, which the next batch does \
         not continue",
    )
}

/// The activation flag set among a dense layer's flags; a second one is an error.
fn one_activation(
    flags: &[Flag],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Spanned<Activation>> {
    let mut set = Activation::ALL
        .iter()
        .zip(flags)
        .filter_map(|((_, activation), flag)| flag.map(|span| Spanned::new(*activation, span)));
    let first = set.next();
    if let (Some(first), Some(second)) = (&first, set.next()) {
        diagnostics.push(
            Diagnostic::error(
                "a dense layer has one activation",
                second.span,
                "a second one",
            )
            .with_note_at(first.span, "the first")
            .with_help(format!(
                "keep `{}` or `{}`; to apply both, use two dense layers",
                first.value.keyword(),
                second.value.keyword()
            )),
        );
    }
    first
}

/// A layer's size (its one positional number) and which of `flags` are set. A layer that
/// takes `options` leaves every `name=value` item to its caller, which binds them.
fn size_and_flags(
    stmt: &Stmt,
    size_name: &str,
    flags: &[&str],
    options: &[&str],
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<Spanned<u64>>, Vec<Flag>) {
    let layer = stmt.keyword.text.as_str();
    let mut size = None;
    let mut set: Vec<Flag> = vec![None; flags.len()];
    for item in &stmt.items {
        let word = match (&item.name, &item.value.kind) {
            (Some(_), _) if !options.is_empty() => continue,
            (None, ValueKind::Ident(word)) => word,
            (None, _) if size.is_none() => {
                size = Some(
                    positive(&item.value, size_name)
                        .map_err(|d| diagnostics.push(d))
                        .ok(),
                );
                continue;
            }
            _ => {
                let help = layer_help(layer, flags, options);
                diagnostics.push(
                    Diagnostic::error(
                        format!("unexpected item in `{layer}`"),
                        item.span,
                        "not expected here",
                    )
                    .with_help(help),
                );
                continue;
            }
        };
        match flags.iter().position(|f| f == word) {
            Some(index) if set[index].is_some() => diagnostics.push(
                Diagnostic::error(
                    format!("`{word}` given twice"),
                    item.span,
                    "given again here",
                )
                .with_help("remove one of them"),
            ),
            Some(index) => set[index] = Some(item.span),
            None if flags.is_empty() => diagnostics.push(
                Diagnostic::error(
                    format!("unknown flag `{word}` for `{layer}`"),
                    item.span,
                    "not a flag",
                )
                .with_help(layer_help(layer, flags, options)),
            ),
            // An option written without its value (`gru 16 dropout`) is not a flag to guess.
            None if options.contains(&word.as_str()) => diagnostics.push(
                Diagnostic::error(
                    format!("`{word}` takes a value in `{layer}`"),
                    item.span,
                    "written without one",
                )
                .with_help(match word.as_str() {
                    "merge" => "write `merge=` with concat, sum, mul or ave".to_string(),
                    _ => format!("write `{word}=R`, a rate of 0 or more, below 1"),
                }),
            ),
            None => diagnostics.push(args::unknown_for("flag", layer, word, item.span, flags)),
        }
    }
    let size = match size {
        Some(size) => size,
        None => {
            diagnostics.push(
                Diagnostic::error(
                    format!("missing {size_name} of `{layer}`"),
                    stmt.span,
                    format!("expected the {size_name} after `{layer}`"),
                )
                .with_help(layer_help(layer, flags, options)),
            );
            None
        }
    };
    (size, set)
}

fn layer_help(layer: &str, flags: &[&str], options: &[&str]) -> String {
    let help = match flags {
        [] => format!("write `{layer} N`"),
        _ => format!(
            "write `{layer} N` followed by any of the flags: {}",
            flags.join(", ")
        ),
    };
    match options {
        [] => help,
        _ => format!("{help}, and `{}=...`", options.join("=...`, `")),
    }
}
