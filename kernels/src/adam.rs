//! The Adam update, fused over a whole parameter buffer: one pass reads the gradient and
//! updates both moments and the parameter.
//!
//! Keras' form (Keras 3 `Adam.update_step`), so a spec trains as it would under Keras:
//! `alpha = lr·sqrt(1 - beta2^t) / (1 - beta1^t)`, `m += (g - m)(1 - beta1)`,
//! `v += (g² - v)(1 - beta2)`, `p -= alpha·m / (sqrt(v) + epsilon)`.
//!
//! AdamW (Keras 3 `AdamW`, decoupled weight decay) first decays the parameter,
//! `p -= p·weight_decay·lr`, as Keras' `_apply_weight_decay` does before the update, then
//! runs the same Adam update, in the same pass.

use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::isa::Isa;
use crate::lanes::{load, prefetch, store};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Default for AdamConfig {
    /// Keras' defaults: `Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`.
    fn default() -> AdamConfig {
        AdamConfig {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    pub lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
}

impl Default for AdamWConfig {
    /// Keras' defaults: `AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9,
    /// beta_2=0.999, epsilon=1e-7)`.
    fn default() -> AdamWConfig {
        AdamWConfig {
            lr: 0.001,
            weight_decay: 0.004,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

/// The per-step constants of one Adam update, computed once for every tensor it updates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    alpha: f32,
    epsilon: f32,
    keep1: f32,
    keep2: f32,
    /// `weight_decay·lr`, 0 for plain Adam.
    decay: f32,
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
            decay: 0.0,
        }
    }

    /// AdamW's constants for update number `step`, counting from 1.
    pub fn adamw(config: AdamWConfig, step: u64) -> AdamStep {
        let adam = AdamConfig {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            epsilon: config.epsilon,
        };
        AdamStep {
            decay: (config.weight_decay * config.lr) as f32,
            ..AdamStep::new(adam, step)
        }
    }
}

/// One update of a parameter buffer, Adam's or AdamW's as `step` says. All four buffers have
/// the same length.
pub fn adam_update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: AdamStep,
) {
    adam_update_on(Isa::best(), params, grads, m, v, step);
}

/// `adam_update` on a given instruction set, which must run here. Its division and square
/// root bound the update, and AVX-512 does each for 16 lanes at once.
pub fn adam_update_on(
    isa: Isa,
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: AdamStep,
) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    let len = params.len();
    assert!(
        grads.len() == len && m.len() == len && v.len() == len,
        "adam buffers differ in length"
    );
    let _ftz = FlushDenormals::new();
    match isa {
        Isa::Avx2 => adam_avx2(params, grads, m, v, step),
        // SAFETY: asserted above that the CPU has AVX-512F; the lengths agree.
        Isa::Avx512 => unsafe { adam_avx512(params, grads, m, v, step) },
    }
}

fn adam_avx2(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], step: AdamStep) {
    let len = params.len();
    let (alpha, eps) = (f32x8::splat(step.alpha), f32x8::splat(step.epsilon));
    let (keep1, keep2) = (f32x8::splat(step.keep1), f32x8::splat(step.keep2));
    // Plain Adam skips the decay rather than subtracting p·0, which would turn a -0.0
    // parameter into +0.0: its results keep their bits.
    let (decays, decay) = (step.decay != 0.0, f32x8::splat(step.decay));
    for j in (0..len).step_by(8) {
        let n = 8.min(len - j);
        let g = load(grads, j, n);
        let m_old = load(m, j, n);
        let v_old = load(v, j, n);
        let m_new = (g - m_old).mul_add(keep1, m_old);
        let v_new = (g * g - v_old).mul_add(keep2, v_old);
        store(m, j, n, m_new);
        store(v, j, n, v_new);
        let mut p = load(params, j, n);
        if decays {
            p = p.mul_neg_add(decay, p);
        }
        store(params, j, n, p - alpha * m_new / (v_new.sqrt() + eps));
    }
}

/// How far ahead (in floats) the update prefetches the lines it will write.
const AHEAD: usize = 256;

/// Prefetches the lines `AHEAD` floats past `j` of the three buffers the update writes. On two
/// threads the parameters' lines were last in the other core's cache (every thread's forward
/// pass reads all of them, and the pieces go to either thread), and fetching them stalled the
/// stores; fetched ahead, they arrive while the division and square root run (encdec on two
/// threads: Adam a third faster, the whole step 7 %; the AVX2 version, whose narrower stores
/// stall less, gained nothing from it).
#[inline(always)]
fn prefetch_ahead(buffers: [*const f32; 3], j: usize) {
    for buffer in buffers {
        prefetch(buffer.wrapping_add(j + AHEAD));
    }
}

/// `adam_avx2` 16 lanes at a time: the same operations, each rounded once, in the same order.
///
/// # Safety
/// The CPU must have AVX-512F, and the four buffers the same length.
#[target_feature(enable = "avx512f")]
unsafe fn adam_avx512(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    step: AdamStep,
) {
    use std::arch::x86_64::{
        _mm512_add_ps, _mm512_div_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps, _mm512_mask_storeu_ps,
        _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_sqrt_ps, _mm512_sub_ps,
    };
    let len = params.len();
    let (alpha, eps) = (_mm512_set1_ps(step.alpha), _mm512_set1_ps(step.epsilon));
    let (keep1, keep2) = (_mm512_set1_ps(step.keep1), _mm512_set1_ps(step.keep2));
    let (decays, decay) = (step.decay != 0.0, _mm512_set1_ps(step.decay));
    let (p_ptr, g_ptr) = (params.as_mut_ptr(), grads.as_ptr());
    let (m_ptr, v_ptr) = (m.as_mut_ptr(), v.as_mut_ptr());
    for j in (0..len).step_by(16) {
        let n = 16.min(len - j);
        let mask = if n == 16 { u16::MAX } else { (1 << n) - 1 };
        prefetch_ahead(
            [p_ptr.cast_const(), m_ptr.cast_const(), v_ptr.cast_const()],
            j,
        );
        // SAFETY: lanes j..j + n lie in each buffer; masked lanes are neither read nor
        // written.
        unsafe {
            let g = _mm512_maskz_loadu_ps(mask, g_ptr.add(j));
            let m_old = _mm512_maskz_loadu_ps(mask, m_ptr.add(j));
            let v_old = _mm512_maskz_loadu_ps(mask, v_ptr.add(j));
            let m_new = _mm512_fmadd_ps(_mm512_sub_ps(g, m_old), keep1, m_old);
            let v_new = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_mul_ps(g, g), v_old), keep2, v_old);
            _mm512_mask_storeu_ps(m_ptr.add(j), mask, m_new);
            _mm512_mask_storeu_ps(v_ptr.add(j), mask, v_new);
            let mut p = _mm512_maskz_loadu_ps(mask, p_ptr.add(j));
            if decays {
                p = _mm512_fnmadd_ps(p, decay, p);
            }
            let root = _mm512_add_ps(_mm512_sqrt_ps(v_new), eps);
            let change = _mm512_div_ps(_mm512_mul_ps(alpha, m_new), root);
            _mm512_mask_storeu_ps(p_ptr.add(j), mask, _mm512_sub_ps(p, change));
        }
    }
}
