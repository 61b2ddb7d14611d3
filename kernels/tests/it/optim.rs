//! SGD, RMSprop and AdamW against their references over several steps; plain Adam against a
//! copy of its formula from before AdamW joined it, bit for bit; Keras' golden values; the
//! clipping, the dense activations and the sigmoid's binary cross-entropy against their
//! references and finite differences.

use kernels::activation::Activation;
use kernels::adam::{adam_update, AdamConfig, AdamStep, AdamWConfig};
use kernels::bce::sigmoid_bce;
use kernels::clip::{
    clip_value_in_place, clipnorm_scale, global_clipnorm_scale, scale_in_place, sum_squares,
};
use kernels::denormal::FlushDenormals;
use kernels::generic;
use kernels::rmsprop::{rmsprop_update, RmspropConfig, RmspropStep};
use kernels::sgd::{sgd_update, SgdConfig, SgdStep};
use proptest::prelude::*;
use wide::f32x8;

use crate::layers::numeric_gradient;
use crate::{assert_close, bits, floats, to_f64};

/// Updates each test runs, each with its own gradients, so that state carries over.
const STEPS: u64 = 5;

fn lengths() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(7), Just(8), Just(9), 0usize..100]
}

fn grads_for(seed: u64, step: u64, len: usize) -> Vec<f32> {
    floats(seed.wrapping_add(100 + step), len, 1.0)
}

/// Non-negative floats, for second moments.
fn squares(seed: u64, len: usize) -> Vec<f32> {
    floats(seed, len, 0.01).iter().map(|x| x.abs()).collect()
}

fn check_sgd(len: usize, seed: u64, config: SgdConfig) {
    let mut p = floats(seed, len, 1.0);
    // Without momentum, Keras keeps no velocities: the kernel gets an empty slice.
    let mut m = if config.momentum == 0.0 {
        Vec::new()
    } else {
        floats(seed + 1, len, 0.1)
    };
    let (mut p_ref, mut m_ref) = (p.clone(), m.clone());
    for step in 0..STEPS {
        let grads = grads_for(seed, step, len);
        sgd_update(&mut p, &grads, &mut m, SgdStep::new(config));
        generic::sgd(&mut p_ref, &grads, &mut m_ref, config);
    }
    assert_close("sgd params", &p, &to_f64(&p_ref), 1e-6, 1e-5);
    assert_close("sgd momentums", &m, &to_f64(&m_ref), 1e-6, 1e-5);
}

fn check_rmsprop(len: usize, seed: u64, config: RmspropConfig) {
    let buffer = |wanted: bool, values: Vec<f32>| if wanted { values } else { Vec::new() };
    let mut p = floats(seed, len, 1.0);
    let a = floats(seed + 2, len, 0.01);
    // A velocity at least the average gradient's square, as RMSprop's own updates keep them
    // (the variance `v - a²` is not negative): drawn independently, `v - a²` could cancel to
    // nothing, where float32 and the float64 reference part by far more than rounding.
    let mut v: Vec<f32> = squares(seed + 1, len)
        .iter()
        .zip(&a)
        .map(|(spread, a)| spread + a * a)
        .collect();
    let mut a = buffer(config.centered, a);
    let mut mom = buffer(config.momentum > 0.0, floats(seed + 3, len, 0.001));
    let (mut p_ref, mut v_ref, mut a_ref, mut mom_ref) =
        (p.clone(), v.clone(), a.clone(), mom.clone());
    for step in 0..STEPS {
        let grads = grads_for(seed, step, len);
        rmsprop_update(
            &mut p,
            &grads,
            &mut v,
            &mut a,
            &mut mom,
            RmspropStep::new(config),
        );
        generic::rmsprop(
            &mut p_ref,
            &grads,
            &mut v_ref,
            &mut a_ref,
            &mut mom_ref,
            config,
        );
    }
    assert_close("rmsprop params", &p, &to_f64(&p_ref), 1e-6, 1e-5);
    assert_close("rmsprop velocities", &v, &to_f64(&v_ref), 1e-7, 1e-5);
    assert_close("rmsprop average grads", &a, &to_f64(&a_ref), 1e-7, 1e-5);
    assert_close("rmsprop momentums", &mom, &to_f64(&mom_ref), 1e-7, 1e-5);
}

