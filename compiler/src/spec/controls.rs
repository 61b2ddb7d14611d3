//! `train`'s `optimizer=`, `clip=` and `schedule=`: the update rule and what sits around it,
//! each argument checked on its own so that every wrong one is reported, each left out
//! taking Keras' default (the kernels' `Default`s).

use runtime::plan::{
    AdamConfig, AdamWConfig, Clip, OptimizerPlan, Plateau, RmspropConfig, Schedule, SgdConfig,
};

use super::args::{bind, boolean, callee, keep, positive, real_in, required, unknown};
use crate::diagnostic::Diagnostic;
use crate::span::Spanned;
use crate::syntax::ast::{Item, Value};

const OPTIMIZERS: [&str; 4] = ["adam", "adamw", "sgd", "rmsprop"];
const CLIPS: [&str; 3] = ["norm", "global_norm", "value"];
/// Keras' argument for each way to clip, for those who write it.
const KERAS_CLIPS: [(&str, &str); 3] = [
    ("clipnorm", "norm"),
    ("global_clipnorm", "global_norm"),
    ("clipvalue", "value"),
];
const SCHEDULES: [&str; 3] = ["step", "exponential", "plateau"];

/// The interval a real argument must lie in: `[low, high)`, or `(low, high)` when
/// `low_open`.
#[derive(Clone, Copy)]
struct Range {
    low: f64,
    low_open: bool,
    high: f64,
}

/// Above 0: learning rates, epsilons, clipping limits.
const POSITIVE: Range = Range {
    low: 0.0,
    low_open: true,
    high: f64::INFINITY,
};
/// 0 or more: weight decay, `min_delta`, `min_lr`.
const NOT_NEGATIVE: Range = Range {
    low: 0.0,
    low_open: false,
    high: f64::INFINITY,
};
/// In [0, 1): betas, `rho`, momentum.
const FRACTION: Range = Range {
    low: 0.0,
    low_open: false,
    high: 1.0,
};
/// In (0, 1): the factors that lower a learning rate.
const DECAY: Range = Range {
    low: 0.0,
    low_open: true,
    high: 1.0,
};

/// Sets `field` to the argument in `slot` when it is written and in `range`.
fn real(
    slot: Option<&Value>,
    what: &str,
    range: Range,
    field: &mut f64,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let value = slot.map(|v| real_in(v, what, range.low, range.low_open, range.high));
    if let Some(x) = value.and_then(|result| keep(diagnostics, result)) {
        *field = x;
    }
}

fn flag(slot: Option<&Value>, what: &str, field: &mut bool, diagnostics: &mut Vec<Diagnostic>) {
    if let Some(on) = slot.and_then(|v| keep(diagnostics, boolean(v, what))) {
        *field = on.value;
    }
}

/// `adam(...)`, `adamw(...)`, `sgd(...)` or `rmsprop(...)`.
pub fn optimizer(
    value: &Value,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Spanned<OptimizerPlan>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "optimizer"))?;
    let before = diagnostics.len();
    let plan = match name {
        "adam" => OptimizerPlan::Adam(adam(args, diagnostics)),
        "adamw" => OptimizerPlan::AdamW(adamw(args, diagnostics)),
        "sgd" => OptimizerPlan::Sgd(sgd(args, diagnostics)),
        "rmsprop" => OptimizerPlan::Rmsprop(rmsprop(args, diagnostics)),
        _ => {
            diagnostics.push(unknown("optimizer", name, name_span, &OPTIMIZERS));
            return None;
        }
    };
    (diagnostics.len() == before).then(|| Spanned::new(plan, value.span))
}

