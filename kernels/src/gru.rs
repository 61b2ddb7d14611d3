//! The GRU layer over a whole sequence, forward and backward (backprop through time).
//!
//! Keras `GRU(reset_after=True)`, which is PyTorch `nn.GRU`; gates `[3H]` in PyTorch's order
//! r, z, n:
//!
//! `r = σ(x·W_ir + b_ir + h·W_hr + b_hr)`, `z = σ(x·W_iz + b_iz + h·W_hz + b_hz)`,
//! `n = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
//!
//! Dims and layouts as the LSTM's (`recurrent`): time-major `[T, B, ·]`, `W_ih [I, 3H]`,
//! `W_hh [H, 3H]`. Two biases `[3H]`, because `b_hn` sits inside `r ⊙ (...)`.
//!
//! Forward projects the input of all steps at once into `[T, B, 3H]`, as the LSTM does. The
//! recurrent product of each step goes into a buffer of its own, not onto the projection,
//! because r scales n's recurrent part alone; then one fused pass (`cell_forward`) per step
//! adds the biases, applies sigmoid/tanh and updates h. From a zero initial state step 0's
//! product is skipped, but `b_hn` still enters n through r.
//!
//! Backward runs t = T-1 down to 0: the fused `cell_backward` gives the gradients of the
//! pre-activations from x and from h (they differ in n's, which passes through r), one GEMM
//! per step carries the gradient into `h_{t-1}`, and the weight gradients of all steps are
//! single GEMMs at the end, written, not added to. On several threads the batch rows are cut
//! into tasks that each run the whole sequence, as the LSTM's are (`recurrent::task_rows`),
//! and the cell passes run in AVX-512 where the CPU has it, as the LSTM's do.
//!
//! With a recurrent mask `m [B, H]` (Keras' `recurrent_dropout=`, one mask a sequence) the
//! product reads `h_{t-1}⊙m`, kept in the tape for backward's `dW_hh`, and the gradient it
//! passes back into `h_{t-1}` is masked the same; `z ⊙ h_{t-1}` reads the state unmasked,
//! as Keras 3's `GRUCell` does (`h = z * h_tm1 + (1 - z) * hh` with the `h_tm1` it did not
//! mask). Keras draws three masks there, one for each gate's part of the product; this
//! kernel takes one for all three.
//!
//! Nothing here allocates: the tape and scratch buffers are made once per shape.

use std::arch::x86_64::{
    __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_mul_ps, _mm512_set1_ps, _mm512_sub_ps,
};
use std::ops::Range;

use wide::f32x8;

use crate::activation::{sigmoid16, sigmoid8, tanh16, tanh8};
use crate::denormal::FlushDenormals;
use crate::gemm::{Mat, MatMut};
use crate::lanes::{add_into, load, store};
use crate::packed::{Isa, PackedMat};
use crate::recurrent::{
    check_mask, check_recurrent_mask, column_sums, first_step_with_state, input_backward,
    input_room, is_padded, join_if, product_state, project_input, recurrent_product,
    recurrent_weight_grad, run_row_tasks, task_rows, GradRoom, InputKind, OutputGrad,
    RecurrentDims, RecurrentInput, StepMatrix, StepRows, SIDE_BY_SIDE_MIN_FLOATS,
};

/// Gates per hidden unit: r, z, n.
const GATES: usize = 3;

fn gates(dims: RecurrentDims) -> usize {
    GATES * dims.hidden
}

pub struct GruWeights<'a> {
    /// `[I, 3H]`.
    pub w_ih: &'a [f32],
    /// `[H, 3H]`.
    pub w_hh: &'a [f32],
    /// `[3H]`, added to the input projection.
    pub bias_ih: &'a [f32],
    /// `[3H]`, added to the recurrent product (inside r's product for n).
    pub bias_hh: &'a [f32],
}

/// Gradients of `GruWeights`, written by `gru_backward`.
pub struct GruGrads<'a> {
    pub w_ih: &'a mut [f32],
    pub w_hh: &'a mut [f32],
    pub bias_ih: &'a mut [f32],
    pub bias_hh: &'a mut [f32],
}

