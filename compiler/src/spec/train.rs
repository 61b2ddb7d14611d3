//! The `train`, `eval` and `show` sections: how the model learns, what it is scored on, and
//! what the run prints.

use runtime::plan::{AdamConfig, OptimizerPlan};

use super::args::{
    bind, boolean, callee, choice, keep, non_negative, optional, positive, real_in, required,
    string, unknown,
};
use super::controls::{clip, optimizer, schedule};
use super::{Batch, EarlyStop, Eval, EvalOn, Loss, Order, Reset, Show, ShowItem, Train};
use crate::diagnostic::Diagnostic;
use crate::span::Spanned;
use crate::syntax::ast::{Item, Stmt, Value, ValueKind};

const TRAIN_PARAMS: [&str; 10] = [
    "loss",
    "optimizer",
    "epochs",
    "batch",
    "shuffle",
    "reset",
    "seed",
    "stop",
    "clip",
    "schedule",
];
const SHOW_ITEMS: [&str; 8] = [
    "accuracy",
    "rmse",
    "mae",
    "loss",
    "predictions",
    "generate",
    "sample",
    "items",
];
/// The most items `show items(...)` may draw; specs/README.md documents it.
pub const MAX_ITEMS: u64 = 10_000;
/// The most characters `show sample(...)` may draw; specs/README.md documents it.
pub const MAX_SAMPLE_LENGTH: u64 = 100_000;
/// The most steps `show generate(...)` may run; specs/README.md documents it.
pub const MAX_GENERATE_STEPS: u64 = 10_000;

pub fn resolve(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Train {
    let slots = bind(&stmt.items, &TRAIN_PARAMS, 0, "train", diagnostics);
    let at = stmt.span;
    let losses = [
        ("crossentropy", Loss::CrossEntropy),
        ("mse", Loss::Mse),
        ("mae", Loss::Mae),
        ("binary_crossentropy", Loss::BinaryCrossEntropy),
    ];
    let loss = optional(slots[0], Loss::CrossEntropy, at, diagnostics, |v| {
        choice(v, "loss", &losses)
    });
    let optimizer = slots[1]
        .and_then(|v| optimizer(v, diagnostics))
        .unwrap_or(Spanned::new(OptimizerPlan::Adam(AdamConfig::default()), at));
    let epochs = keep(
        diagnostics,
        required(slots[2], "epochs", at, "train epochs=500").and_then(|v| positive(v, "epochs")),
    )
    .unwrap_or(Spanned::new(1, at));
    // A batch written wrong stands in as `all`, which no batch check objects to.
    let batch = slots[3].map(|value| {
        keep(diagnostics, batch(value)).unwrap_or(Spanned::new(Batch::All, value.span))
    });
    let shuffle = optional(slots[4], true, at, diagnostics, |v| boolean(v, "shuffle"));
    let reset = optional(slots[5], Reset::EachEpoch, at, diagnostics, |v| {
        choice(
            v,
            "reset",
            &[("each_epoch", Reset::EachEpoch), ("never", Reset::Never)],
        )
    });
    let seed = optional(slots[6], 0, at, diagnostics, |v| non_negative(v, "seed"));
    let stop = slots[7].and_then(|v| early_stop(v, diagnostics));
    Train {
        loss,
        optimizer,
        clip: slots[8].and_then(|v| clip(v, diagnostics)),
        schedule: slots[9].and_then(|v| schedule(v, diagnostics)),
        epochs,
        batch,
        shuffle,
        reset,
        seed,
        stop,
        span: stmt.span,
    }
}

/// `early(patience, min_delta=0)`.
fn early_stop(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<EarlyStop>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "stop"))?;
    if name != "early" {
        diagnostics.push(unknown("way to stop", name, name_span, &["early"]));
        return None;
    }
    let before = diagnostics.len();
    let slots = bind(args, &["patience", "min_delta"], 1, "early", diagnostics);
    let patience = keep(
        diagnostics,
        required(slots[0], "patience", value.span, "stop=early(patience=10)")
            .and_then(|v| positive(v, "patience")),
    );
    let min_delta = match slots[1] {
        Some(v) => keep(
            diagnostics,
            real_in(v, "min_delta", 0.0, false, f64::INFINITY),
        ),
        None => Some(0.0),
    };
    let stop = EarlyStop {
        patience: patience?.value,
        min_delta: min_delta?,
    };
    (diagnostics.len() == before).then(|| Spanned::new(stop, value.span))
}

