//! RMSprop, Keras 3's `RMSprop`, fused over a whole parameter buffer: one pass reads the
//! gradient and updates the moving averages, the momentum and the parameter.
//!
//! `v = rho·v + (1 - rho)·g²`; centered, also `a = rho·a + (1 - rho)·g` and
//! `denominator = v - a² + epsilon`, else `denominator = v + epsilon`;
//! `increment = lr·g / sqrt(denominator)`; with momentum, `mom = momentum·mom + increment`
//! and `p -= mom`, else `p -= increment`.
//!
//! Epsilon sits inside the square root, as in Keras (PyTorch adds it outside).

use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmspropConfig {
    pub lr: f64,
    pub rho: f64,
    pub momentum: f64,
    pub epsilon: f64,
    pub centered: bool,
}

impl Default for RmspropConfig {
    /// Keras' defaults: `RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
    /// centered=False)`.
    fn default() -> RmspropConfig {
        RmspropConfig {
            lr: 0.001,
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
}

/// The constants of one RMSprop update, computed once for every tensor it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmspropStep {
    lr: f32,
    rho: f32,
    keep: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
}

impl RmspropStep {
    pub fn new(config: RmspropConfig) -> RmspropStep {
        RmspropStep {
            lr: config.lr as f32,
            rho: config.rho as f32,
            keep: (1.0 - config.rho) as f32,
            momentum: config.momentum as f32,
            epsilon: config.epsilon as f32,
            centered: config.centered,
        }
    }
}

/// One update of a parameter buffer. `grads` and `velocities` have the parameters' length;
/// so do `average_grads` when centered and `momentums` when the momentum is above 0, each
/// otherwise not read and possibly empty (Keras keeps neither buffer then).
pub fn rmsprop_update(
    params: &mut [f32],
    grads: &[f32],
    velocities: &mut [f32],
    average_grads: &mut [f32],
    momentums: &mut [f32],
    step: RmspropStep,
) {
    let _ftz = FlushDenormals::new();
    let len = params.len();
    let with_momentum = step.momentum > 0.0;
    assert!(
        grads.len() == len
            && velocities.len() == len
            && (!step.centered || average_grads.len() == len)
            && (!with_momentum || momentums.len() == len),
        "rmsprop buffers differ in length"
    );
    let (lr, rho, keep) = (
        f32x8::splat(step.lr),
        f32x8::splat(step.rho),
        f32x8::splat(step.keep),
    );
    let (momentum, eps) = (f32x8::splat(step.momentum), f32x8::splat(step.epsilon));
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        let g = load(grads, j, n);
        let v = load(velocities, j, n).mul_add(rho, keep * (g * g));
        store(velocities, j, n, v);
        let mut spread = v;
        if step.centered {
            let a = load(average_grads, j, n).mul_add(rho, keep * g);
            store(average_grads, j, n, a);
            spread = a.mul_neg_add(a, v);
        }
        let mut change = lr * g / (spread + eps).sqrt();
        if with_momentum {
            change = load(momentums, j, n).mul_add(momentum, change);
            store(momentums, j, n, change);
        }
        store(params, j, n, load(params, j, n) - change);
    }
}