/// What forward keeps for backward.
pub struct GruTape {
    dims: RecurrentDims,
    /// `[T, B, 3H]`: gate activations r, z, n (the input projection while a step runs).
    gates: Vec<f32>,
    /// `[B, 3H]`: the running step's recurrent product `h_{t-1}·W_hh`.
    product: Vec<f32>,
    /// `[T, B, H]`: `h_{t-1}·W_hn + b_hn`, n's recurrent part before r scales it.
    hn: Vec<f32>,
    /// `[T+1, B, H]`: slot 0 is the initial state, slot t+1 the output of step t.
    h: Vec<f32>,
    /// `[T, B, H]`: slot t is `h_{t-1}⊙m`, what step t's product read under a recurrent mask;
    /// empty for a tape made without one.
    masked_h: Vec<f32>,
    /// `W_hh` packed for the per-step product, when the shapes make packing pay.
    w_hh_packed: Option<PackedMat>,
    /// Room for packing `W_ih` in the input projection (`gemm::room_for`).
    room: Vec<f32>,
}

impl GruTape {
    /// A tape for these shapes; `recurrent_mask` when the passes may take a recurrent mask.
    pub fn new(dims: RecurrentDims, input: InputKind, recurrent_mask: bool) -> GruTape {
        let lens = TapeLens::new(dims, input, recurrent_mask);
        GruTape {
            dims,
            gates: vec![0.0; lens.gates],
            product: vec![0.0; lens.product],
            hn: vec![0.0; lens.hn],
            h: vec![0.0; lens.h],
            masked_h: vec![0.0; lens.masked_h],
            w_hh_packed: lens.packed.map(|(k, n)| PackedMat::new(k, n)),
            room: vec![0.0; lens.room],
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: RecurrentDims, input: InputKind, recurrent_mask: bool) -> usize {
        TapeLens::new(dims, input, recurrent_mask).floats()
    }

    fn state_len(&self) -> usize {
        self.dims.batch * self.dims.hidden
    }

    /// `[B, H]` initial state.
    pub fn initial_state(&self) -> &[f32] {
        &self.h[..self.state_len()]
    }

    /// `[B, H]` initial state, to set before `gru_forward`.
    pub fn initial_state_mut(&mut self) -> &mut [f32] {
        let n = self.state_len();
        &mut self.h[..n]
    }

    /// Makes the state after the last step the initial state: a stateful layer's next batch
    /// carries on where this one ended.
    pub fn carry_state(&mut self) {
        let n = self.state_len();
        let last = self.dims.steps * n;
        self.h.copy_within(last..last + n, 0);
    }

    /// `[B, H]` state after the last step.
    pub fn final_state(&self) -> &[f32] {
        let n = self.state_len();
        let last = self.dims.steps * n;
        &self.h[last..last + n]
    }

    /// `[T, B, H]` the output of every step.
    pub fn outputs(&self) -> &[f32] {
        &self.h[self.state_len()..]
    }

    /// `[T, B, 3H]` the activated gates.
    pub fn gates(&self) -> &[f32] {
        &self.gates
    }

    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let packed = self.w_hh_packed.as_ref().map_or(0, PackedMat::floats);
        let buffers = self.gates.len() + self.product.len() + self.hn.len();
        let state = self.h.len() + self.masked_h.len();
        buffers + state + packed + self.room.len()
    }
}

/// The lengths of a tape's buffers, decided once for `GruTape::new` to allocate and
/// `GruTape::floats_for` to count.
struct TapeLens {
    gates: usize,
    product: usize,
    hn: usize,
    h: usize,
    masked_h: usize,
    /// `[k, n]` of `W_hh` packed, when packing pays.
    packed: Option<(usize, usize)>,
    room: usize,
}

impl TapeLens {
    fn new(dims: RecurrentDims, input: InputKind, recurrent_mask: bool) -> TapeLens {
        let (t, b, h, g3) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        TapeLens {
            gates: t * b * g3,
            product: b * g3,
            hn: t * b * h,
            h: (t + 1) * b * h,
            masked_h: if recurrent_mask { t * b * h } else { 0 },
            packed: packing_pays(dims).then_some((h, g3)),
            room: input_room(dims, g3, input),
        }
    }