fn check_adamw(len: usize, seed: u64, config: AdamWConfig) {
    let mut p = floats(seed, len, 1.0);
    let mut m = floats(seed + 1, len, 0.1);
    let mut v = squares(seed + 2, len);
    let (mut p_ref, mut m_ref, mut v_ref) = (p.clone(), m.clone(), v.clone());
    for step in 1..=STEPS {
        let grads = grads_for(seed, step, len);
        adam_update(
            &mut p,
            &grads,
            &mut m,
            &mut v,
            AdamStep::adamw(config, step),
        );
        generic::adamw(&mut p_ref, &grads, &mut m_ref, &mut v_ref, config, step);
    }
    assert_close("adamw params", &p, &to_f64(&p_ref), 1e-6, 1e-5);
    assert_close("adamw m", &m, &to_f64(&m_ref), 1e-7, 1e-5);
    assert_close("adamw v", &v, &to_f64(&v_ref), 1e-7, 1e-5);
}

const SGD_VARIANTS: [(f64, bool); 4] = [(0.0, false), (0.0, true), (0.9, false), (0.9, true)];

/// Every length through three vectors, every variant: plain, Nesterov without momentum
/// (ignored, as Keras), momentum, Nesterov momentum; centered or not, with momentum or not.
#[test]
fn updates_match_reference_at_every_short_length() {
    for len in 0..=24 {
        let seed = len as u64;
        for (momentum, nesterov) in SGD_VARIANTS {
            let config = SgdConfig {
                lr: 0.05,
                momentum,
                nesterov,
            };
            check_sgd(len, seed, config);
        }
        for (centered, momentum) in [(false, 0.0), (true, 0.0), (false, 0.5), (true, 0.5)] {
            let config = RmspropConfig {
                centered,
                momentum,
                ..RmspropConfig::default()
            };
            check_rmsprop(len, seed, config);
        }
        check_adamw(len, seed, AdamWConfig::default());
    }
}

proptest! {
    #[test]
    fn sgd_matches_reference(len in lengths(), seed: u64, lr in 0.001f64..0.5, variant in 0usize..4) {
        let (momentum, nesterov) = SGD_VARIANTS[variant];
        check_sgd(len, seed, SgdConfig { lr, momentum, nesterov });
    }

    #[test]
    fn rmsprop_matches_reference(len in lengths(), seed: u64, lr in 0.0001f64..0.1, rho in 0.5f64..0.99, momentum in prop_oneof![Just(0.0), 0.1f64..0.95], centered: bool) {
        check_rmsprop(len, seed, RmspropConfig { lr, rho, momentum, epsilon: 1e-7, centered });
    }

    #[test]
    fn adamw_matches_reference(len in lengths(), seed: u64, lr in 0.0001f64..0.1, weight_decay in 0.0f64..0.1) {
        check_adamw(len, seed, AdamWConfig { lr, weight_decay, ..AdamWConfig::default() });
    }
}

proptest! {
    /// Adam and AdamW give the same bits on every instruction set this CPU runs (16 lanes
    /// at once with AVX-512, 8 with AVX2), over several steps, at lengths on either side of
    /// both widths; a parameter of -0.0 keeps its sign without weight decay.
    #[test]
    fn adam_gives_the_same_bits_on_every_instruction_set(len in prop_oneof![Just(15usize), Just(16), Just(17), 0usize..100], seed: u64, weight_decay in prop_oneof![Just(0.0), 0.0f64..0.1]) {
        use kernels::adam::adam_update_on;
        use kernels::isa::Isa;
        let config = AdamWConfig { weight_decay, ..AdamWConfig::default() };
        let mut results = Vec::new();
        for isa in Isa::available() {
            let mut p = floats(seed, len, 1.0);
            if let Some(first) = p.first_mut() {
                *first = -0.0;
            }
            let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
            for step in 1..=STEPS {
                let grads = grads_for(seed, step, len);
                let step = AdamStep::adamw(config, step);
                adam_update_on(isa, &mut p, &grads, &mut m, &mut v, step);
            }
            results.push((isa, [bits(&p), bits(&m), bits(&v)]));
        }
        for (isa, result) in &results[1..] {
            prop_assert!(*result == results[0].1, "{isa:?} differs from {:?}", results[0].0);
        }
    }
}

