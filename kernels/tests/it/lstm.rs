//! The LSTM layer: the f64 reference's gradients against finite differences, and the SIMD
//! kernel against the reference for every input kind, both output kinds and odd sizes, from
//! a non-zero initial state, with and without a step mask and a recurrent mask.

use kernels::generic::{lstm_backward as ref_backward, lstm_forward as ref_forward};
use kernels::lstm::{
    lstm_backward, lstm_forward, InputKind, LstmDims, LstmGrads, LstmInput, LstmScratch, LstmTape,
    LstmWeights, OutputGrad,
};
use proptest::prelude::*;

use crate::layers::numeric_gradient;
use crate::{assert_close, bits, floats, recurrent_mask, step_mask, to_f64, with_threads};

struct Case {
    dims: LstmDims,
    x: Vec<f32>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    h0: Vec<f32>,
    c0: Vec<f32>,
    /// `[T, B, H]` the gradient reaching every output.
    dh_out: Vec<f32>,
    /// `[T, B]` 1 for a real step, 0 for a padded one.
    mask: Option<Vec<f32>>,
    /// `[B, H]` 0 or `1 / (1 - rate)`, scaling `h_{t-1}` where the recurrent product reads it.
    recurrent_mask: Option<Vec<f32>>,
}

/// A case starting from a zero hidden state, as a layer that is not stateful does.
fn from_zero_state(mut c: Case) -> Case {
    c.h0.fill(0.0);
    c
}

fn case(steps: usize, batch: usize, input: usize, hidden: usize, seed: u64) -> Case {
    let dims = LstmDims {
        steps,
        batch,
        input,
        hidden,
    };
    let g4 = 4 * hidden;
    Case {
        dims,
        x: floats(seed, steps * batch * input, 1.0),
        w_ih: floats(seed + 1, input * g4, 0.5),
        w_hh: floats(seed + 2, hidden * g4, 0.5),
        bias: floats(seed + 3, g4, 0.5),
        h0: floats(seed + 4, batch * hidden, 0.5),
        c0: floats(seed + 5, batch * hidden, 0.5),
        dh_out: floats(seed + 6, steps * batch * hidden, 1.0),
        mask: None,
        recurrent_mask: None,
    }
}

fn dims_tuple(d: LstmDims) -> (usize, usize, usize, usize) {
    (d.steps, d.batch, d.input, d.hidden)
}

/// Padded steps at the end, in the middle, and at the start of a row: `[4, 2]`.
const PADDED: [f64; 8] = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];

/// A recurrent mask `[2, 4]` at rate 0.5: two units of each row dropped, the rest doubled.
const DROPPED: [f64; 8] = [2.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0, 2.0];

#[test]
fn reference_gradients_match_finite_differences() {
    check_reference_gradients(None, None);
}

#[test]
fn masked_reference_gradients_match_finite_differences() {
    check_reference_gradients(Some(&PADDED), None);
}

#[test]
fn recurrently_masked_reference_gradients_match_finite_differences() {
    check_reference_gradients(None, Some(&DROPPED));
    check_reference_gradients(Some(&PADDED), Some(&DROPPED));
}

/// `mask [4, 2]`, `recurrent_mask [2, 4]`.
fn check_reference_gradients(mask: Option<&[f64]>, recurrent_mask: Option<&[f64]>) {
    let c = case(4, 2, 3, 4, 11);
    let dims = dims_tuple(c.dims);
    let (x, w_ih, w_hh, bias, h0, c0, dh) = (
        to_f64(&c.x),
        to_f64(&c.w_ih),
        to_f64(&c.w_hh),
        to_f64(&c.bias),
        to_f64(&c.h0),
        to_f64(&c.c0),
        to_f64(&c.dh_out),
    );
    // L = Σ_t Σ dh_out ⊙ h_t, so dL/dh_t = dh_out.
    let loss = |x: &[f64], w_ih: &[f64], w_hh: &[f64], bias: &[f64]| -> f64 {
        let tape = ref_forward(dims, x, w_ih, w_hh, bias, &h0, &c0, mask, recurrent_mask);
        tape.h[h0.len()..].iter().zip(&dh).map(|(h, d)| h * d).sum()
    };
    let tape = ref_forward(
        dims,
        &x,
        &w_ih,
        &w_hh,
        &bias,
        &h0,
        &c0,
        mask,
        recurrent_mask,
    );
    let (dw_ih, dw_hh, dbias, dx) =
        ref_backward(dims, &x, &w_ih, &w_hh, &tape, &dh, mask, recurrent_mask);
    let check = |what: &str, analytic: &[f64], numeric: Vec<f64>| {
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-7 * (1.0 + n.abs()),
                "{what}[{i}]: analytic {a}, numeric {n}"
            );
        }
    };
    check(
        "dW_ih",
        &dw_ih,
        numeric_gradient(&w_ih, |w| loss(&x, w, &w_hh, &bias)),
    );
    check(
        "dW_hh",
        &dw_hh,
        numeric_gradient(&w_hh, |w| loss(&x, &w_ih, w, &bias)),
    );
    check(
        "dbias",
        &dbias,
        numeric_gradient(&bias, |b| loss(&x, &w_ih, &w_hh, b)),
    );
    check(
        "dx",
        &dx,
        numeric_gradient(&x, |x| loss(x, &w_ih, &w_hh, &bias)),
    );
}