    fn floats(&self) -> usize {
        let packed = self.packed.map_or(0, |(k, n)| PackedMat::floats_for(k, n));
        let state = self.h + self.masked_h;
        self.gates + self.product + self.hn + state + packed + self.room
    }
}

/// Buffers backward works in.
pub struct GruScratch {
    /// `[T, B, 3H]` gradients of the pre-activations' parts from x, the input projection's.
    dpre_x: Vec<f32>,
    /// `[T, B, 3H]` gradients of the parts from h, the recurrent product's plus `b_hh`:
    /// r's and z's as `dpre_x`, n's scaled by r.
    dpre_h: Vec<f32>,
    /// `W_hhᵀ [3H, H]` for the per-step product.
    w_hh_t: StepMatrix,
    /// `[B, H]` the gradient flowing into the previous step's h.
    dh_next: Vec<f32>,
    /// `[B, H]` the step's product against `W_hhᵀ` before a recurrent mask scales it; empty
    /// for scratch made without one.
    d_masked: Vec<f32>,
    /// What the weight and input gradients' products work in.
    grad_room: GradRoom,
}

impl GruScratch {
    /// Scratch for these shapes; `recurrent_mask` when the passes may take a recurrent mask.
    pub fn new(dims: RecurrentDims, input: InputKind, recurrent_mask: bool) -> GruScratch {
        let (t, b, h, g3) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        GruScratch {
            dpre_x: vec![0.0; t * b * g3],
            dpre_h: vec![0.0; t * b * g3],
            w_hh_t: StepMatrix::new(dims, g3),
            dh_next: vec![0.0; b * h],
            d_masked: vec![0.0; GruScratch::masked_len(dims, recurrent_mask)],
            grad_room: GradRoom::new(dims, g3, input),
        }
    }

    fn masked_len(dims: RecurrentDims, recurrent_mask: bool) -> usize {
        if recurrent_mask {
            dims.batch * dims.hidden
        } else {
            0
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: RecurrentDims, input: InputKind, recurrent_mask: bool) -> usize {
        let (t, b, h, g3) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        2 * t * b * g3
            + StepMatrix::floats_for(dims, g3)
            + b * h
            + GruScratch::masked_len(dims, recurrent_mask)
            + GradRoom::floats_for(dims, g3, input)
    }

    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let dpre = self.dpre_x.len() + self.dpre_h.len();
        let state = self.dh_next.len() + self.d_masked.len();
        dpre + self.w_hh_t.floats() + state + self.grad_room.floats()
    }
}