/// `adam_update` as it was before AdamW joined it, with whole vectors of zero-padded lanes
/// in place of the masked loads.
fn adam_before_adamw(
    p: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    config: AdamConfig,
    step: u64,
) {
    let _ftz = FlushDenormals::new();
    let t = step as f64;
    let alpha = config.lr * (1.0 - config.beta2.powf(t)).sqrt() / (1.0 - config.beta1.powf(t));
    let (alpha, eps) = (
        f32x8::splat(alpha as f32),
        f32x8::splat(config.epsilon as f32),
    );
    let keep1 = f32x8::splat((1.0 - config.beta1) as f32);
    let keep2 = f32x8::splat((1.0 - config.beta2) as f32);
    for j in (0..p.len()).step_by(8) {
        let n = 8.min(p.len() - j);
        let lanes = |xs: &[f32]| {
            let mut padded = [0.0; 8];
            padded[..n].copy_from_slice(&xs[j..j + n]);
            f32x8::from(padded)
        };
        let (g, m_old, v_old) = (lanes(grads), lanes(m), lanes(v));
        let m_new = (g - m_old).mul_add(keep1, m_old);
        let v_new = (g * g - v_old).mul_add(keep2, v_old);
        let p_new = lanes(p) - alpha * m_new / (v_new.sqrt() + eps);
        m[j..j + n].copy_from_slice(&m_new.to_array()[..n]);
        v[j..j + n].copy_from_slice(&v_new.to_array()[..n]);
        p[j..j + n].copy_from_slice(&p_new.to_array()[..n]);
    }
}

/// The specs' expected results depend on Adam's exact bits: the weight decay AdamW added to
/// the same pass must leave plain Adam's untouched, -0.0 parameters and zero gradients
/// included.
#[test]
fn plain_adam_keeps_its_bits() {
    let config = AdamConfig::default();
    for len in [1, 7, 8, 9, 33, 100] {
        let seed = len as u64;
        let mut p = floats(seed, len, 2.0);
        for i in (0..len).step_by(3) {
            p[i] = -0.0;
        }
        let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
        let (mut p_old, mut m_old, mut v_old) = (p.clone(), m.clone(), v.clone());
        for step in 1..=STEPS {
            // Every other gradient is 0 at every step: with a -0.0 parameter, that
            // parameter must stay -0.0.
            let mut grads = floats(seed + step, len, 1e-3);
            for i in (0..len).step_by(2) {
                grads[i] = 0.0;
            }
            adam_update(&mut p, &grads, &mut m, &mut v, AdamStep::new(config, step));
            adam_before_adamw(&mut p_old, &grads, &mut m_old, &mut v_old, config, step);
        }
        assert_eq!(p[0].to_bits(), (-0.0f32).to_bits(), "p[0] of {len}");
        assert_eq!(bits(&p), bits(&p_old), "params of {len}");
        assert_eq!(bits(&m), bits(&m_old), "m of {len}");
        assert_eq!(bits(&v), bits(&v_old), "v of {len}");
    }
}

/// Keras 3's golden test shape: `x = ones(10)`, a first step on gradients of 0.01, then
/// steps on `0.1, 0.2, ..., 1.0`; `golden[i]` is `x` after step `i + 1`.
fn golden_run(mut update: impl FnMut(&mut [f32], &[f32], u64), golden: &[[f32; 10]]) {
    let mut x = [1.0f32; 10];
    let first = [0.01f32; 10];
    let grads: Vec<f32> = (1..=10).map(|i| i as f32 / 10.0).collect();
    update(&mut x, &first, 1);
    for (i, want) in golden.iter().enumerate() {
        // Keras' own tolerance: rtol and atol 5e-4.
        assert_close(
            &format!("golden step {}", i + 1),
            &x,
            &to_f64(want),
            5e-4,
            5e-4,
        );
        update(&mut x, &grads, i as u64 + 2);
    }
}

