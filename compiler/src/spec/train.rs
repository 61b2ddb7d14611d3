//! The `train`, `eval` and `show` sections: how the model learns, what it is scored on, and
//! what the run prints.

use super::args::{
    bind, boolean, callee, choice, keep, non_negative, optional, positive, real_in, required,
    string, unknown,
};
use super::{Adam, Batch, Eval, EvalOn, Loss, Order, Reset, Show, ShowItem, Train};
use crate::diagnostic::Diagnostic;
use crate::span::Spanned;
use crate::syntax::ast::{Stmt, Value, ValueKind};

const TRAIN_PARAMS: [&str; 7] = [
    "loss",
    "optimizer",
    "epochs",
    "batch",
    "shuffle",
    "reset",
    "seed",
];
const SHOW_ITEMS: [&str; 3] = ["accuracy", "predictions", "generate"];

pub fn resolve(stmt: &Stmt, diagnostics: &mut Vec<Diagnostic>) -> Train {
    let slots = bind(&stmt.items, &TRAIN_PARAMS, 0, "train", diagnostics);
    let at = stmt.span;
    let loss = optional(slots[0], Loss::CrossEntropy, at, diagnostics, |v| {
        choice(v, "loss", &[("crossentropy", Loss::CrossEntropy)])
    });
    let optimizer = optional(slots[1], Adam::default(), at, diagnostics, adam);
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
    Train {
        loss,
        optimizer,
        epochs,
        batch,
        shuffle,
        reset,
        seed,
        span: stmt.span,
    }
}

fn adam(value: &Value) -> Result<Spanned<Adam>, Diagnostic> {
    let (name, name_span, args) = callee(value, "optimizer")?;
    if name != "adam" {
        return Err(unknown("optimizer", name, name_span, &["adam"]));
    }
    let mut diagnostics = Vec::new();
    let slots = bind(
        args,
        &["lr", "beta1", "beta2", "epsilon"],
        1,
        "adam",
        &mut diagnostics,
    );
    if let Some(first) = diagnostics.into_iter().next() {
        return Err(first);
    }
    let mut adam = Adam::default();
    if let Some(v) = slots[0] {
        adam.lr = real_in(v, "lr", 0.0, true, f64::INFINITY)?;
    }
    if let Some(v) = slots[1] {
        adam.beta1 = real_in(v, "beta1", 0.0, false, 1.0)?;
    }
    if let Some(v) = slots[2] {
        adam.beta2 = real_in(v, "beta2", 0.0, false, 1.0)?;
    }
    if let Some(v) = slots[3] {
        adam.epsilon = real_in(v, "epsilon", 0.0, true, f64::INFINITY)?;
    }
    Ok(Spanned::new(adam, value.span))
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
        let parsed = match &item.name {
            Some(name) => Err(Diagnostic::error(
                "`show` takes a list of things to show",
                name.span,
                "not a `name=value` option",
            )
            .with_help("write e.g. `show accuracy predictions(count=20, order=random)`")),
            None => show_item(&item.value),
        };
        match parsed {
            Ok(parsed) => items.push(parsed),
            Err(diagnostic) => diagnostics.push(diagnostic),
        }
    }
    Some(Show { items })
}

fn show_item(value: &Value) -> Result<Spanned<ShowItem>, Diagnostic> {
    let (name, name_span, args) = callee(value, "show")?;
    let mut diagnostics = Vec::new();
    let item = match name {
        "accuracy" => {
            bind(args, &[], 0, "accuracy", &mut diagnostics);
            ShowItem::Accuracy
        }
        "predictions" => {
            let slots = bind(
                args,
                &["count", "order"],
                1,
                "predictions",
                &mut diagnostics,
            );
            let count = slots[0]
                .map(|v| positive(v, "count"))
                .transpose()?
                .map(|c| c.value);
            let order = match slots[1] {
                Some(v) => {
                    choice(
                        v,
                        "order",
                        &[("first", Order::First), ("random", Order::Random)],
                    )?
                    .value
                }
                None => Order::First,
            };
            ShowItem::Predictions { count, order }
        }
        "generate" => {
            let slots = bind(args, &["from", "steps"], 2, "generate", &mut diagnostics);
            let example = "generate(from=\"A\", steps=25)";
            let from_value = required(slots[0], "from", value.span, example)?;
            let from = single_char(from_value)?;
            let steps = positive(required(slots[1], "steps", value.span, example)?, "steps")?.value;
            ShowItem::Generate { from, steps }
        }
        other => return Err(unknown("thing to show", other, name_span, &SHOW_ITEMS)),
    };
    match diagnostics.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(Spanned::new(item, value.span)),
    }
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
