//! The GRU layer: the f64 reference's gradients against finite differences, and the SIMD
//! kernel against the reference for every input kind, both output kinds and odd sizes, from
//! a zero and a non-zero initial state, with and without a step mask and a recurrent mask.

use kernels::generic::{gru_backward as ref_backward, gru_forward as ref_forward};
use kernels::gru::{gru_backward, gru_forward, GruGrads, GruScratch, GruTape, GruWeights};
use kernels::recurrent::{InputKind, OutputGrad, RecurrentDims, RecurrentInput};
use proptest::prelude::*;

use crate::layers::numeric_gradient;
use crate::{assert_close, bits, floats, recurrent_mask, step_mask, to_f64, with_threads};

struct Case {
    dims: RecurrentDims,
    x: Vec<f32>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    h0: Vec<f32>,
    /// `[T, B, H]` the gradient reaching every output.
    dh_out: Vec<f32>,
    /// `[T, B]` 1 for a real step, 0 for a padded one.
    mask: Option<Vec<f32>>,
    /// `[B, H]` 0 or `1 / (1 - rate)`, scaling `h_{t-1}` where the recurrent product reads it.
    recurrent_mask: Option<Vec<f32>>,
}

fn case(steps: usize, batch: usize, input: usize, hidden: usize, seed: u64) -> Case {
    let dims = RecurrentDims {
        steps,
        batch,
        input,
        hidden,
    };
    let g3 = 3 * hidden;
    Case {
        dims,
        x: floats(seed, steps * batch * input, 1.0),
        w_ih: floats(seed + 1, input * g3, 0.5),
        w_hh: floats(seed + 2, hidden * g3, 0.5),
        bias_ih: floats(seed + 3, g3, 0.5),
        bias_hh: floats(seed + 4, g3, 0.5),
        h0: floats(seed + 5, batch * hidden, 0.5),
        dh_out: floats(seed + 6, steps * batch * hidden, 1.0),
        mask: None,
        recurrent_mask: None,
    }
}

/// A case with weights drawn as Keras initialises them, roughly: `W_ih` Glorot-uniform, `W_hh`
/// of about unit gain. Over tens of steps the larger weights of `case` make the recurrence
/// chaotic, and any rounding difference grows without bound.
fn keras_like_case(steps: usize, batch: usize, input: usize, hidden: usize, seed: u64) -> Case {
    let g3 = 3 * hidden;
    let glorot = (6.0 / (input + g3) as f32).sqrt();
    let unit_gain = (3.0 / hidden as f32).sqrt();
    Case {
        w_ih: floats(seed + 1, input * g3, glorot),
        w_hh: floats(seed + 2, hidden * g3, unit_gain),
        ..case(steps, batch, input, hidden, seed)
    }
}