/// `sgd_test.py`'s golden values, `0.9999 - 0.001·i·(j + 1)` at row i, column j:
/// `SGD(nesterov=True)`, whose momentum of 0 makes it plain SGD at lr 0.01.
#[test]
fn sgd_keras_golden() {
    let golden: Vec<[f32; 10]> = (0..5)
        .map(|i| std::array::from_fn(|j| 0.9999 - 0.001 * i as f32 * (j + 1) as f32))
        .collect();
    let step = SgdStep::new(SgdConfig {
        nesterov: true,
        ..SgdConfig::default()
    });
    golden_run(|x, g, _| sgd_update(x, g, &mut [], step), &golden);
}

/// `rmsprop_test.py`'s golden values: `RMSprop(centered=True)`.
#[test]
fn rmsprop_keras_golden() {
    let golden: Vec<[f32; 10]> = [0.9967, 0.9933, 0.9908, 0.9885, 0.9864]
        .iter()
        .map(|&x| [x; 10])
        .collect();
    let step = RmspropStep::new(RmspropConfig {
        centered: true,
        ..RmspropConfig::default()
    });
    let (mut v, mut a) = ([0.0; 10], [0.0; 10]);
    golden_run(
        |x, g, _| rmsprop_update(x, g, &mut v, &mut a, &mut [], step),
        &golden,
    );
}

/// `adamw_test.py`'s golden values: `AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2)`.
#[test]
fn adamw_keras_golden() {
    let golden = [
        [0.4998; 10],
        [
            0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382,
        ],
        [
            0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003,
        ],
        [
            0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258,
        ],
        [
            0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159,
        ],
    ];
    let config = AdamWConfig {
        lr: 1.0,
        weight_decay: 0.5,
        epsilon: 2.0,
        ..AdamWConfig::default()
    };
    let (mut m, mut v) = ([0.0; 10], [0.0; 10]);
    golden_run(
        |x, g, step| adam_update(x, g, &mut m, &mut v, AdamStep::adamw(config, step)),
        &golden,
    );
}

/// Keras' single-step tests (`learning_rate=0.5`, gradients `[1, 6, 7, 2]` on `[1, 2, 3, 4]`)
/// and its weight-decay test (three fresh AdamW steps at lr 1 on a zero gradient decay 2.0 to
/// `2·0.996³`).
#[test]
fn keras_single_steps() {
    let grads = [1.0, 6.0, 7.0, 2.0];
    let mut x = [1.0, 2.0, 3.0, 4.0];
    sgd_update(
        &mut x,
        &grads,
        &mut [],
        SgdStep::new(SgdConfig {
            lr: 0.5,
            ..SgdConfig::default()
        }),
    );
    assert_close("sgd", &x, &[0.5, -1.0, -0.5, 3.0], 1e-4, 1e-4);
    let mut x = [1.0, 2.0, 3.0, 4.0];
    let step = RmspropStep::new(RmspropConfig {
        lr: 0.5,
        ..RmspropConfig::default()
    });
    rmsprop_update(&mut x, &grads, &mut [0.0; 4], &mut [], &mut [], step);
    assert_close(
        "rmsprop",
        &x,
        &[-0.5811, 0.4189, 1.4189, 2.4189],
        1e-4,
        1e-4,
    );
    let mut x = [1.0, 2.0, 3.0, 4.0];
    let step = AdamStep::adamw(
        AdamWConfig {
            lr: 0.5,
            ..AdamWConfig::default()
        },
        1,
    );
    adam_update(&mut x, &grads, &mut [0.0; 4], &mut [0.0; 4], step);
    assert_close("adamw", &x, &[0.4980, 1.4960, 2.494, 3.492], 1e-4, 1e-4);
    let mut x = [2.0];
    for _ in 0..3 {
        let step = AdamStep::adamw(
            AdamWConfig {
                lr: 1.0,
                weight_decay: 0.004,
                ..AdamWConfig::default()
            },
            1,
        );
        adam_update(&mut x, &[0.0], &mut [0.0], &mut [0.0], step);
    }
    assert_close("adamw decay", &x, &[1.9760959], 1e-6, 0.0);
}