/// Runs the layer over the sequence from the initial state in the tape.
///
/// `mask [T, B]`, when given, is 1 for a real step and 0 for a padded one (Keras' masking):
/// at a padded step a row's h is carried unchanged from the previous step, so its output
/// there repeats the previous output and its final state is its last real step's.
///
/// `recurrent_mask [B, H]`, when given, scales `h_{t-1}` where the recurrent product reads
/// it, the same at every step (Keras' `recurrent_dropout=`); the tape must be made for it.
pub fn gru_forward(
    input: RecurrentInput,
    mask: Option<&[f32]>,
    recurrent_mask: Option<&[f32]>,
    w: &GruWeights,
    tape: &mut GruTape,
) {
    let _ftz = FlushDenormals::new();
    let dims = tape.dims;
    check_weights(dims, w);
    check_mask(dims, mask);
    check_recurrent_mask(dims, recurrent_mask, tape.masked_h.len());
    let (b, h, g3) = (dims.batch, dims.hidden, gates(dims));
    let w_ih = Mat::new(w.w_ih, dims.input, g3);
    project_input(dims, input, w_ih, &mut tape.gates, &mut tape.room);
    if let Some(packed) = &mut tape.w_hh_packed {
        packed.pack(Mat::new(w.w_hh, h, g3));
    }
    let first = first_step_with_state(tape.initial_state());
    let (rows, isa) = (task_rows(dims, g3), Isa::best());
    let packed = tape.w_hh_packed.as_ref();
    let tape_rows = ForwardRows {
        gates: StepRows::new(&mut tape.gates, b, g3),
        product: StepRows::new(&mut tape.product, b, g3),
        h: StepRows::new(&mut tape.h, b, h),
        hn: StepRows::new(&mut tape.hn, b, h),
        masked_h: StepRows::new(&mut tape.masked_h, b, h),
    };
    // A row's state depends on no other row's, so each task runs the whole sequence for its
    // rows and the tasks meet only at the end.
    run_row_tasks(b, rows, |task_rows| {
        let n = task_rows.len();
        // SAFETY: each task reaches its own rows: of the product's one slot for the whole
        // sequence, of each step's buffers one step at a time.
        let product = unsafe { tape_rows.product.rows(0, task_rows.clone()) };
        for t in 0..dims.steps {
            // SAFETY: as above.
            let masked = recurrent_mask.is_some();
            let mut step = unsafe { tape_rows.step(t, task_rows.clone(), masked) };
            // Masked at every step, the skipped first one too: backward's dW_hh reads them all.
            let mask_rows = recurrent_mask.map(|m| &m[task_rows.start * h..task_rows.end * h]);
            let product_in = product_state(step.h_prev, mask_rows, step.masked_h.as_deref_mut());
            if t >= first {
                let c = &mut MatMut::new(product, n, g3);
                recurrent_product(
                    c,
                    Mat::new(product_in, n, h),
                    w.w_hh,
                    packed,
                    (false, rows == b),
                );
            } else {
                product.fill(0.0);
            }
            let cells = step.gates.chunks_mut(g3).zip(product.chunks(g3));
            let cells = cells.zip(step.h_prev.chunks(h));
            let outputs = step.hn.chunks_mut(h).zip(step.h_next.chunks_mut(h));
            for (((gates, product), hp), (hn, hx)) in cells.zip(outputs) {
                cell_forward_on(isa, gates, product, w, hp, (hn, hx));
            }
            if let Some(mask) = mask {
                carry_padded_rows(&mask[t * b + task_rows.start..][..n], h, step);
            }
        }
    });
}

/// The tape's buffers as the tasks of `gru_forward` reach them, each its own rows; `product`
/// has one slot, the running step's.
struct ForwardRows<'a> {
    gates: StepRows<'a>,
    product: StepRows<'a>,
    h: StepRows<'a>,
    hn: StepRows<'a>,
    masked_h: StepRows<'a>,
}

/// A task's rows of one step forward.
struct ForwardStep<'a> {
    gates: &'a mut [f32],
    h_prev: &'a mut [f32],
    h_next: &'a mut [f32],
    hn: &'a mut [f32],
    /// Where `h_prev⊙m` goes under a recurrent mask: `None` without one.
    masked_h: Option<&'a mut [f32]>,
}

impl<'a> ForwardRows<'a> {
    /// Rows `rows` of step `t`: slot t of the gates, `hn` and, when `masked` (a recurrent mask
    /// is given), the masked state; slots t and t + 1 of h.
    ///
    /// # Safety
    /// As `StepRows::rows`: no other task reaches these rows, and this task no other step
    /// while the slices live.
    unsafe fn step(&self, t: usize, rows: Range<usize>, masked: bool) -> ForwardStep<'a> {
        // SAFETY: the caller's; slots t and t + 1 of h do not overlap.
        unsafe {
            ForwardStep {
                gates: self.gates.rows(t, rows.clone()),
                h_prev: self.h.rows(t, rows.clone()),
                h_next: self.h.rows(t + 1, rows.clone()),
                hn: self.hn.rows(t, rows.clone()),
                masked_h: masked.then(|| self.masked_h.rows(t, rows)),
            }
        }
    }
}

/// Copies a task's h of the previous step over the rows `step_mask` (the task's rows of the
/// step) marks padded. Computing a padded row and then overwriting it keeps the fused pass
/// free of branches; backward sends its gates no gradient.
fn carry_padded_rows(step_mask: &[f32], h: usize, step: ForwardStep) {
    for (row, _) in step_mask.iter().enumerate().filter(|(_, &m)| m == 0.0) {
        let at = row * h..(row + 1) * h;
        step.h_next[at.clone()].copy_from_slice(&step.h_prev[at]);
    }
}

