//! Stochastic gradient descent, Keras 3's `SGD`, fused over a whole parameter buffer: one
//! pass reads the gradient and updates the velocity and the parameter.
//!
//! Without momentum, `p -= lr·g`. With momentum, `m = momentum·m - lr·g`, then `p += m`, or
//! with Nesterov `p += momentum·m - lr·g` (with the new `m`). As Keras, a momentum of 0 keeps
//! no velocity and ignores `nesterov`.

use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// Keras' defaults: `SGD(learning_rate=0.01, momentum=0.0, nesterov=False)`.
    fn default() -> SgdConfig {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
            nesterov: false,
        }
    }
}

/// The constants of one SGD update, computed once for every tensor it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdStep {
    lr: f32,
    momentum: f32,
    nesterov: bool,
}

impl SgdStep {
    pub fn new(config: SgdConfig) -> SgdStep {
        SgdStep {
            lr: config.lr as f32,
            momentum: config.momentum as f32,
            nesterov: config.nesterov,
        }
    }
}

/// One update of a parameter buffer. `grads` has the parameters' length, and so does
/// `momentums` (the velocities) unless the momentum is 0: then it is not read and may be empty.
pub fn sgd_update(params: &mut [f32], grads: &[f32], momentums: &mut [f32], step: SgdStep) {
    let _ftz = FlushDenormals::new();
    assert_eq!(
        grads.len(),
        params.len(),
        "sgd: grads and params differ in length"
    );
    if step.momentum == 0.0 {
        descend(params, grads, step.lr);
    } else {
        assert_eq!(
            momentums.len(),
            params.len(),
            "sgd: momentums and params differ in length"
        );
        descend_with_momentum(params, grads, momentums, step);
    }
}

fn descend(params: &mut [f32], grads: &[f32], lr: f32) {
    let lr = f32x8::splat(lr);
    for j in (0..params.len()).step_by(8) {
        let n = 8.min(params.len() - j);
        let p = load(grads, j, n).mul_neg_add(lr, load(params, j, n));
        store(params, j, n, p);
    }
}

fn descend_with_momentum(params: &mut [f32], grads: &[f32], momentums: &mut [f32], step: SgdStep) {
    let (lr, momentum) = (f32x8::splat(step.lr), f32x8::splat(step.momentum));
    for j in (0..params.len()).step_by(8) {
        let n = 8.min(params.len() - j);
        let lr_g = lr * load(grads, j, n);
        let m = load(momentums, j, n).mul_sub(momentum, lr_g);
        store(momentums, j, n, m);
        let change = if step.nesterov {
            m.mul_sub(momentum, lr_g)
        } else {
            m
        };
        store(params, j, n, load(params, j, n) + change);
    }
}