/// Keras' clipping tests: `clipnorm=1` takes `[100, 100]` to `[√2/2, √2/2]`, `clipvalue=1`
/// to `[1, 1]`.
#[test]
fn keras_clip_examples() {
    let mut g = [100.0, 100.0];
    let scale = clipnorm_scale(sum_squares(&g), 1.0);
    scale_in_place(&mut g, scale);
    let half_root2 = 2f64.sqrt() / 2.0;
    assert_close("clipnorm", &g, &[half_root2, half_root2], 1e-7, 1e-6);
    let mut g = [100.0, 100.0];
    clip_value_in_place(&mut g, 1.0);
    assert_eq!(g, [1.0, 1.0]);
}

fn check_clipping(lens: &[usize], seed: u64, clip: f64) {
    let tensors: Vec<Vec<f32>> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| floats(seed + i as u64, len, 2.0))
        .collect();
    let mut global_sum = 0.0;
    for g in &tensors {
        let sum = sum_squares(g);
        let want = generic::sum_squares(g);
        assert!(
            (sum - want).abs() <= 1e-12 * want,
            "sum_squares {sum} vs {want}"
        );
        global_sum += sum;
        let mut clipped = g.clone();
        let scale = clipnorm_scale(sum, clip);
        scale_in_place(&mut clipped, scale);
        let want = generic::clip_by_norm(g, clip);
        assert_close("clipnorm", &clipped, &to_f64(&want), 1e-7, 1e-6);
        if sum.sqrt() <= clip {
            assert_eq!(
                bits(&clipped),
                bits(g),
                "an unclipped tensor must keep its bits"
            );
        }
        let mut clamped = g.clone();
        clip_value_in_place(&mut clamped, clip as f32);
        assert_eq!(
            bits(&clamped),
            bits(&generic::clip_by_value(g, clip as f32))
        );
    }
    let scale = global_clipnorm_scale(global_sum, clip);
    let want = generic::clip_by_global_norm(&tensors, clip);
    for (g, want) in tensors.iter().zip(&want) {
        let mut clipped = g.clone();
        scale_in_place(&mut clipped, scale);
        assert_close("global clipnorm", &clipped, &to_f64(want), 1e-7, 1e-6);
    }
}

proptest! {
    #[test]
    fn clipping_matches_reference(lens in prop::collection::vec(lengths(), 1..5), seed: u64, clip in 0.01f64..20.0) {
        check_clipping(&lens, seed, clip);
    }
}

#[test]
fn clipping_at_every_short_length() {
    for len in 0..=24 {
        // Norms from about 0 to 9: clipped and not.
        for clip in [0.5, 100.0] {
            check_clipping(&[len, 1, 9], len as u64, clip);
        }
    }
}

/// Non-finite norms as Keras: per tensor, an infinite norm clips every finite gradient to 0;
/// globally, it makes them all NaN. A NaN gradient stays NaN under `clipvalue`.
#[test]
fn clipping_non_finite() {
    assert_eq!(clipnorm_scale(f64::INFINITY, 1.0), 0.0);
    assert!(clipnorm_scale(f64::NAN, 1.0).is_nan());
    assert!(global_clipnorm_scale(f64::INFINITY, 1.0).is_nan());
    assert!(global_clipnorm_scale(f64::NAN, 1.0).is_nan());
    assert_eq!(global_clipnorm_scale(0.0, 1.0), 1.0);
    let mut g = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -3.0, 0.5];
    clip_value_in_place(&mut g, 2.0);
    assert!(g[0].is_nan());
    assert_eq!(g[1..], [2.0, -2.0, -2.0, 0.5]);
}

const ACTIVATIONS: [Activation; 4] = [
    Activation::Linear,
    Activation::Relu,
    Activation::Tanh,
    Activation::Sigmoid,
];

/// tanh and sigmoid carry `tanh8`'s and `sigmoid8`'s error (see `activations.rs`); linear
/// and relu are exact.
const ACTIVATION_ERROR: f64 = 3.5e-7;