fn check_weights(dims: RecurrentDims, w: &GruWeights) {
    let g3 = gates(dims);
    assert_eq!(w.w_ih.len(), dims.input * g3, "W_ih must be [I, 3H]");
    assert_eq!(w.w_hh.len(), dims.hidden * g3, "W_hh must be [H, 3H]");
    assert_eq!(w.bias_ih.len(), g3, "bias_ih must be [3H]");
    assert_eq!(w.bias_hh.len(), g3, "bias_hh must be [3H]");
}

/// `cell_forward` on a given instruction set, which must run here. The cell pass is bound by
/// its sigmoids' and tanh's arithmetic, and AVX-512 does it for 16 lanes at once.
pub fn cell_forward_on(
    isa: Isa,
    gates: &mut [f32],
    product: &[f32],
    w: &GruWeights,
    h_prev: &[f32],
    (hn, h): (&mut [f32], &mut [f32]),
) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    match isa {
        Isa::Avx2 => cell_forward(gates, product, w, h_prev, hn, h),
        // SAFETY: asserted above that the CPU has AVX-512F.
        Isa::Avx512 => unsafe { cell_forward_avx512(gates, product, w, h_prev, hn, h) },
    }
}

/// `cell_forward` 16 lanes at a time: the same operations, each rounded once, in the same
/// order, so the same bits.
#[target_feature(enable = "avx512f")]
fn cell_forward_avx512(
    gates: &mut [f32],
    product: &[f32],
    w: &GruWeights,
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    let hidden = h.len();
    let g3 = GATES * hidden;
    assert!(gates.len() >= g3 && product.len() >= g3);
    assert!(w.bias_ih.len() >= g3 && w.bias_hh.len() >= g3);
    assert!(h_prev.len() >= hidden && hn.len() >= hidden);
    for j in (0..hidden).step_by(16) {
        let lanes = 16.min(hidden - j);
        let mask: __mmask16 = if lanes == 16 {
            u16::MAX
        } else {
            (1 << lanes) - 1
        };
        // SAFETY: lanes j..j + lanes of each row lie in its slice (asserted above); masked
        // lanes are neither read nor written.
        unsafe {
            let load = |s: &[f32], at: usize| _mm512_maskz_loadu_ps(mask, s.as_ptr().add(at));
            let store = |s: &mut [f32], at: usize, v| {
                _mm512_mask_storeu_ps(s.as_mut_ptr().add(at), mask, v)
            };
            let at = |gate: usize| gate * hidden + j;
            let from_x = |gate| _mm512_add_ps(load(gates, at(gate)), load(w.bias_ih, at(gate)));
            let from_h = |gate| _mm512_add_ps(load(product, at(gate)), load(w.bias_hh, at(gate)));
            let r = sigmoid16(_mm512_add_ps(from_x(0), from_h(0)));
            let z = sigmoid16(_mm512_add_ps(from_x(1), from_h(1)));
            let h_n = from_h(2);
            let n = tanh16(_mm512_fmadd_ps(r, h_n, from_x(2)));
            let h_old = load(h_prev, j);
            for (gate, value) in [r, z, n].into_iter().enumerate() {
                store(gates, at(gate), value);
            }
            store(hn, j, h_n);
            store(h, j, _mm512_fmadd_ps(z, _mm512_sub_ps(h_old, n), n));
        }
    }
}

/// One row of one step: `gates [3H]` holds the input projection on entry and the activated
/// gates on exit; `product [3H]` is `h_{t-1}·W_hh`. Writes `hn = h_{t-1}·W_hn + b_hn` and
/// `h_t` for this row.
#[inline(always)]
fn cell_forward(
    gates: &mut [f32],
    product: &[f32],
    w: &GruWeights,
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    let hidden = h.len();
    for j in (0..hidden).step_by(8) {
        let lanes = 8.min(hidden - j);
        let at = |gate: usize| gate * hidden + j;
        let from_x = |gate: usize| load(gates, at(gate), lanes) + load(w.bias_ih, at(gate), lanes);
        let from_h =
            |gate: usize| load(product, at(gate), lanes) + load(w.bias_hh, at(gate), lanes);
        let r = sigmoid8(from_x(0) + from_h(0));
        let z = sigmoid8(from_x(1) + from_h(1));
        let h_n = from_h(2);
        let n = tanh8(r.mul_add(h_n, from_x(2)));
        let h_old = load(h_prev, j, lanes);
        for (gate, value) in [r, z, n].into_iter().enumerate() {
            store(gates, at(gate), lanes, value);
        }
        store(hn, j, lanes, h_n);
        // (1 - z)·n + z·h = n + z·(h - n)
        store(h, j, lanes, z.mul_add(h_old - n, n));
    }
}