/// The dense `[T, B, I]` input a kind amounts to, for the reference.
fn reference_input(c: &Case, kind: InputKind, index: &[u32]) -> Vec<f32> {
    let d = c.dims;
    match kind {
        InputKind::Dense => c.x.clone(),
        InputKind::OneHot => index
            .iter()
            .flat_map(|&i| (0..d.input).map(move |j| if j == i as usize { 1.0 } else { 0.0 }))
            .collect(),
        InputKind::Repeated => (0..d.steps)
            .flat_map(|_| c.x[..d.batch * d.input].iter().copied())
            .collect(),
    }
}

fn check_against_reference(c: &Case, kind: InputKind, last_only: bool) {
    let d = c.dims;
    let index: Vec<u32> = (0..d.steps * d.batch)
        .map(|r| (r * 5 % d.input) as u32)
        .collect();
    let input = match kind {
        InputKind::Dense => LstmInput::Dense(&c.x),
        InputKind::OneHot => LstmInput::OneHot(&index),
        InputKind::Repeated => LstmInput::Repeated(&c.x[..d.batch * d.input]),
    };
    let w = LstmWeights {
        w_ih: &c.w_ih,
        w_hh: &c.w_hh,
        bias: &c.bias,
    };
    let recurrent = c.recurrent_mask.as_deref();
    let mut tape = LstmTape::new(d, kind, recurrent.is_some());
    let (h0, c0) = tape.initial_state_mut();
    h0.copy_from_slice(&c.h0);
    c0.copy_from_slice(&c.c0);
    let mask = c.mask.as_deref();
    let (mask_ref, recurrent_ref) = (mask.map(to_f64), recurrent.map(to_f64));
    lstm_forward(input, mask, recurrent, &w, &mut tape);

    let state = d.batch * d.hidden;
    let mut dh = c.dh_out.clone();
    if last_only {
        let last = (d.steps - 1) * state;
        dh[..last].fill(0.0);
    }
    let x_ref = to_f64(&reference_input(c, kind, &index));
    let (w_ih, w_hh, bias) = (to_f64(&c.w_ih), to_f64(&c.w_hh), to_f64(&c.bias));
    let reference = ref_forward(
        dims_tuple(d),
        &x_ref,
        &w_ih,
        &w_hh,
        &bias,
        &to_f64(&c.h0),
        &to_f64(&c.c0),
        mask_ref.as_deref(),
        recurrent_ref.as_deref(),
    );
    let what = format!("{d:?} {kind:?} last_only={last_only} mask={mask:?} {recurrent:?}");
    assert_close(
        &format!("{what} h"),
        tape.outputs(),
        &reference.h[state..],
        1e-5,
        1e-5,
    );
    assert_close(
        &format!("{what} gates"),
        tape.gates(),
        &reference.gates,
        1e-5,
        1e-5,
    );

    let g4 = 4 * d.hidden;
    // Backward writes the gradients: what the buffers held before must not show.
    let (mut dw_ih, mut dw_hh, mut dbias) = (
        vec![7.0; d.input * g4],
        vec![7.0; d.hidden * g4],
        vec![7.0; g4],
    );
    let dx_len = match kind {
        InputKind::Repeated => state / d.hidden * d.input,
        _ => d.steps * d.batch * d.input,
    };
    let mut dx = vec![0.0; dx_len];
    let dout = if last_only {
        OutputGrad::Last(&c.dh_out[(d.steps - 1) * state..])
    } else {
        OutputGrad::Sequence(&c.dh_out)
    };
    let mut scratch = LstmScratch::new(d, kind);
    let grads = LstmGrads {
        w_ih: &mut dw_ih,
        w_hh: &mut dw_hh,
        bias: &mut dbias,
    };
    let want_dx = !matches!(kind, InputKind::OneHot);
    lstm_backward(
        input,
        mask,
        recurrent,
        &w,
        &tape,
        dout,
        &mut scratch,
        grads,
        want_dx.then_some(&mut dx[..]),
    );

    let (r_dw_ih, r_dw_hh, r_dbias, r_dx) = ref_backward(
        dims_tuple(d),
        &x_ref,
        &w_ih,
        &w_hh,
        &reference,
        &to_f64(&dh),
        mask_ref.as_deref(),
        recurrent_ref.as_deref(),
    );
    let tolerance = 2e-5 * d.steps as f64;
    assert_close(
        &format!("{what} dW_ih"),
        &dw_ih,
        &r_dw_ih,
        tolerance,
        tolerance,
    );
    assert_close(
        &format!("{what} dW_hh"),
        &dw_hh,
        &r_dw_hh,
        tolerance,
        tolerance,
    );
    assert_close(
        &format!("{what} dbias"),
        &dbias,
        &r_dbias,
        tolerance,
        tolerance,
    );
    match kind {
        InputKind::Dense => assert_close(&format!("{what} dx"), &dx, &r_dx, tolerance, tolerance),
        InputKind::Repeated => {
            // The repeated vector's gradient is the sum over steps of the reference's.
            let mut summed = vec![0.0; dx_len];
            for step in r_dx.chunks(dx_len) {
                for (s, v) in summed.iter_mut().zip(step) {
                    *s += v;
                }
            }
            assert_close(&format!("{what} dx"), &dx, &summed, tolerance, tolerance);
        }
        InputKind::OneHot => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    // Batches above and below the small GEMM's blocks of four rows.
    // From a zero hidden state too, where step 0's recurrent product is skipped.
    fn simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let c = case(steps, batch, input, hidden, seed % 1000);
        let c = if zero_state { from_zero_state(c) } else { c };
        check_against_reference(&c, kind, last_only);
    }

    #[test]
    // Random masks: padded steps anywhere, whole padded steps, rows padded throughout.
    fn masked_simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let mut c = case(steps, batch, input, hidden, seed % 1000);
        c.mask = Some(step_mask(seed, steps * batch));
        let c = if zero_state { from_zero_state(c) } else { c };
        check_against_reference(&c, kind, last_only);
    }

    #[test]
    // A recurrent mask at rates from none dropped to most, alone and with a step mask.
    fn recurrently_masked_simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool, padded: bool, rate in 0.0f32..0.9) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let mut c = case(steps, batch, input, hidden, seed % 1000);
        c.mask = padded.then(|| step_mask(seed, steps * batch));
        c.recurrent_mask = Some(recurrent_mask(seed, batch * hidden, rate));
        let c = if zero_state { from_zero_state(c) } else { c };
        check_against_reference(&c, kind, last_only);
    }
}