fn check_activations(xs: &[f32], dys: &[f32]) {
    for activation in ACTIVATIONS {
        let mut ys = xs.to_vec();
        activation.forward(&mut ys);
        let want: Vec<f64> = xs
            .iter()
            .map(|&x| generic::activate(activation, f64::from(x)))
            .collect();
        assert_close(
            &format!("{activation:?} forward"),
            &ys,
            &want,
            ACTIVATION_ERROR,
            0.0,
        );
        let mut got = dys.to_vec();
        activation.backward(&ys, &mut got);
        let want: Vec<f64> = ys
            .iter()
            .zip(dys)
            .map(|(&y, &dy)| {
                f64::from(dy) * generic::activation_derivative(activation, f64::from(y))
            })
            .collect();
        assert_close(&format!("{activation:?} backward"), &got, &want, 1e-7, 1e-6);
    }
}

proptest! {
    #[test]
    fn activations_match_reference(xs in prop::collection::vec(-12f32..12.0, 0..100), seed: u64) {
        check_activations(&xs, &floats(seed, xs.len(), 1.0));
    }
}

/// Every length through three vectors, so partial vectors go through both passes.
#[test]
fn activations_at_every_short_length() {
    for len in 0..=24 {
        check_activations(
            &floats(len as u64, len, 6.0),
            &floats(len as u64 + 1, len, 1.0),
        );
    }
}

/// The backward pass, from the kernel's own y, against central differences of the forward
/// in f64; relu's inputs keep clear of its kink at 0.
#[test]
fn activation_backward_matches_finite_differences() {
    let xs: Vec<f32> = floats(31, 40, 5.0)
        .iter()
        .map(|&x| if x.abs() < 0.01 { x + 0.02 } else { x })
        .collect();
    let dys = floats(32, xs.len(), 1.0);
    for activation in ACTIVATIONS {
        let mut ys = xs.clone();
        activation.forward(&mut ys);
        let mut dxs = dys.clone();
        activation.backward(&ys, &mut dxs);
        let numeric: Vec<f64> = xs
            .iter()
            .zip(&dys)
            .map(|(&x, &dy)| {
                let f = |at: &[f64]| generic::activate(activation, at[0]);
                f64::from(dy) * numeric_gradient(&[f64::from(x)], f)[0]
            })
            .collect();
        // The derivative of tanh, 1 - y², takes twice y's error.
        assert_close(
            &format!("{activation:?} backward vs finite differences"),
            &dxs,
            &numeric,
            2.0 * ACTIVATION_ERROR,
            0.0,
        );
    }
}

/// Relu passes NaN forward and gives 0, not NaN, for an infinite gradient on a negative
/// input; linear touches nothing.
#[test]
fn activation_edges() {
    let mut ys = [f32::NAN, -1.0, 2.0];
    Activation::Relu.forward(&mut ys);
    assert!(ys[0].is_nan());
    assert_eq!(ys[1..], [0.0, 2.0]);
    let mut dys = [1.0, f32::INFINITY, 3.0];
    Activation::Relu.backward(&ys, &mut dys);
    assert_eq!(dys, [0.0, 0.0, 3.0]);
    let mut same = [f32::NAN, 5.0];
    Activation::Linear.forward(&mut same);
    Activation::Linear.backward(&[1.0, 2.0], &mut same);
    assert!(same[0].is_nan() && same[1] == 5.0);
}

/// Logits and targets for a binary cross-entropy test: hard 0/1 targets and soft ones, and
/// logits out to ±40, where the sigmoid rounds to 0 or 1 in f32.
fn bce_inputs(len: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let logits = floats(seed, len, 40.0);
    let soft = floats(seed + 1, len, 0.5);
    let targets = soft
        .iter()
        .enumerate()
        .map(|(i, &u)| match i % 3 {
            0 => 0.0,
            1 => 1.0,
            _ => u + 0.5,
        })
        .collect();
    (logits, targets)
}