/// What forward kept for one row of one step: the gates r, z, n `[3H]`, `hn [H]` and
/// `h_{t-1} [H]`.
#[derive(Clone, Copy)]
pub struct Kept<'a> {
    pub gates: &'a [f32],
    pub hn: &'a [f32],
    pub h_prev: &'a [f32],
}

/// `cell_backward` on a given instruction set, which must run here.
pub fn cell_backward_on(
    isa: Isa,
    kept: Kept,
    out: Option<&[f32]>,
    dh_next: &mut [f32],
    (dpre_x, dpre_h): (&mut [f32], &mut [f32]),
) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    match isa {
        Isa::Avx2 => cell_backward(kept, out, dh_next, dpre_x, dpre_h),
        // SAFETY: asserted above that the CPU has AVX-512F.
        Isa::Avx512 => unsafe { cell_backward_avx512(kept, out, dh_next, dpre_x, dpre_h) },
    }
}

/// `cell_backward` 16 lanes at a time: the same operations, each rounded once, in the same
/// order, so the same bits.
#[target_feature(enable = "avx512f")]
fn cell_backward_avx512(
    kept: Kept,
    out: Option<&[f32]>,
    dh_next: &mut [f32],
    dpre_x: &mut [f32],
    dpre_h: &mut [f32],
) {
    let hidden = dh_next.len();
    let g3 = GATES * hidden;
    assert!(kept.gates.len() >= g3 && dpre_x.len() >= g3 && dpre_h.len() >= g3);
    assert!(kept.hn.len() >= hidden && kept.h_prev.len() >= hidden);
    assert!(out.is_none_or(|out| out.len() >= hidden));
    let one = _mm512_set1_ps(1.0);
    for j in (0..hidden).step_by(16) {
        let lanes = 16.min(hidden - j);
        let mask: __mmask16 = if lanes == 16 {
            u16::MAX
        } else {
            (1 << lanes) - 1
        };
        // SAFETY: lanes j..j + lanes of each row lie in its slice (asserted above); masked
        // lanes are neither read nor written.
        unsafe {
            let load = |s: &[f32], at: usize| _mm512_maskz_loadu_ps(mask, s.as_ptr().add(at));
            let store = |s: &mut [f32], at: usize, v| {
                _mm512_mask_storeu_ps(s.as_mut_ptr().add(at), mask, v)
            };
            let (mul, sub) = (_mm512_mul_ps, _mm512_sub_ps);
            let gate = |k: usize| load(kept.gates, k * hidden + j);
            let (r, z, n) = (gate(0), gate(1), gate(2));
            let next = load(dh_next, j);
            let dh = match out {
                Some(out) => _mm512_add_ps(next, load(out, j)),
                None => next,
            };
            let dn = mul(mul(dh, sub(one, z)), sub(one, mul(n, n)));
            let dr = mul(mul(mul(dn, load(kept.hn, j)), r), sub(one, r));
            let dh_gap = mul(dh, sub(load(kept.h_prev, j), n));
            let dz = mul(mul(dh_gap, z), sub(one, z));
            for (k, value) in [dr, dz, dn].into_iter().enumerate() {
                store(dpre_x, k * hidden + j, value);
            }
            for (k, value) in [dr, dz, mul(dn, r)].into_iter().enumerate() {
                store(dpre_h, k * hidden + j, value);
            }
            store(dh_next, j, mul(dh, z));
        }
    }
}

