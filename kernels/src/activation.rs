//! Vectorised sigmoid, tanh and exp on `f32x8`, and their slice forms; a dense layer's
//! activations, forward and backward.
//!
//! Not cheap Padé approximations (off by ~0.02, too coarse to train with): tanh is Eigen's
//! 13/6 rational approximation, sigmoid is derived from it, exp is Cephes' `expf`. Their maximum
//! absolute errors against f64, measured over a dense sweep of [-30, 30] by the test
//! `activation_max_errors` and, for tanh, over [-25, 25] at a step of 1e-5, are:
//!
//! | function | max error | where |
//! |---|---|---|
//! | `tanh8` | 3.4e-7 absolute | near x = 5.9, where f32 spacing below 1.0 is 6e-8 |
//! | `sigmoid8` | 1.8e-7 absolute | near x = 10, where f32 spacing below 1.0 is 6e-8 |
//! | `exp8` | 8.3e-8 relative | over its whole domain, [-87, 88] |

use std::arch::x86_64::{
    __m512, _mm512_abs_ps, _mm512_cmp_ps_mask, _mm512_div_ps, _mm512_fmadd_ps,
    _mm512_mask_blend_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_set1_ps, _CMP_LT_OQ,
};

use wide::{f32x8, i32x8};

use crate::denormal::FlushDenormals;
use crate::lanes::{load, store};

/// Past this, f32 tanh is within 3e-7 of ±1, and the rational form would lose accuracy.
const TANH_CLAMP: f32 = 7.905_311;
/// Below this, tanh(x) rounds to x in f32.
const TANH_TINY: f32 = 0.000_4;

/// tanh, Eigen's rational approximation: odd degree-13 numerator over even degree-6
/// denominator, on x clamped to ±7.9.
#[inline(always)]
pub fn tanh8(x: f32x8) -> f32x8 {
    let clamped = x
        .fast_max(f32x8::splat(-TANH_CLAMP))
        .fast_min(f32x8::splat(TANH_CLAMP));
    let x2 = clamped * clamped;
    let mut p = x2.mul_add(f32x8::splat(-2.760_768_5e-16), f32x8::splat(2.000_188e-13));
    p = x2.mul_add(p, f32x8::splat(-8.604_672e-11));
    p = x2.mul_add(p, f32x8::splat(5.122_297e-8));
    p = x2.mul_add(p, f32x8::splat(1.485_722_4e-5));
    p = x2.mul_add(p, f32x8::splat(6.372_619_3e-4));
    p = x2.mul_add(p, f32x8::splat(4.893_524_6e-3));
    p *= clamped;
    let mut q = x2.mul_add(f32x8::splat(1.198_258_4e-6), f32x8::splat(1.185_347_1e-4));
    q = x2.mul_add(q, f32x8::splat(2.268_434_6e-3));
    q = x2.mul_add(q, f32x8::splat(4.893_525e-3));
    let tiny = x.abs().simd_lt(f32x8::splat(TANH_TINY));
    tiny.bitselect(x, p / q)
}

/// sigmoid(x) = (1 + tanh(x/2)) / 2: one division, no overflow, output in [0, 1].
#[inline(always)]
pub fn sigmoid8(x: f32x8) -> f32x8 {
    let half = f32x8::splat(0.5);
    tanh8(x * half).mul_add(half, half)
}

/// `tanh8` 16 lanes at a time: the same operations, each rounded once, in the same order, so
/// the same bits (a compare-and-select by mask in place of the bitwise one).
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn tanh16(x: __m512) -> __m512 {
    let splat = _mm512_set1_ps;
    let clamped = _mm512_min_ps(_mm512_max_ps(x, splat(-TANH_CLAMP)), splat(TANH_CLAMP));
    let x2 = _mm512_mul_ps(clamped, clamped);
    let mut p = _mm512_fmadd_ps(x2, splat(-2.760_768_5e-16), splat(2.000_188e-13));
    p = _mm512_fmadd_ps(x2, p, splat(-8.604_672e-11));
    p = _mm512_fmadd_ps(x2, p, splat(5.122_297e-8));
    p = _mm512_fmadd_ps(x2, p, splat(1.485_722_4e-5));
    p = _mm512_fmadd_ps(x2, p, splat(6.372_619_3e-4));
    p = _mm512_fmadd_ps(x2, p, splat(4.893_524_6e-3));
    p = _mm512_mul_ps(p, clamped);
    let mut q = _mm512_fmadd_ps(x2, splat(1.198_258_4e-6), splat(1.185_347_1e-4));
    q = _mm512_fmadd_ps(x2, q, splat(2.268_434_6e-3));
    q = _mm512_fmadd_ps(x2, q, splat(4.893_525e-3));
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(x), splat(TANH_TINY));
    _mm512_mask_blend_ps(tiny, _mm512_div_ps(p, q), x)
}