#[test]
fn tutorial_shapes_match_reference() {
    // alphabet, stateful, index recall, echo, the encoder-decoder's decoder, and a batch
    // large enough that the recurrent weights are packed once per pass, and one with a step
    // large enough that its rows are cut among threads (on a pool of more than one).
    for (steps, batch, input, hidden) in [
        (1, 1, 1, 32),
        (1, 1, 1, 50),
        (5, 1, 10, 25),
        (5, 7, 100, 20),
        (2, 21, 150, 150),
        (3, 24, 7, 64),
        (2, 64, 3, 256),
    ] {
        for kind in [InputKind::Dense, InputKind::OneHot, InputKind::Repeated] {
            let mut c = case(steps, batch, input, hidden, 5);
            check_against_reference(&c, kind, false);
            c.mask = Some(step_mask(5, steps * batch));
            check_against_reference(&c, kind, false);
            c.recurrent_mask = Some(recurrent_mask(5, batch * hidden, 0.25));
            check_against_reference(&c, kind, false);
        }
    }
}

#[test]
fn weight_gradients_over_more_than_one_block_of_k() {
    // From a zero state dW_hh's product skips the first step's rows: k = 16·64 = 1024 where
    // the layer's room was sized for 17·64 = 1088, with h_prevᵀ and xᵀ (64 and 8 wide) as
    // transposed A, the first copied block by block into that room.
    let c = from_zero_state(case(17, 64, 8, 64, 9));
    check_against_reference(&c, InputKind::Dense, false);
}