/// One row of one step, backward: from the gradient reaching h (`out`, if the step has an
/// output, plus `dh_next`), the gradients of the pre-activations from x (`dpre_x [3H]`) and
/// from h (`dpre_h [3H]`). `dh_next` becomes the part of the previous step's h gradient that
/// skips the weights, `dh·z`.
#[inline(always)]
fn cell_backward(
    kept: Kept,
    out: Option<&[f32]>,
    dh_next: &mut [f32],
    dpre_x: &mut [f32],
    dpre_h: &mut [f32],
) {
    let hidden = dh_next.len();
    let one = f32x8::ONE;
    for j in (0..hidden).step_by(8) {
        let lanes = 8.min(hidden - j);
        let gate = |k: usize| load(kept.gates, k * hidden + j, lanes);
        let (r, z, n) = (gate(0), gate(1), gate(2));
        let next = load(dh_next, j, lanes);
        let dh = match out {
            Some(out) => next + load(out, j, lanes),
            None => next,
        };
        let dn = dh * (one - z) * (one - n * n);
        let dr = dn * load(kept.hn, j, lanes) * r * (one - r);
        let dz = dh * (load(kept.h_prev, j, lanes) - n) * z * (one - z);
        for (k, value) in [dr, dz, dn].into_iter().enumerate() {
            store(dpre_x, k * hidden + j, lanes, value);
        }
        for (k, value) in [dr, dz, dn * r].into_iter().enumerate() {
            store(dpre_h, k * hidden + j, lanes, value);
        }
        store(dh_next, j, lanes, dh * z);
    }
}

/// Backprop through time over the sequence `gru_forward` last ran, with the same `mask`
/// and `recurrent_mask`.
/// Writes the weight gradients into `grads`, and writes the input gradient into `dx` when
/// given (`[T, B, I]` for a dense input, `[B, I]` for a repeated one; one-hot inputs have
/// none). The initial state is a constant: gradients do not flow past the start of the
/// sequence. At a padded step the gradient of h passes straight to the previous step, and
/// the step's gates and input get none.
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(
    input: RecurrentInput,
    mask: Option<&[f32]>,
    recurrent_mask: Option<&[f32]>,
    w: &GruWeights,
    tape: &GruTape,
    dout: OutputGrad,
    scratch: &mut GruScratch,
    grads: GruGrads,
    dx: Option<&mut [f32]>,
) {
    let _ftz = FlushDenormals::new();
    let dims = tape.dims;
    check_weights(dims, w);
    check_mask(dims, mask);
    check_recurrent_mask(dims, recurrent_mask, tape.masked_h.len());
    if recurrent_mask.is_some() {
        let made_for_it = !scratch.d_masked.is_empty();
        assert!(made_for_it, "the scratch must be made for a recurrent mask");
    }
    let (t_len, h, g3) = (dims.steps, dims.hidden, gates(dims));
    if t_len > 1 {
        // Only steps after the first pass a gradient back through W_hh.
        scratch.w_hh_t.fill_transposed(w.w_hh, h, g3);
    }
    scratch.dh_next.fill(0.0);
    sequence_backward(dims, (mask, recurrent_mask), tape, dout, scratch);
    let h_prev = match recurrent_mask {
        Some(_) => &tape.masked_h,
        None => &tape.h,
    };
    let (room, dpre_h, dpre_x) = (&mut scratch.grad_room, &scratch.dpre_h, &scratch.dpre_x);
    // Side by side, so that the sums need not wait for the product's threads to finish.
    join_if(
        dpre_h.len() >= SIDE_BY_SIDE_MIN_FLOATS,
        || recurrent_weight_grad(dims, g3, h_prev, dpre_h, grads.w_hh, room),
        || {
            let _ftz = FlushDenormals::new();
            column_sums(dpre_h, g3, grads.bias_hh);
            column_sums(dpre_x, g3, grads.bias_ih);
        },
    );
    let w_ih = Mat::new(w.w_ih, dims.input, g3);
    input_backward(dims, input, w_ih, &scratch.dpre_x, room, grads.w_ih, dx);
}