fn check_bce(len: usize, seed: u64, scale: f32) {
    let (logits, targets) = bce_inputs(len, seed);
    let (mut probs, mut dlogits) = (vec![7.0; len], vec![7.0; len]);
    let loss = sigmoid_bce(&logits, &targets, scale, &mut probs, &mut dlogits);
    let (want_loss, want_d) = generic::sigmoid_bce(&to_f64(&logits), &to_f64(&targets));
    assert!(
        (loss - want_loss).abs() <= 1e-6 * want_loss + 1e-12,
        "bce of {len}: loss {loss}, reference {want_loss}"
    );
    let want_probs: Vec<f64> = logits
        .iter()
        .map(|&x| generic::sigmoid(f64::from(x)))
        .collect();
    assert_close(
        &format!("bce of {len}: probs"),
        &probs,
        &want_probs,
        1e-37,
        1e-6,
    );
    let scaled: Vec<f64> = want_d.iter().map(|d| d * f64::from(scale)).collect();
    assert_close(
        &format!("bce of {len}: dlogits"),
        &dlogits,
        &scaled,
        1e-7 * f64::from(scale),
        1e-6,
    );
}

/// Every length through five vectors: a partial vector's padding lanes must add nothing to
/// the loss (a logit of 0 would add ln 2).
#[test]
fn bce_matches_reference_at_every_short_length() {
    for len in 0..=40 {
        check_bce(len, len as u64, 0.25);
    }
}

proptest! {
    #[test]
    fn bce_matches_reference(len in lengths(), seed: u64, scale in 0.001f32..2.0) {
        check_bce(len, seed, scale);
    }
}

/// The kernel's gradient (at `scale = 1`) and the reference's against central differences of
/// the reference loss, in f64, on logits within ±8 where the loss still curves.
#[test]
fn bce_gradient_matches_finite_differences() {
    let (logits, targets) = bce_inputs(23, 41);
    let logits: Vec<f32> = logits.iter().map(|x| x / 5.0).collect();
    let (logits64, targets64) = (to_f64(&logits), to_f64(&targets));
    let numeric = numeric_gradient(&logits64, |x| generic::sigmoid_bce(x, &targets64).0);
    let (_, analytic) = generic::sigmoid_bce(&logits64, &targets64);
    for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-6,
            "reference d[{i}]: analytic {a}, numeric {n}"
        );
    }
    let (mut probs, mut dlogits) = (vec![0.0; 23], vec![0.0; 23]);
    sigmoid_bce(&logits, &targets, 1.0, &mut probs, &mut dlogits);
    assert_close(
        "bce dlogits vs finite differences",
        &dlogits,
        &numeric,
        1e-6,
        1e-6,
    );
}

/// Keras' documented `binary_crossentropy` example, `y_true = [[0, 1], [0, 0]]`,
/// `y_pred = [[0.6, 0.4], [0.4, 0.6]]`, per-row losses `[0.916, 0.714]`, given as the
/// logits a sigmoid output would have; and a confident wrong prediction keeps its full loss
/// and gradient, which clipping the probability would have capped at 16.1 and zeroed.
#[test]
fn bce_keras_example_and_no_clipping() {
    let logit = |p: f64| (p / (1.0 - p)).ln() as f32;
    let rows = [
        ([0.0, 1.0], [0.6, 0.4], 0.916),
        ([0.0, 0.0], [0.4, 0.6], 0.714),
    ];
    for (targets, predictions, want) in rows {
        let logits = predictions.map(logit);
        let (mut probs, mut dlogits) = ([0.0; 2], [0.0; 2]);
        let mean = sigmoid_bce(&logits, &targets, 0.5, &mut probs, &mut dlogits) / 2.0;
        assert!((mean - want).abs() < 5e-4, "row loss {mean}, Keras {want}");
        assert_close("probs", &probs, &predictions, 1e-6, 0.0);
    }
    let (mut probs, mut dlogits) = ([0.0; 2], [0.0; 2]);
    let loss = sigmoid_bce(&[30.0, -30.0], &[0.0, 1.0], 1.0, &mut probs, &mut dlogits);
    assert!((loss - 60.0).abs() < 1e-5, "loss {loss}");
    assert_close("confident wrong dlogits", &dlogits, &[1.0, -1.0], 1e-7, 0.0);
}