#[test]
fn same_bits_on_any_number_of_threads() {
    // An odd batch, cut into tasks of 19 and 18 rows on two threads and of 13, 13 and 11 on
    // three; and a batch too small to cut, whose products spread by panels instead. With
    // padded steps and a recurrent mask, from a carried state.
    for (batch, hidden) in [(37, 200), (5, 300)] {
        same_bits_at(batch, hidden);
    }
}

fn same_bits_at(batch: usize, hidden: usize) {
    let mut c = case(3, batch, 9, hidden, 21);
    c.mask = Some(step_mask(21, 3 * batch));
    c.recurrent_mask = Some(recurrent_mask(21, batch * hidden, 0.25));
    let d = c.dims;
    let (mask, recurrent) = (c.mask.as_deref(), c.recurrent_mask.as_deref());
    let run = |threads: usize| {
        with_threads(threads, || {
            let w = LstmWeights {
                w_ih: &c.w_ih,
                w_hh: &c.w_hh,
                bias: &c.bias,
            };
            let mut tape = LstmTape::new(d, InputKind::Dense, true);
            let (h0, c0) = tape.initial_state_mut();
            h0.copy_from_slice(&c.h0);
            c0.copy_from_slice(&c.c0);
            lstm_forward(LstmInput::Dense(&c.x), mask, recurrent, &w, &mut tape);
            let g4 = 4 * d.hidden;
            let (mut dw_ih, mut dw_hh, mut dbias) = (
                vec![0.0; d.input * g4],
                vec![0.0; d.hidden * g4],
                vec![0.0; g4],
            );
            let grads = LstmGrads {
                w_ih: &mut dw_ih,
                w_hh: &mut dw_hh,
                bias: &mut dbias,
            };
            let mut scratch = LstmScratch::new(d, InputKind::Dense);
            let mut dx = vec![0.0; c.x.len()];
            lstm_backward(
                LstmInput::Dense(&c.x),
                mask,
                recurrent,
                &w,
                &tape,
                OutputGrad::Sequence(&c.dh_out),
                &mut scratch,
                grads,
                Some(&mut dx),
            );
            [tape.outputs(), tape.cells(), &dw_ih, &dw_hh, &dbias, &dx].map(bits)
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(
            run(threads) == one,
            "LSTM results differ between 1 and {threads} threads at batch {batch}"
        );
    }
}

/// `floats_for` counts what `new` allocates, for every input kind, on both sides of
/// `packing_pays`, with and without room for a recurrent mask.
#[test]
fn floats_for_counts_what_new_allocates() {
    let small = LstmDims {
        steps: 7,
        batch: 3,
        input: 5,
        hidden: 9,
    };
    let large = LstmDims {
        steps: 2,
        batch: 32,
        input: 300,
        hidden: 128,
    };
    for dims in [small, large] {
        for kind in [InputKind::Dense, InputKind::OneHot, InputKind::Repeated] {
            for recurrent in [false, true] {
                let tape = LstmTape::new(dims, kind, recurrent);
                let counted = LstmTape::floats_for(dims, kind, recurrent);
                assert_eq!(counted, tape.floats(), "{dims:?} {kind:?} {recurrent}");
            }
            let scratch = LstmScratch::new(dims, kind);
            assert_eq!(
                LstmScratch::floats_for(dims, kind),
                scratch.floats(),
                "{dims:?} {kind:?}"
            );
        }
    }
    assert!(!kernels::lstm::packing_pays(small) && kernels::lstm::packing_pays(large));
}

proptest! {
    /// The cell pass gives the same bits on every instruction set this CPU runs (16 lanes at
    /// once with AVX-512, 8 with AVX2), at hidden sizes on either side of both widths, with
    /// pre-activations past tanh's clamp and below its small-argument cutoff.
    #[test]
    fn cell_forward_gives_the_same_bits_on_every_instruction_set(hidden in prop_oneof![Just(15usize), Just(16), Just(17), 1usize..70], seed: u64, scale in prop_oneof![Just(1e-4f32), Just(1.0), Just(20.0)]) {
        use kernels::isa::Isa;
        use kernels::lstm::cell_forward_on;
        let z_in = floats(seed, 4 * hidden, scale);
        let bias = floats(seed + 1, 4 * hidden, scale);
        let c_prev = floats(seed + 2, hidden, scale);
        let mut results = Vec::new();
        for isa in Isa::available() {
            let mut z = z_in.clone();
            let (mut c, mut h, mut tanh_c) = (vec![0.0; hidden], vec![0.0; hidden], vec![0.0; hidden]);
            cell_forward_on(isa, &mut z, &bias, &c_prev, &mut c, (&mut h, &mut tanh_c));
            results.push((isa, [bits(&z), bits(&c), bits(&h), bits(&tanh_c)]));
        }
        for (isa, result) in &results[1..] {
            prop_assert!(*result == results[0].1, "{isa:?} differs from {:?} at hidden {hidden}", results[0].0);
        }
    }
}

proptest! {
    /// The backward cell pass gives the same bits on every instruction set this CPU runs, at
    /// hidden sizes on either side of both widths, with and without an output gradient.
    #[test]
    fn cell_backward_gives_the_same_bits_on_every_instruction_set(hidden in prop_oneof![Just(15usize), Just(16), Just(17), 1usize..70], seed: u64, has_out: bool) {
        use kernels::isa::Isa;
        use kernels::lstm::{cell_backward_on, CellDh, Kept};
        let gates: Vec<f32> = floats(seed, 4 * hidden, 1.0).iter().map(|x| x.tanh()).collect();
        let c_prev = floats(seed + 1, hidden, 2.0);
        let tanh_c: Vec<f32> = floats(seed + 2, hidden, 2.0).iter().map(|x| x.tanh()).collect();
        let (out, next, dc_in) = (floats(seed + 3, hidden, 1.0), floats(seed + 4, hidden, 1.0), floats(seed + 5, hidden, 1.0));
        let kept = Kept { gates: &gates, c_prev: &c_prev, tanh_c: &tanh_c };
        let dh = CellDh { out: has_out.then_some(&out[..]), next: &next };
        let mut results = Vec::new();
        for isa in Isa::available() {
            let (mut dc_next, mut dz) = (dc_in.clone(), vec![0.0; 4 * hidden]);
            cell_backward_on(isa, kept, dh, &mut dc_next, &mut dz);
            results.push((isa, [bits(&dc_next), bits(&dz)]));
        }
        for (isa, result) in &results[1..] {
            prop_assert!(*result == results[0].1, "{isa:?} differs from {:?} at hidden {hidden}", results[0].0);
        }
    }
}

/// An empty batch runs, with a recurrent mask and padded steps, and leaves nothing to write.
#[test]
fn an_empty_batch_runs_with_masks() {
    let c = case(3, 0, 4, 5, 8);
    let d = c.dims;
    let w = LstmWeights {
        w_ih: &c.w_ih,
        w_hh: &c.w_hh,
        bias: &c.bias,
    };
    let mut tape = LstmTape::new(d, InputKind::Dense, true);
    let masks = (Some(&[][..]), Some(&[][..]));
    lstm_forward(LstmInput::Dense(&[]), masks.0, masks.1, &w, &mut tape);
    let g4 = 4 * d.hidden;
    let (mut dw_ih, mut dw_hh, mut dbias) = (
        vec![1.0; d.input * g4],
        vec![1.0; d.hidden * g4],
        vec![1.0; g4],
    );
    let grads = LstmGrads {
        w_ih: &mut dw_ih,
        w_hh: &mut dw_hh,
        bias: &mut dbias,
    };
    let mut scratch = LstmScratch::new(d, InputKind::Dense);
    let dout = OutputGrad::Sequence(&[]);
    lstm_backward(
        LstmInput::Dense(&[]),
        masks.0,
        masks.1,
        &w,
        &tape,
        dout,
        &mut scratch,
        grads,
        None,
    );
    assert!(
        dw_hh.iter().chain(&dbias).all(|&x| x == 0.0),
        "no rows, no gradient"
    );
}
