//! Binary cross-entropy fused with the sigmoid: one pass over the logits gives the
//! probabilities, the loss and the gradient of the logits.
//!
//! This is what Keras 3 computes for a sigmoid output under `binary_crossentropy` with the
//! TensorFlow backend: the sigmoid activation keeps its input (`_keras_logits`), and the loss
//! takes it, `tf.nn.sigmoid_cross_entropy_with_logits`, with no clipping. Its numerically
//! stable form is, per element, `max(x, 0) - x·t + ln(1 + exp(-|x|))`, and its gradient
//! `σ(x) - t`, never 0 for a wrong prediction however confident. Keras' other backends
//! (NumPy, PyTorch, JAX) instead clip the probability to `[1e-7, 1 - 1e-7]` and take logs,
//! which caps each element's loss at about 16.1 and zeroes the gradient past the clip; lstmc
//! follows TensorFlow, as PyTorch's `BCEWithLogitsLoss` does too.
//!
//! The kernel sums; like the regression losses, Keras' mean (over the last axis, then over
//! the batch) is the sum divided by `count = rows·outputs`, with `scale = 1 / count`.

use wide::{f32x8, f64x4};

use crate::activation::{exp8, relu8};
use crate::denormal::FlushDenormals;
use crate::lanes::{load, store, widen};

/// Returns `Σ max(x, 0) - x·t + ln(1 + exp(-|x|))` over all elements, in f64, and writes
/// `probs = σ(x)` and `dlogits = (σ(x) - t) · scale`, the gradient of `scale` times the sum.
///
/// Targets are 0 or 1, or any probability in between; a NaN logit makes the sum NaN. All
/// four slices have the same length, any layout. `σ(x)` comes from `exp(-|x|)`, which the
/// loss needs anyway, as `1 / (1 + e)` or `e / (1 + e)`: it keeps its relative precision far
/// into either tail, where `sigmoid8`'s is absolute.
pub fn sigmoid_bce(
    logits: &[f32],
    targets: &[f32],
    scale: f32,
    probs: &mut [f32],
    dlogits: &mut [f32],
) -> f64 {
    let _ftz = FlushDenormals::new();
    let len = logits.len();
    assert!(
        targets.len() == len && probs.len() == len && dlogits.len() == len,
        "sigmoid_bce: logits, targets, probs and dlogits must have the same length, got {}, {}, {} and {}",
        len,
        targets.len(),
        probs.len(),
        dlogits.len()
    );
    let (zero, one, scale) = (f32x8::ZERO, f32x8::ONE, f32x8::splat(scale));
    let mut sum = f64x4::ZERO;
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        let (x, t) = (load(logits, j, n), load(targets, j, n));
        let e = exp8(-x.abs());
        let one_plus_e = one + e;
        let prob = x.simd_lt(zero).bitselect(e, one) / one_plus_e;
        store(probs, j, n, prob);
        store(dlogits, j, n, (prob - t) * scale);
        // Both parts are at least 0 for t in [0, 1], so the sum cancels nothing.
        let loss = x.mul_neg_add(t, relu8(x)) + ln_1p(e, one_plus_e);
        let [low, high] = widen(first_lanes(loss, n));
        sum += low + high;
    }
    sum.reduce_add()
}

/// `ln(1 + e)` for `e` in [0, 1] given `1 + e` rounded: Kahan's correction, `ln(u)·e/(u - 1)`,
/// cancels the rounding of `u`, which would lose all of a small `e`.
#[inline(always)]
fn ln_1p(e: f32x8, u: f32x8) -> f32x8 {
    let rounded_to_one = u.simd_eq(f32x8::ONE);
    rounded_to_one.bitselect(e, u.ln() * e / (u - f32x8::ONE))
}

/// The first `n` lanes of `x`, the rest zero: a padding lane's logit 0 would add ln 2.
#[inline(always)]
fn first_lanes(x: f32x8, n: usize) -> f32x8 {
    if n == 8 {
        return x;
    }
    let mut lanes = x.to_array();
    lanes[n..].fill(0.0);
    f32x8::from(lanes)
}