fn batch(value: &Value) -> Result<Spanned<Batch>, Diagnostic> {
    match &value.kind {
        ValueKind::Ident(word) if word == "all" => Ok(Spanned::new(Batch::All, value.span)),
        ValueKind::Ident(word) => Err(unknown("batch size", word, value.span, &["all"])),
        _ => positive(value, "batch").map(|n| Spanned::new(Batch::Size(n.value), n.span)),
    }
}

pub fn resolve_eval(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Eval> {
    let slots = bind(&stmt.items, &["on", "draws"], 0, "eval", diagnostics);
    let fresh = keep(
        diagnostics,
        required(slots[0], "on", stmt.span, "eval on=train")
            .and_then(|v| choice(v, "on", &[("train", false), ("fresh", true)])),
    )?;
    let on = match (fresh.value, slots[1]) {
        (true, Some(draws)) => EvalOn::Fresh {
            draws: keep(diagnostics, positive(draws, "draws"))?.value,
        },
        (true, None) => EvalOn::Fresh { draws: 1 },
        (false, None) => EvalOn::Train,
        (false, Some(draws)) => {
            diagnostics.push(
                Diagnostic::error(
                    "`draws` needs `on=fresh`",
                    draws.span,
                    "only fresh data is drawn",
                )
                .with_note_at(fresh.span, "evaluating on the training data")
                .with_help("remove `draws`, or evaluate with `on=fresh`"),
            );
            return None;
        }
    };
    Some(Eval {
        on: Spanned::new(on, fresh.span),
        span: stmt.span,
    })
}

pub fn resolve_show(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Option<Show> {
    let mut items = Vec::new();
    for item in &stmt.items {
        match &item.name {
            Some(name) => diagnostics.push(
                Diagnostic::error(
                    "`show` takes a list of things to show",
                    name.span,
                    "not a `name=value` option",
                )
                .with_help("write e.g. `show accuracy predictions(count=20, order=random)`"),
            ),
            None => items.extend(show_item(&item.value, diagnostics)),
        }
    }
    Some(Show { items })
}

/// One thing to show, each of its arguments checked on its own.
fn show_item(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<ShowItem>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "show"))?;
    let before = diagnostics.len();
    let item = match name {
        "accuracy" => {
            bind(args, &[], 0, "accuracy", diagnostics);
            Some(ShowItem::Accuracy)
        }
        "rmse" => {
            bind(args, &[], 0, "rmse", diagnostics);
            Some(ShowItem::Rmse)
        }
        "mae" => {
            bind(args, &[], 0, "mae", diagnostics);
            Some(ShowItem::Mae)
        }
        "predictions" => predictions(args, diagnostics),
        "generate" => generate(value, args, diagnostics),
        "loss" => {
            bind(args, &[], 0, "loss", diagnostics);
            Some(ShowItem::Loss)
        }
        "sample" => sample(value, args, diagnostics),
        "items" => items(args, diagnostics),
        other => {
            diagnostics.push(unknown("thing to show", other, name_span, &SHOW_ITEMS));
            None
        }
    };
    let item = item.filter(|_| diagnostics.len() == before)?;
    Some(Spanned::new(item, value.span))
}

