//! The optimizers other than Adam and the gradient clipping, as Keras 3 writes them: the
//! references for `crate::sgd`, `crate::rmsprop`, AdamW in `crate::adam`, and `crate::clip`.
//!
//! Like `adam`, the updates keep their state in f32, as the kernels do, and compute each
//! step in f64.

use crate::adam::AdamWConfig;
use crate::rmsprop::RmspropConfig;
use crate::sgd::SgdConfig;

/// One Keras SGD step. `momentums` is not read when the momentum is 0.
pub fn sgd(params: &mut [f32], grads: &[f32], momentums: &mut [f32], config: SgdConfig) {
    let (lr, momentum) = (config.lr, config.momentum);
    for i in 0..params.len() {
        let (p, g) = (f64::from(params[i]), f64::from(grads[i]));
        if momentum == 0.0 {
            params[i] = (p - lr * g) as f32;
            continue;
        }
        let m = momentum * f64::from(momentums[i]) - lr * g;
        momentums[i] = m as f32;
        let change = if config.nesterov {
            momentum * m - lr * g
        } else {
            m
        };
        params[i] = (p + change) as f32;
    }
}

/// One Keras RMSprop step. `average_grads` is read only when centered, `momentums` only
/// with a momentum above 0.
pub fn rmsprop(
    params: &mut [f32],
    grads: &[f32],
    velocities: &mut [f32],
    average_grads: &mut [f32],
    momentums: &mut [f32],
    config: RmspropConfig,
) {
    let RmspropConfig {
        lr,
        rho,
        momentum,
        epsilon,
        centered,
    } = config;
    for i in 0..params.len() {
        let g = f64::from(grads[i]);
        let v = rho * f64::from(velocities[i]) + (1.0 - rho) * g * g;
        velocities[i] = v as f32;
        let denominator = if centered {
            let a = rho * f64::from(average_grads[i]) + (1.0 - rho) * g;
            average_grads[i] = a as f32;
            v - a * a + epsilon
        } else {
            v + epsilon
        };
        let increment = lr * g / denominator.sqrt();
        let change = if momentum > 0.0 {
            let mom = momentum * f64::from(momentums[i]) + increment;
            momentums[i] = mom as f32;
            mom
        } else {
            increment
        };
        params[i] = (f64::from(params[i]) - change) as f32;
    }
}

/// One Keras AdamW step (`step` counts from 1): the weight decay, then Adam's update.
pub fn adamw(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    config: AdamWConfig,
    step: u64,
) {
    for p in params.iter_mut() {
        let value = f64::from(*p);
        *p = (value - value * config.weight_decay * config.lr) as f32;
    }
    let AdamWConfig {
        lr,
        beta1,
        beta2,
        epsilon,
        ..
    } = config;
    super::adam(params, grads, m, v, lr, beta1, beta2, epsilon, step);
}

/// `Σ g²`, in order.
pub fn sum_squares(grads: &[f32]) -> f64 {
    grads.iter().map(|&g| f64::from(g) * f64::from(g)).sum()
}

/// Keras' `clipnorm` on one tensor: `g·clipnorm / max(‖g‖, clipnorm)`.
pub fn clip_by_norm(grads: &[f32], clipnorm: f64) -> Vec<f32> {
    let norm = sum_squares(grads).sqrt();
    grads
        .iter()
        .map(|&g| (f64::from(g) * clipnorm / norm.max(clipnorm)) as f32)
        .collect()
}

/// Keras' `global_clipnorm`: every tensor times `clipnorm·min(1/‖G‖, 1/clipnorm)`, `‖G‖`
/// the norm of all of them together.
pub fn clip_by_global_norm(tensors: &[Vec<f32>], clipnorm: f64) -> Vec<Vec<f32>> {
    let norm = tensors.iter().map(|g| sum_squares(g)).sum::<f64>().sqrt();
    let scale = clipnorm * (1.0 / norm).min(1.0 / clipnorm);
    tensors
        .iter()
        .map(|g| g.iter().map(|&x| (f64::from(x) * scale) as f32).collect())
        .collect()
}

/// Keras' `clipvalue`: each element clamped to `[-clipvalue, clipvalue]`.
pub fn clip_by_value(grads: &[f32], clipvalue: f32) -> Vec<f32> {
    grads
        .iter()
        .map(|g| g.clamp(-clipvalue, clipvalue))
        .collect()
}
