//! Regression losses, fused: one pass over the predictions gives the loss and its gradient,
//! for mean squared error and mean absolute error.
//!
//! The kernels sum; they do not average. Keras' `mean_squared_error` and
//! `mean_absolute_error` take the mean over the last axis and then over the batch (PyTorch's
//! `MSELoss` and `L1Loss` the mean over every element): when every row has the same width,
//! both are the sum over all `count = rows·outputs` elements divided by `count`. A caller
//! gets them by passing `scale = 1 / count`, which scales the gradient, and dividing the
//! returned sum by `count`.
//!
//! The sum is accumulated in f64, so a long series of small errors does not lose its tail.

use wide::{f32x8, f64x4};

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store, widen};

/// Mean squared error's numerator: returns `Σ (p - t)²` over all elements, in f64, and writes
/// `dpredictions = 2 (p - t) · scale`, the gradient of `scale · Σ (p - t)²`.
///
/// All three slices have the same length, any layout (`[N, O]`, `[T, B, O]`, ...), since the
/// loss is elementwise. With `scale = 1 / len` the gradient is that of Keras'
/// `mean_squared_error`, whose value is the returned sum divided by `len`.
pub fn mse(predictions: &[f32], targets: &[f32], scale: f32, dpredictions: &mut [f32]) -> f64 {
    let _ftz = FlushDenormals::new();
    assert_same_lengths("mse", predictions, targets, dpredictions);
    let len = predictions.len();
    let two_scale = f32x8::splat(2.0 * scale);
    let mut sum = f64x4::ZERO;
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        // Padding lanes load zero from both slices, so their difference adds nothing.
        let diff = load(predictions, j, n) - load(targets, j, n);
        store(dpredictions, j, n, diff * two_scale);
        let [low, high] = widen(diff);
        sum += low * low + high * high;
    }
    sum.reduce_add()
}

/// Mean absolute error's numerator: returns `Σ |p - t|` over all elements, in f64, and writes
/// `dpredictions = sign(p - t) · scale` with `sign(0) = 0`.
///
/// `|x|` has no derivative at 0; `sign(0) = 0` is the subgradient TensorFlow's gradient of
/// `abs` and PyTorch's `l1_loss` give, so a prediction equal to its target is left alone.
/// A NaN difference gets gradient 0 (and makes the returned sum NaN).
/// Shapes and `scale` as for `mse`: `scale = 1 / len` gives Keras' `mean_absolute_error`.
pub fn mae(predictions: &[f32], targets: &[f32], scale: f32, dpredictions: &mut [f32]) -> f64 {
    let _ftz = FlushDenormals::new();
    assert_same_lengths("mae", predictions, targets, dpredictions);
    let len = predictions.len();
    let (zero, scale) = (f32x8::ZERO, f32x8::splat(scale));
    let mut sum = f64x4::ZERO;
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        let diff = load(predictions, j, n) - load(targets, j, n);
        // Comparison masks are all ones or all zeros, so `mask & scale` is `scale` or 0.
        let up = diff.simd_gt(zero) & scale;
        let down = diff.simd_lt(zero) & scale;
        store(dpredictions, j, n, up - down);
        let [low, high] = widen(diff);
        sum += low.abs() + high.abs();
    }
    sum.reduce_add()
}

fn assert_same_lengths(loss: &str, predictions: &[f32], targets: &[f32], dpredictions: &[f32]) {
    assert!(
        targets.len() == predictions.len() && dpredictions.len() == predictions.len(),
        "{loss}: predictions, targets and dpredictions must have the same length, got {}, {} and {}",
        predictions.len(),
        targets.len(),
        dpredictions.len()
    );
}