fn dims_tuple(d: RecurrentDims) -> (usize, usize, usize, usize) {
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
    let (x, w_ih, w_hh, b_ih, b_hh, h0, dh) = (
        to_f64(&c.x),
        to_f64(&c.w_ih),
        to_f64(&c.w_hh),
        to_f64(&c.bias_ih),
        to_f64(&c.bias_hh),
        to_f64(&c.h0),
        to_f64(&c.dh_out),
    );
    // L = Σ_t Σ dh_out ⊙ h_t, so dL/dh_t = dh_out.
    let loss = |x: &[f64], w_ih: &[f64], w_hh: &[f64], b_ih: &[f64], b_hh: &[f64], h0: &[f64]| {
        let tape = ref_forward(dims, x, w_ih, w_hh, b_ih, b_hh, h0, mask, recurrent_mask);
        let outputs = &tape.h[h0.len()..];
        outputs.iter().zip(&dh).map(|(h, d)| h * d).sum::<f64>()
    };
    let tape = ref_forward(
        dims,
        &x,
        &w_ih,
        &w_hh,
        &b_ih,
        &b_hh,
        &h0,
        mask,
        recurrent_mask,
    );
    let grads = ref_backward(dims, &x, &w_ih, &w_hh, &tape, &dh, mask, recurrent_mask);
    let check = |what: &str, analytic: &[f64], numeric: Vec<f64>| {
        assert_eq!(analytic.len(), numeric.len(), "{what}");
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-7 * (1.0 + n.abs()),
                "{what}[{i}]: analytic {a}, numeric {n}"
            );
        }
    };
    check(
        "dW_ih",
        &grads.w_ih,
        numeric_gradient(&w_ih, |w| loss(&x, w, &w_hh, &b_ih, &b_hh, &h0)),
    );
    check(
        "dW_hh",
        &grads.w_hh,
        numeric_gradient(&w_hh, |w| loss(&x, &w_ih, w, &b_ih, &b_hh, &h0)),
    );
    check(
        "dbias_ih",
        &grads.bias_ih,
        numeric_gradient(&b_ih, |b| loss(&x, &w_ih, &w_hh, b, &b_hh, &h0)),
    );
    check(
        "dbias_hh",
        &grads.bias_hh,
        numeric_gradient(&b_hh, |b| loss(&x, &w_ih, &w_hh, &b_ih, b, &h0)),
    );
    check(
        "dx",
        &grads.x,
        numeric_gradient(&x, |x| loss(x, &w_ih, &w_hh, &b_ih, &b_hh, &h0)),
    );
    check(
        "dh0",
        &grads.h0,
        numeric_gradient(&h0, |h| loss(&x, &w_ih, &w_hh, &b_ih, &b_hh, h)),
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

fn weights(c: &Case) -> GruWeights<'_> {
    GruWeights {
        w_ih: &c.w_ih,
        w_hh: &c.w_hh,
        bias_ih: &c.bias_ih,
        bias_hh: &c.bias_hh,
    }
}