/// Adds to a task's rows of `dh_next` the gradient step `t`'s recurrent product passes into
/// `h_{t-1}`: `dpre_h·W_hhᵀ`, times the rows of the recurrent mask when the product read
/// `h_{t-1}⊙m`. That takes a buffer of its own, `d_masked`, as `dh_next` already holds the
/// part that skips the weights. `spread` as `StepMatrix::multiply`'s.
fn product_backward(
    w_hh_t: &StepMatrix,
    spread: bool,
    dpre_h: Mat,
    recurrent_mask: Option<&[f32]>,
    dh_next: &mut [f32],
    d_masked: Option<&mut [f32]>,
) {
    let (rows, h) = (dpre_h.rows, dpre_h.cols / GATES);
    let (Some(recurrent_mask), Some(d_masked)) = (recurrent_mask, d_masked) else {
        w_hh_t.multiply(&mut MatMut::new(dh_next, rows, h), dpre_h, (true, spread));
        return;
    };
    w_hh_t.multiply(&mut MatMut::new(d_masked, rows, h), dpre_h, (false, spread));
    for (dh, (&d, &m)) in dh_next.iter_mut().zip(d_masked.iter().zip(recurrent_mask)) {
        *dh += d * m;
    }
}

/// Backprop through every step, t = T-1 down to 0, each task's rows (`task_rows`) at once for
/// the whole sequence, the tasks meeting only at the end: at each step the fused cell pass
/// row by row, then, past the first step, the rows' product against `W_hhᵀ`
/// (`product_backward`). `masks`: the steps' `[T, B]` and the recurrent `[B, H]`.
fn sequence_backward(
    dims: RecurrentDims,
    (mask, recurrent_mask): (Option<&[f32]>, Option<&[f32]>),
    tape: &GruTape,
    dout: OutputGrad,
    scratch: &mut GruScratch,
) {
    let (b, h, g3, isa) = (dims.batch, dims.hidden, gates(dims), Isa::best());
    let cell =
        |(t, row): (usize, usize), dpre_x: &mut [f32], dpre_h: &mut [f32], dh_next: &mut [f32]| {
            let at = t * b + row;
            if is_padded(mask, at) {
                dpre_x.fill(0.0);
                dpre_h.fill(0.0);
                if let Some(out) = dout.row(dims, t, row) {
                    add_into(dh_next, out);
                }
                return;
            }
            let kept = Kept {
                gates: &tape.gates[at * g3..][..g3],
                hn: &tape.hn[at * h..][..h],
                h_prev: &tape.h[at * h..][..h],
            };
            cell_backward_on(isa, kept, dout.row(dims, t, row), dh_next, (dpre_x, dpre_h));
        };
    let rows = task_rows(dims, g3);
    let w_hh_t = &scratch.w_hh_t;
    let dpre_x = StepRows::new(&mut scratch.dpre_x, b, g3);
    let dpre_h = StepRows::new(&mut scratch.dpre_h, b, g3);
    let dh_next = StepRows::new(&mut scratch.dh_next, b, h);
    // Empty without a recurrent mask.
    let d_masked = StepRows::new(&mut scratch.d_masked, b, h);
    run_row_tasks(b, rows, |task_rows| {
        let (first, n) = (task_rows.start, task_rows.len());
        // SAFETY: each task reaches its own rows: of dh_next's and d_masked's one slot for the
        // whole sequence, of each step's gradients one step at a time.
        let dh_next = unsafe { dh_next.rows(0, task_rows.clone()) };
        let mut d_masked = recurrent_mask.map(|_| unsafe { d_masked.rows(0, task_rows.clone()) });
        for t in (0..dims.steps).rev() {
            // SAFETY: as above.
            let (dx, dh) = unsafe {
                (
                    dpre_x.rows(t, task_rows.clone()),
                    dpre_h.rows(t, task_rows.clone()),
                )
            };
            let cells = dx.chunks_mut(g3).zip(dh.chunks_mut(g3));
            for (row, ((dx, dh), dn)) in cells.zip(dh_next.chunks_mut(h)).enumerate() {
                cell((t, first + row), dx, dh, dn);
            }
            if t > 0 {
                let recurrent = recurrent_mask.map(|m| &m[first * h..(first + n) * h]);
                let dpre_h = Mat::new(dh, n, g3);
                let masked = d_masked.as_deref_mut();
                product_backward(w_hh_t, rows == b, dpre_h, recurrent, dh_next, masked);
            }
        }
    });
}

/// Whether `W_hh` is packed once per pass: for every product beyond the small kernel's,
/// which would otherwise pack it again at every step.
pub fn packing_pays(dims: RecurrentDims) -> bool {
    crate::recurrent::packing_pays(dims, gates(dims))
}