fn predictions(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Option<ShowItem> {
    let slots = bind(args, &["count", "order"], 1, "predictions", diagnostics);
    let count = match slots[0] {
        Some(v) => keep(diagnostics, positive(v, "count")).map(|c| Some(c.value)),
        None => Some(None),
    };
    let orders = [("first", Order::First), ("random", Order::Random)];
    let order = match slots[1] {
        Some(v) => keep(diagnostics, choice(v, "order", &orders)).map(|o| o.value),
        None => Some(Order::First),
    };
    Some(ShowItem::Predictions {
        count: count?,
        order: order?,
    })
}

fn generate(call: &Value, args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Option<ShowItem> {
    let slots = bind(args, &["from", "steps"], 2, "generate", diagnostics);
    let example = "generate(from=\"A\", steps=25)";
    let from = keep(
        diagnostics,
        required(slots[0], "from", call.span, example).and_then(single_char),
    );
    let steps = keep(
        diagnostics,
        required(slots[1], "steps", call.span, example).and_then(generate_steps),
    );
    Some(ShowItem::Generate {
        from: from?,
        steps: steps?,
    })
}

/// `items(count=20, temperature=1, top_k=0, seed=0)`.
fn items(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Option<ShowItem> {
    let slots = bind(
        args,
        &["count", "temperature", "top_k", "seed"],
        1,
        "items",
        diagnostics,
    );
    let count = match slots[0] {
        Some(v) => keep(diagnostics, positive(v, "count")).and_then(|n| {
            let within = n.value <= MAX_ITEMS;
            if !within {
                diagnostics.push(
                    Diagnostic::error(
                        format!("`count` must be at most {MAX_ITEMS}, found {}", n.value),
                        v.span,
                        "too many items",
                    )
                    .with_help(format!("draw at most {MAX_ITEMS} items")),
                );
            }
            within.then_some(n.value)
        }),
        None => Some(20),
    };
    let temperature = match slots[1] {
        Some(v) => keep(diagnostics, real_in(v, "temperature", 0.0, true, 100.0)),
        None => Some(1.0),
    };
    let top_k = match slots[2] {
        Some(v) => keep(diagnostics, non_negative(v, "top_k")).map(|n| n.value),
        None => Some(0),
    };
    let seed = match slots[3] {
        Some(v) => keep(diagnostics, non_negative(v, "seed")).map(|n| n.value),
        None => Some(0),
    };
    Some(ShowItem::Items {
        count: count?,
        temperature: temperature?,
        top_k: top_k?,
        seed: seed?,
    })
}

/// `sample(from, length=500, temperature=1, top_k=0, seed=0)`.
fn sample(call: &Value, args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Option<ShowItem> {
    let params = ["from", "length", "temperature", "top_k", "seed"];
    let slots = bind(args, &params, 1, "sample", diagnostics);
    let example = "sample(from=\"ROMEO:\", length=500)";
    let from = keep(
        diagnostics,
        required(slots[0], "from", call.span, example).and_then(|v| {
            let text = string(v, "from")?;
            match text.is_empty() {
                true => Err(
                    Diagnostic::error("`from` is empty", v.span, "nothing to read first")
                        .with_help(
                            "prime the sample with at least one character, e.g. `from=\"T\"`",
                        ),
                ),
                false => Ok(text.to_string()),
            }
        }),
    );
    let length = match slots[1] {
        Some(v) => keep(diagnostics, positive(v, "length")).and_then(|n| {
            let within = n.value <= MAX_SAMPLE_LENGTH;
            if !within {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "`length` must be at most {MAX_SAMPLE_LENGTH}, found {}",
                            n.value
                        ),
                        v.span,
                        "too long to sample",
                    )
                    .with_help(format!("sample at most {MAX_SAMPLE_LENGTH} characters")),
                );
            }
            within.then_some(n.value)
        }),
        None => Some(500),
    };
    let temperature = match slots[2] {
        Some(v) => keep(diagnostics, real_in(v, "temperature", 0.0, true, 100.0)),
        None => Some(1.0),
    };
    let top_k = match slots[3] {
        Some(v) => keep(diagnostics, non_negative(v, "top_k")).map(|n| n.value),
        None => Some(0),
    };
    let seed = match slots[4] {
        Some(v) => keep(diagnostics, non_negative(v, "seed")).map(|n| n.value),
        None => Some(0),
    };
    Some(ShowItem::Sample {
        from: from?,
        length: length?,
        temperature: temperature?,
        top_k: top_k?,
        seed: seed?,
    })
}

/// Generation runs one step at a time and prints a line a step, so a count past a reader's
/// patience is a mistake, not a request.
fn generate_steps(value: &Value) -> Result<u64, Diagnostic> {
    let steps = positive(value, "steps")?.value;
    if steps > MAX_GENERATE_STEPS {
        return Err(Diagnostic::error(
            format!("`steps` must be at most {MAX_GENERATE_STEPS}, found {steps}"),
            value.span,
            "too many steps to generate",
        )
        .with_help(format!("generate at most {MAX_GENERATE_STEPS} steps")));
    }
    Ok(steps)
}

fn single_char(value: &Value) -> Result<char, Diagnostic> {
    let text = string(value, "from")?;
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(Diagnostic::error(
            "`from` must be one letter",
            value.span,
            "not a single letter",
        )
        .with_help("seed the generation with one letter of the alphabet, e.g. `from=\"A\"`")),
    }
}