fn check_against_reference(c: &Case, kind: InputKind, last_only: bool) {
    let d = c.dims;
    let index: Vec<u32> = (0..d.steps * d.batch)
        .map(|r| (r * 5 % d.input) as u32)
        .collect();
    let input = match kind {
        InputKind::Dense => RecurrentInput::Dense(&c.x),
        InputKind::OneHot => RecurrentInput::OneHot(&index),
        InputKind::Repeated => RecurrentInput::Repeated(&c.x[..d.batch * d.input]),
    };
    let w = weights(c);
    let recurrent = c.recurrent_mask.as_deref();
    let mut tape = GruTape::new(d, kind, recurrent.is_some());
    tape.initial_state_mut().copy_from_slice(&c.h0);
    let mask = c.mask.as_deref();
    let (mask_ref, recurrent_ref) = (mask.map(to_f64), recurrent.map(to_f64));
    gru_forward(input, mask, recurrent, &w, &mut tape);

    let state = d.batch * d.hidden;
    let mut dh = c.dh_out.clone();
    if last_only {
        let last = (d.steps - 1) * state;
        dh[..last].fill(0.0);
    }
    let x_ref = to_f64(&reference_input(c, kind, &index));
    let (w_ih, w_hh) = (to_f64(&c.w_ih), to_f64(&c.w_hh));
    let reference = ref_forward(
        dims_tuple(d),
        &x_ref,
        &w_ih,
        &w_hh,
        &to_f64(&c.bias_ih),
        &to_f64(&c.bias_hh),
        &to_f64(&c.h0),
        mask_ref.as_deref(),
        recurrent_ref.as_deref(),
    );
    let what = format!("{d:?} {kind:?} last_only={last_only} mask={mask:?} {recurrent:?}");
    let forward_tolerance = 1e-5;
    assert_close(
        &format!("{what} h"),
        tape.outputs(),
        &reference.h[state..],
        forward_tolerance,
        forward_tolerance,
    );
    assert_close(
        &format!("{what} gates"),
        tape.gates(),
        &reference.gates,
        forward_tolerance,
        forward_tolerance,
    );

    let g3 = 3 * d.hidden;
    // Backward writes the gradients: what the buffers held before must not show.
    let (mut dw_ih, mut dw_hh, mut db_ih, mut db_hh) = (
        vec![7.0; d.input * g3],
        vec![7.0; d.hidden * g3],
        vec![7.0; g3],
        vec![7.0; g3],
    );
    let dx_len = match kind {
        InputKind::Repeated => d.batch * d.input,
        _ => d.steps * d.batch * d.input,
    };
    let mut dx = vec![7.0; dx_len];
    let dout = if last_only {
        OutputGrad::Last(&c.dh_out[(d.steps - 1) * state..])
    } else {
        OutputGrad::Sequence(&c.dh_out)
    };
    let mut scratch = GruScratch::new(d, kind, recurrent.is_some());
    let grads = GruGrads {
        w_ih: &mut dw_ih,
        w_hh: &mut dw_hh,
        bias_ih: &mut db_ih,
        bias_hh: &mut db_hh,
    };
    let want_dx = !matches!(kind, InputKind::OneHot);
    gru_backward(
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

    let want = ref_backward(
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
    let close = |name: &str, got: &[f32], want: &[f64]| {
        assert_close(&format!("{what} {name}"), got, want, tolerance, tolerance)
    };
    close("dW_ih", &dw_ih, &want.w_ih);
    close("dW_hh", &dw_hh, &want.w_hh);
    close("dbias_ih", &db_ih, &want.bias_ih);
    close("dbias_hh", &db_hh, &want.bias_hh);
    match kind {
        InputKind::Dense => close("dx", &dx, &want.x),
        InputKind::Repeated => {
            // The repeated vector's gradient is the sum over steps of the reference's.
            let mut summed = vec![0.0; dx_len];
            for step in want.x.chunks(dx_len) {
                for (s, v) in summed.iter_mut().zip(step) {
                    *s += v;
                }
            }
            close("dx", &dx, &summed);
        }
        InputKind::OneHot => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    // Batches above and below the small GEMM's blocks of four rows, hidden sizes above and
    // below a vector of 8. From a zero initial state too, where step 0's recurrent product
    // is skipped but b_hn still counts.
    fn simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let mut c = case(steps, batch, input, hidden, seed % 1000);
        if zero_state {
            c.h0.fill(0.0);
        }
        check_against_reference(&c, kind, last_only);
    }

    #[test]
    // Random masks: padded steps anywhere, whole padded steps, rows padded throughout.
    fn masked_simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let mut c = case(steps, batch, input, hidden, seed % 1000);
        c.mask = Some(step_mask(seed, steps * batch));
        if zero_state {
            c.h0.fill(0.0);
        }
        check_against_reference(&c, kind, last_only);
    }

    #[test]
    // A recurrent mask at rates from none dropped to most, alone and with a step mask.
    fn recurrently_masked_simd_layer_matches_reference(steps in 1usize..6, batch in 1usize..8, input in 1usize..12, hidden in 1usize..20, seed: u64, kind in 0u8..3, last_only: bool, zero_state: bool, padded: bool, rate in 0.0f32..0.9) {
        let kind = [InputKind::Dense, InputKind::OneHot, InputKind::Repeated][kind as usize];
        let mut c = case(steps, batch, input, hidden, seed % 1000);
        c.mask = padded.then(|| step_mask(seed, steps * batch));
        c.recurrent_mask = Some(recurrent_mask(seed, batch * hidden, rate));
        if zero_state {
            c.h0.fill(0.0);
        }
        check_against_reference(&c, kind, last_only);
    }
}

#[test]
fn tutorial_shapes_match_reference() {
    // Tutorial-like shapes: echo's, a batch of 50 over 65 characters, and one with a step
    // large enough that W_hh is packed and its rows are cut among threads (on a pool of more
    // than one).
    for (steps, batch, input, hidden) in [
        (1, 1, 1, 32),
        (35, 1, 100, 20),
        (5, 7, 100, 20),
        (50, 50, 65, 128),
        (2, 64, 3, 256),
    ] {
        for kind in [InputKind::Dense, InputKind::OneHot, InputKind::Repeated] {
            let mut c = keras_like_case(steps, batch, input, hidden, 5);
            check_against_reference(&c, kind, false);
            c.h0.fill(0.0);
            check_against_reference(&c, kind, true);
            c.mask = Some(step_mask(5, steps * batch));
            check_against_reference(&c, kind, true);
            c.recurrent_mask = Some(recurrent_mask(5, batch * hidden, 0.25));
            check_against_reference(&c, kind, true);
        }
    }
}

#[test]
fn weight_gradients_over_more_than_one_block_of_k() {
    // As the LSTM's: from a zero state dW_hh's k is 1024 in a room sized for 1088.
    let mut c = keras_like_case(17, 64, 8, 64, 9);
    c.h0.fill(0.0);
    check_against_reference(&c, InputKind::Dense, false);
}

#[test]
fn same_bits_on_any_number_of_threads() {
    // An odd batch, cut into tasks of 19 and 18 rows on two threads and of 13, 13 and 11 on
    // three; and a batch too small to cut, whose products spread by panels instead. With
    // padded steps and a recurrent mask.
    for (batch, hidden) in [(37, 200), (5, 300)] {
        same_bits_at(batch, hidden);
    }
}

fn same_bits_at(batch: usize, hidden: usize) {
    let mut c = case(3, batch, 9, hidden, 21);
    c.mask = Some(step_mask(21, 3 * batch));
    c.recurrent_mask = Some(recurrent_mask(21, batch * hidden, 0.25));
    let d = c.dims;
    assert!(kernels::gru::packing_pays(d));
    let (mask, recurrent) = (c.mask.as_deref(), c.recurrent_mask.as_deref());
    let run = |threads: usize| {
        with_threads(threads, || {
            let w = weights(&c);
            let mut tape = GruTape::new(d, InputKind::Dense, true);
            tape.initial_state_mut().copy_from_slice(&c.h0);
            gru_forward(RecurrentInput::Dense(&c.x), mask, recurrent, &w, &mut tape);
            let g3 = 3 * d.hidden;
            let (mut dw_ih, mut dw_hh, mut db_ih, mut db_hh) = (
                vec![0.0; d.input * g3],
                vec![0.0; d.hidden * g3],
                vec![0.0; g3],
                vec![0.0; g3],
            );
            let mut dx = vec![0.0; c.x.len()];
            let grads = GruGrads {
                w_ih: &mut dw_ih,
                w_hh: &mut dw_hh,
                bias_ih: &mut db_ih,
                bias_hh: &mut db_hh,
            };
            let mut scratch = GruScratch::new(d, InputKind::Dense, true);
            gru_backward(
                RecurrentInput::Dense(&c.x),
                mask,
                recurrent,
                &w,
                &tape,
                OutputGrad::Sequence(&c.dh_out),
                &mut scratch,
                grads,
                Some(&mut dx),
            );
            [tape.outputs(), &dw_ih, &dw_hh, &db_ih, &db_hh, &dx].map(bits)
        })
    };
    let one = run(1);
    for threads in [2, 3] {
        assert!(
            run(threads) == one,
            "GRU results differ between 1 and {threads} threads at batch {batch}"
        );
    }
}

#[test]
fn carried_state_continues_the_sequence() {
    // Two halves run with the state carried equal one run over the whole sequence.
    let c = case(6, 3, 4, 5, 31);
    let d = c.dims;
    let half = RecurrentDims { steps: 3, ..d };
    let w = weights(&c);
    let mut whole = GruTape::new(d, InputKind::Dense, false);
    whole.initial_state_mut().copy_from_slice(&c.h0);
    gru_forward(RecurrentInput::Dense(&c.x), None, None, &w, &mut whole);
    let mut halves = GruTape::new(half, InputKind::Dense, false);
    halves.initial_state_mut().copy_from_slice(&c.h0);
    let (first, second) = c.x.split_at(c.x.len() / 2);
    gru_forward(RecurrentInput::Dense(first), None, None, &w, &mut halves);
    halves.carry_state();
    gru_forward(RecurrentInput::Dense(second), None, None, &w, &mut halves);
    // Close rather than equal bits: the input projection's GEMM runs over fewer rows.
    let want = to_f64(whole.final_state());
    assert_close("carried state", halves.final_state(), &want, 1e-6, 1e-6);
}

/// `floats_for` counts what `new` allocates, for every input kind, on both sides of
/// `packing_pays`, with and without room for a recurrent mask.
#[test]
fn floats_for_counts_what_new_allocates() {
    let small = RecurrentDims {
        steps: 7,
        batch: 3,
        input: 5,
        hidden: 9,
    };
    let large = RecurrentDims {
        steps: 2,
        batch: 32,
        input: 300,
        hidden: 128,
    };
    for dims in [small, large] {
        for (kind, recurrent) in [InputKind::Dense, InputKind::OneHot, InputKind::Repeated]
            .into_iter()
            .flat_map(|kind| [(kind, false), (kind, true)])
        {
            let what = format!("{dims:?} {kind:?} {recurrent}");
            let tape = GruTape::new(dims, kind, recurrent);
            let scratch = GruScratch::new(dims, kind, recurrent);
            let tape_floats = GruTape::floats_for(dims, kind, recurrent);
            assert_eq!(tape_floats, tape.floats(), "{what}");
            let scratch_floats = GruScratch::floats_for(dims, kind, recurrent);
            assert_eq!(scratch_floats, scratch.floats(), "{what}");
        }
    }
    assert!(!kernels::gru::packing_pays(small) && kernels::gru::packing_pays(large));
}

proptest! {
    /// The cell passes, forward and back, give the same bits on every instruction set this
    /// CPU runs, at hidden sizes on either side of both widths, with inputs past tanh's clamp
    /// and below its small-argument cutoff, with and without an output gradient.
    #[test]
    fn cells_give_the_same_bits_on_every_instruction_set(hidden in prop_oneof![Just(15usize), Just(16), Just(17), 1usize..70], seed: u64, scale in prop_oneof![Just(1e-4f32), Just(1.0), Just(20.0)], has_out: bool) {
        use kernels::gru::{cell_backward_on, cell_forward_on, Kept};
        use kernels::isa::Isa;
        let g3 = 3 * hidden;
        let (gates_in, product) = (floats(seed, g3, scale), floats(seed + 1, g3, scale));
        let (bias_ih, bias_hh) = (floats(seed + 2, g3, scale), floats(seed + 3, g3, scale));
        let w = GruWeights { w_ih: &[], w_hh: &[], bias_ih: &bias_ih, bias_hh: &bias_hh };
        let h_prev = floats(seed + 4, hidden, 1.0);
        let (out, next) = (floats(seed + 5, hidden, 1.0), floats(seed + 6, hidden, 1.0));
        let mut results = Vec::new();
        for isa in Isa::available() {
            let mut gates = gates_in.clone();
            let (mut hn, mut h) = (vec![0.0; hidden], vec![0.0; hidden]);
            cell_forward_on(isa, &mut gates, &product, &w, &h_prev, (&mut hn, &mut h));
            let kept = Kept { gates: &gates, hn: &hn, h_prev: &h_prev };
            let (mut dh_next, mut dpre_x, mut dpre_h) = (next.clone(), vec![0.0; g3], vec![0.0; g3]);
            cell_backward_on(isa, kept, has_out.then_some(&out[..]), &mut dh_next, (&mut dpre_x, &mut dpre_h));
            results.push((isa, [&gates, &hn, &h, &dh_next, &dpre_x, &dpre_h].map(|v| bits(v))));
        }
        for (isa, result) in &results[1..] {
            prop_assert!(*result == results[0].1, "{isa:?} differs from {:?} at hidden {hidden}", results[0].0);
        }
    }
}