/// `sigmoid8` 16 lanes at a time, as `tanh16` is `tanh8`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn sigmoid16(x: __m512) -> __m512 {
    let half = _mm512_set1_ps(0.5);
    _mm512_fmadd_ps(tanh16(_mm512_mul_ps(x, half)), half, half)
}

/// exp, Cephes' `expf`: `x = n·ln2 + r` with |r| <= ln2/2, a degree-6 polynomial for
/// `exp(r)`, and `2^n` built in the exponent bits. Inputs are clamped to [-87.3, 88]: below,
/// the result would be denormal (and is flushed anyway); above, it would overflow.
#[inline(always)]
pub fn exp8(x: f32x8) -> f32x8 {
    let x = x
        .fast_max(f32x8::splat(-87.336_55))
        .fast_min(f32x8::splat(88.0));
    let n = (x * f32x8::splat(std::f32::consts::LOG2_E)).round();
    let r = n.mul_neg_add(f32x8::splat(0.693_359_4), x);
    let r = n.mul_neg_add(f32x8::splat(-2.121_944_4e-4), r);
    let mut p = r.mul_add(f32x8::splat(1.987_569_1e-4), f32x8::splat(1.398_199_9e-3));
    p = r.mul_add(p, f32x8::splat(8.333_452e-3));
    p = r.mul_add(p, f32x8::splat(4.166_579_6e-2));
    p = r.mul_add(p, f32x8::splat(1.666_666_5e-1));
    p = r.mul_add(p, f32x8::splat(5e-1));
    let exp_r = (p * r).mul_add(r, r) + f32x8::ONE;
    let two_to_n: f32x8 = bytemuck::cast((n.round_int() + i32x8::splat(127)) << 23);
    exp_r * two_to_n
}

/// Applies `f` to every element of `xs` in place. The tail shorter than 8 goes through the
/// same vector code on a padded copy, so every element gets the same bits wherever it sits.
#[inline(always)]
pub fn map_in_place(xs: &mut [f32], f: impl Fn(f32x8) -> f32x8) {
    let mut chunks = xs.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = f32x8::from(<[f32; 8]>::try_from(&*chunk).unwrap());
        chunk.copy_from_slice(&f(v).to_array());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut padded = [0.0f32; 8];
        padded[..tail.len()].copy_from_slice(tail);
        let out = f(f32x8::from(padded)).to_array();
        tail.copy_from_slice(&out[..tail.len()]);
    }
}

pub fn tanh_in_place(xs: &mut [f32]) {
    map_in_place(xs, tanh8);
}

pub fn sigmoid_in_place(xs: &mut [f32]) {
    map_in_place(xs, sigmoid8);
}

pub fn exp_in_place(xs: &mut [f32]) {
    map_in_place(xs, exp8);
}

/// A dense layer's activation, applied in place to its outputs `[N, O]` (any layout: it is
/// elementwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Tanh,
    Sigmoid,
}

impl Activation {
    /// `y = f(y)`: the layer's outputs become its activations.
    pub fn forward(self, ys: &mut [f32]) {
        let _ftz = FlushDenormals::new();
        match self {
            Activation::Linear => {}
            Activation::Relu => map_in_place(ys, relu8),
            Activation::Tanh => tanh_in_place(ys),
            Activation::Sigmoid => sigmoid_in_place(ys),
        }
    }

    /// `dy = dy ⊙ f'(x)`, written from the activations `y = f(x)` that `forward` left, so
    /// the layer keeps nothing else: relu' is `[y > 0]`, tanh' `1 - y²`, sigmoid'
    /// `y·(1 - y)`. Relu passes `dy` or 0, as TensorFlow's `ReluGrad`, rather than
    /// multiplying, so an infinite `dy` on a negative input gives 0, not NaN.
    pub fn backward(self, ys: &[f32], dys: &mut [f32]) {
        let _ftz = FlushDenormals::new();
        assert_eq!(
            ys.len(),
            dys.len(),
            "activation: ys and dys differ in length"
        );
        let one = f32x8::ONE;
        match self {
            Activation::Linear => {}
            Activation::Relu => map_gradient(ys, dys, |y, dy| y.simd_gt(f32x8::ZERO) & dy),
            Activation::Tanh => map_gradient(ys, dys, |y, dy| dy * y.mul_neg_add(y, one)),
            Activation::Sigmoid => map_gradient(ys, dys, |y, dy| dy * (y * (one - y))),
        }
    }
}

/// max(x, 0); a NaN stays NaN, so a diverging layer shows.
#[inline(always)]
pub fn relu8(x: f32x8) -> f32x8 {
    x.simd_lt(f32x8::ZERO).bitselect(f32x8::ZERO, x)
}

/// `dy = f(y, dy)`, elementwise.
#[inline(always)]
fn map_gradient(ys: &[f32], dys: &mut [f32], f: impl Fn(f32x8, f32x8) -> f32x8) {
    for j in (0..ys.len()).step_by(8) {
        let n = 8.min(ys.len() - j);
        store(dys, j, n, f(load(ys, j, n), load(dys, j, n)));
    }
}