fn adam(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> AdamConfig {
    let params = ["lr", "beta1", "beta2", "epsilon"];
    let slots = bind(args, &params, 1, "adam", diagnostics);
    let mut config = AdamConfig::default();
    real(slots[0], "lr", POSITIVE, &mut config.lr, diagnostics);
    real(slots[1], "beta1", FRACTION, &mut config.beta1, diagnostics);
    real(slots[2], "beta2", FRACTION, &mut config.beta2, diagnostics);
    real(
        slots[3],
        "epsilon",
        POSITIVE,
        &mut config.epsilon,
        diagnostics,
    );
    config
}

fn adamw(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> AdamWConfig {
    let params = ["lr", "weight_decay", "beta1", "beta2", "epsilon"];
    let slots = bind(args, &params, 1, "adamw", diagnostics);
    let mut config = AdamWConfig::default();
    real(slots[0], "lr", POSITIVE, &mut config.lr, diagnostics);
    let decay = &mut config.weight_decay;
    real(slots[1], "weight_decay", NOT_NEGATIVE, decay, diagnostics);
    real(slots[2], "beta1", FRACTION, &mut config.beta1, diagnostics);
    real(slots[3], "beta2", FRACTION, &mut config.beta2, diagnostics);
    real(
        slots[4],
        "epsilon",
        POSITIVE,
        &mut config.epsilon,
        diagnostics,
    );
    config
}

fn sgd(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> SgdConfig {
    let slots = bind(args, &["lr", "momentum", "nesterov"], 1, "sgd", diagnostics);
    let mut config = SgdConfig::default();
    real(slots[0], "lr", POSITIVE, &mut config.lr, diagnostics);
    real(
        slots[1],
        "momentum",
        FRACTION,
        &mut config.momentum,
        diagnostics,
    );
    flag(slots[2], "nesterov", &mut config.nesterov, diagnostics);
    config
}

fn rmsprop(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> RmspropConfig {
    let params = ["lr", "rho", "momentum", "epsilon", "centered"];
    let slots = bind(args, &params, 1, "rmsprop", diagnostics);
    let mut config = RmspropConfig::default();
    real(slots[0], "lr", POSITIVE, &mut config.lr, diagnostics);
    real(slots[1], "rho", FRACTION, &mut config.rho, diagnostics);
    real(
        slots[2],
        "momentum",
        FRACTION,
        &mut config.momentum,
        diagnostics,
    );
    real(
        slots[3],
        "epsilon",
        POSITIVE,
        &mut config.epsilon,
        diagnostics,
    );
    flag(slots[4], "centered", &mut config.centered, diagnostics);
    config
}

/// `norm(limit)`, `global_norm(limit)` or `value(limit)`.
pub fn clip(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<Clip>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "clip"))?;
    if !CLIPS.contains(&name) {
        let mut diagnostic = unknown("way to clip", name, name_span, &CLIPS);
        if let Some((keras, ours)) = KERAS_CLIPS.iter().find(|(keras, _)| *keras == name) {
            diagnostic = diagnostic.with_help(format!(
                "Keras' `{keras}=` is written `clip={ours}(limit)` here"
            ));
        }
        diagnostics.push(diagnostic);
        return None;
    }
    let before = diagnostics.len();
    let slots = bind(args, &["limit"], 1, name, diagnostics);
    let example = format!("clip={name}(1.0)");
    let written = keep(
        diagnostics,
        required(slots[0], "limit", value.span, &example),
    )?;
    let limit = keep(
        diagnostics,
        real_in(written, "limit", 0.0, true, f64::INFINITY),
    )?;
    let clip = match name {
        "norm" => Clip::Norm(limit),
        "global_norm" => Clip::GlobalNorm(limit),
        _ => Clip::Value(keep(diagnostics, f32_limit(written, limit))?),
    };
    (diagnostics.len() == before).then(|| Spanned::new(clip, value.span))
}

/// The elements of a gradient are f32, so a limit to clamp them to is one too: a limit
/// below the smallest normal f32 would round towards 0.
fn f32_limit(value: &Value, limit: f64) -> Result<f32, Diagnostic> {
    if limit >= f64::from(f32::MIN_POSITIVE) {
        return Ok(limit as f32);
    }
    Err(Diagnostic::error(
        format!(
            "`limit` must be at least {:e}, found {limit:e}",
            f32::MIN_POSITIVE
        ),
        value.span,
        "too small for an f32 gradient",
    )
    .with_help("clamp the gradients to a limit that an f32 holds, e.g. `clip=value(0.5)`"))
}

/// `step(every, rate)`, `exponential(every, rate)` or `plateau(factor=0.1, patience=10,
/// min_delta=1e-4, min_lr=0)`.
pub fn schedule(value: &Value, diagnostics: &mut Vec<Diagnostic>) -> Option<Spanned<Schedule>> {
    let (name, name_span, args) = keep(diagnostics, callee(value, "schedule"))?;
    let before = diagnostics.len();
    let schedule = match name {
        "step" | "exponential" => {
            let (every, rate) = decay(value, name, args, diagnostics)?;
            match name {
                "step" => Schedule::Step { every, rate },
                _ => Schedule::Exponential { every, rate },
            }
        }
        "plateau" => Schedule::Plateau(plateau(args, diagnostics)),
        _ => {
            diagnostics.push(unknown("schedule", name, name_span, &SCHEDULES));
            return None;
        }
    };
    (diagnostics.len() == before).then(|| Spanned::new(schedule, value.span))
}

/// A decay's `every` (optimizer steps) and `rate`, both required as in Keras.
fn decay(
    call: &Value,
    name: &str,
    args: &[Item],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(u64, f64)> {
    let slots = bind(args, &["every", "rate"], 2, name, diagnostics);
    let example = format!("schedule={name}(every=1000, rate=0.5)");
    let every = keep(
        diagnostics,
        required(slots[0], "every", call.span, &example).and_then(|v| positive(v, "every")),
    );
    let rate = keep(
        diagnostics,
        required(slots[1], "rate", call.span, &example)
            .and_then(|v| real_in(v, "rate", DECAY.low, DECAY.low_open, DECAY.high)),
    );
    Some((every?.value, rate?))
}

/// Keras' `ReduceLROnPlateau` defaults: factor 0.1, patience 10, min_delta 1e-4, min_lr 0.
fn plateau(args: &[Item], diagnostics: &mut Vec<Diagnostic>) -> Plateau {
    let params = ["factor", "patience", "min_delta", "min_lr"];
    let slots = bind(args, &params, 0, "plateau", diagnostics);
    let mut plateau = Plateau {
        factor: 0.1,
        patience: 10,
        min_delta: 1e-4,
        min_lr: 0.0,
    };
    real(slots[0], "factor", DECAY, &mut plateau.factor, diagnostics);
    if let Some(n) = slots[1].and_then(|v| keep(diagnostics, positive(v, "patience"))) {
        plateau.patience = n.value as usize;
    }
    let min_delta = &mut plateau.min_delta;
    real(slots[2], "min_delta", NOT_NEGATIVE, min_delta, diagnostics);
    real(
        slots[3],
        "min_lr",
        NOT_NEGATIVE,
        &mut plateau.min_lr,
        diagnostics,
    );
    plateau
}
