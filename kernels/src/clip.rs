//! Gradient clipping, Keras 3's three kinds (`base_optimizer.py`), applied to the gradients
//! before the optimizer's update:
//! - `clipnorm`, per tensor: `g·clipnorm / max(‖g‖, clipnorm)`;
//! - `global_clipnorm`, over all tensors: every `g` times `clipnorm / max(‖G‖, clipnorm)`,
//!   `‖G‖` the norm of all the gradients together, `sqrt(Σ_tensors ‖g‖²)`;
//! - `clipvalue`: each element clamped to `[-clipvalue, clipvalue]`.
//!
//! The norms are `sqrt(sum_squares)`: the caller sums the tensors' `sum_squares` in a fixed
//! order for the global norm, turns it into a factor with `clipnorm_scale` or
//! `global_clipnorm_scale`, and applies it with `scale_in_place`. Keras clips only when its
//! argument is set and above 0; so do callers: the functions here require it above 0.

use wide::{f32x8, f64x4};

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store, widen};

/// `Σ g²` over `grads`, in f64: each square is exact, and the sum runs in a fixed order
/// (four f64 lanes, then across them), so the same gradients give the same bits.
pub fn sum_squares(grads: &[f32]) -> f64 {
    let mut sum = f64x4::ZERO;
    for j in (0..grads.len()).step_by(8) {
        let n = 8.min(grads.len() - j);
        // Padding lanes load zero and add nothing.
        let [low, high] = widen(load(grads, j, n));
        sum += low * low + high * high;
    }
    sum.reduce_add()
}

/// The factor `clipnorm / max(‖g‖, clipnorm)` for one tensor whose `sum_squares` is given:
/// exactly 1 when the norm is within `clipnorm`. As Keras' `_clip_by_norm`, an infinite norm
/// gives 0 and a NaN norm NaN.
pub fn clipnorm_scale(sum_squares: f64, clipnorm: f64) -> f32 {
    assert!(clipnorm > 0.0, "clipnorm must be above 0, got {clipnorm}");
    let norm = sum_squares.sqrt();
    if norm <= clipnorm {
        1.0
    } else {
        (clipnorm / norm) as f32
    }
}

/// The factor `clipnorm / max(‖G‖, clipnorm)` for all tensors, whose `sum_squares` summed
/// are given: exactly 1 when the norm is within `clipnorm`. As Keras' `clip_by_global_norm`,
/// an infinite or NaN norm gives NaN, so that every gradient becomes NaN.
pub fn global_clipnorm_scale(sum_squares: f64, clipnorm: f64) -> f32 {
    let scale = clipnorm_scale(sum_squares, clipnorm);
    if sum_squares.is_finite() {
        scale
    } else {
        f32::NAN
    }
}

/// `g *= scale`, elementwise.
pub fn scale_in_place(grads: &mut [f32], scale: f32) {
    let _ftz = FlushDenormals::new();
    let scale = f32x8::splat(scale);
    for j in (0..grads.len()).step_by(8) {
        let n = 8.min(grads.len() - j);
        store(grads, j, n, load(grads, j, n) * scale);
    }
}

/// Clamps every element to `[-clipvalue, clipvalue]`; a NaN stays NaN, as in `ops.clip`.
pub fn clip_value_in_place(grads: &mut [f32], clipvalue: f32) {
    assert!(
        clipvalue > 0.0,
        "clipvalue must be above 0, got {clipvalue}"
    );
    let (high, low) = (f32x8::splat(clipvalue), f32x8::splat(-clipvalue));
    for j in (0..grads.len()).step_by(8) {
        let n = 8.min(grads.len() - j);
        let g = load(grads, j, n);
        // Comparisons with NaN are false, so a NaN lane keeps its value.
        let g = g.simd_lt(low).bitselect(low, g);
        store(grads, j, n, g.simd_gt(high).bitselect(high, g));
    }
}
