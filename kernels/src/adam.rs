//! The Adam update, fused over a whole parameter buffer: one pass reads the gradient and
//! updates both moments and the parameter.
//!
//! Keras' form (Keras 3 `Adam.update_step`), so a spec trains as it would under Keras:
//! `alpha = lr·sqrt(1 - beta2^t) / (1 - beta1^t)`, `m += (g - m)(1 - beta1)`,
//! `v += (g² - v)(1 - beta2)`, `p -= alpha·m / (sqrt(v) + epsilon)`.

use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

/// The per-step constants of one Adam update, computed once for every tensor it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    alpha: f32,
    epsilon: f32,
    keep1: f32,
    keep2: f32,
}

impl AdamStep {
    /// The constants for update number `step`, counting from 1.
    pub fn new(config: AdamConfig, step: u64) -> AdamStep {
        let t = step as f64;
        let alpha = config.lr * (1.0 - config.beta2.powf(t)).sqrt() / (1.0 - config.beta1.powf(t));
        AdamStep {
            alpha: alpha as f32,
            epsilon: config.epsilon as f32,
            keep1: (1.0 - config.beta1) as f32,
            keep2: (1.0 - config.beta2) as f32,
        }
    }
}

/// One update of a parameter buffer. All four buffers have the same length.
pub fn adam_update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: AdamStep,
) {
    let _ftz = FlushDenormals::new();
    let len = params.len();
    assert!(
        grads.len() == len && m.len() == len && v.len() == len,
        "adam buffers differ in length"
    );
    let (alpha, eps) = (f32x8::splat(step.alpha), f32x8::splat(step.epsilon));
    let (keep1, keep2) = (f32x8::splat(step.keep1), f32x8::splat(step.keep2));
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        let g = load(grads, j, n);
        let m_old = load(m, j, n);
        let v_old = load(v, j, n);
        let m_new = (g - m_old).mul_add(keep1, m_old);
        let v_new = (g * g - v_old).mul_add(keep2, v_old);
        store(m, j, n, m_new);
        store(v, j, n, v_new);
        store(
            params,
            j,
            n,
            load(params, j, n) - alpha * m_new / (v_new.sqrt() + eps),
        );
    }
}
