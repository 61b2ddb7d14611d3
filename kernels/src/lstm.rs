//! The LSTM layer over a whole sequence, forward and backward (backprop through time).
//!
//! Dims: T steps, B batch rows, I inputs, H hidden units; gates `[4H]` in the order i, f, g, o
//! (Keras and PyTorch). Sequences are time-major, `[T, B, ·]`, so each step is one
//! contiguous `[B, ·]` block. Weights: `W_ih [I, 4H]`, `W_hh [H, 4H]`, one bias `[4H]`.
//!
//! Forward, the way fast CPU LSTMs do it:
//! 1. the input projection of all steps at once: one GEMM `[T·B, I]·[I, 4H]`, or a row
//!    gather from `W_ih` for one-hot input, or one `[B, I]·[I, 4H]` GEMM copied to every step
//!    for a repeated vector;
//! 2. per step, the recurrent GEMM `h_{t-1}·W_hh` accumulated onto it, then one fused pass
//!    (`cell_forward`) that adds the bias, applies sigmoid/tanh, updates c and h, and stores
//!    what backward needs.
//!
//! With a recurrent mask `m [B, H]` (Keras' `recurrent_dropout=`, one mask a sequence) the
//! product reads `h_{t-1}⊙m`, kept in the tape for backward's `dW_hh`; c and h are updated
//! as without it, as Keras 3's `LSTMCell` masks only what enters `recurrent_kernel`. One mask
//! serves all four gates, as in Keras 3's first releases (recent ones draw one a gate).
//!
//! Backward runs t = T-1 down to 0: the fused `cell_backward` gives the gate gradients, one
//! small GEMM per step carries the gradient into `h_{t-1}` (against `W_hh` transposed once
//! per call), and the weight gradients of all steps are single GEMMs at the end. They are
//! written, not added to: a caller need not zero them, and a rank-1 update at batch 1 need
//! not read them.
//!
//! On several threads the batch rows are cut into tasks (`recurrent::task_rows`), each running
//! the whole sequence for its rows, products and cell passes, forward or back: a row's state
//! depends on no other row's, so the threads meet once a pass, not once a step.
//! The cell passes run in AVX-512 where the CPU has it (`cell_forward_on`,
//! `cell_backward_on`), with the AVX2 passes' bits.
//!
//! Nothing here allocates: the tape and scratch buffers are made once per shape. The dims,
//! inputs, input projection and weight gradients the LSTM shares with the GRU are in
//! `recurrent`.

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
    check_mask, check_recurrent_mask, first_step_with_state, input_backward, input_room, is_padded,
    join_if, product_state, project_input, recurrent_product, recurrent_weight_grad, run_row_tasks,
    task_rows, GradRoom, StepMatrix, StepRows, SIDE_BY_SIDE_MIN_FLOATS,
};
pub use crate::recurrent::{column_sums, transpose_into, InputKind, OutputGrad};

/// The LSTM's dims: the recurrent layers share them.
pub type LstmDims = crate::recurrent::RecurrentDims;
/// What the layer reads at each step: the recurrent layers share it.
pub type LstmInput<'a> = crate::recurrent::RecurrentInput<'a>;

/// Gates per hidden unit: i, f, g, o.
const GATES: usize = 4;

fn gates(dims: LstmDims) -> usize {
    GATES * dims.hidden
}

pub struct LstmWeights<'a> {
    /// `[I, 4H]`.
    pub w_ih: &'a [f32],
    /// `[H, 4H]`.
    pub w_hh: &'a [f32],
    /// `[4H]`.
    pub bias: &'a [f32],
}

/// Gradients of `LstmWeights`, written by `lstm_backward`.
pub struct LstmGrads<'a> {
    pub w_ih: &'a mut [f32],
    pub w_hh: &'a mut [f32],
    pub bias: &'a mut [f32],
}

/// What forward keeps for backward.
pub struct LstmTape {
    dims: LstmDims,
    /// `[T, B, 4H]`: gate activations i, f, g, o (pre-activations while a step runs).
    gates: Vec<f32>,
    /// `[T+1, B, H]`: slot 0 is the initial cell state, slot t+1 the state after step t.
    c: Vec<f32>,
    /// `[T+1, B, H]`: slot 0 is the initial hidden state, slot t+1 the output of step t.
    h: Vec<f32>,
    /// `[T, B, H]`: slot t is `h_{t-1}⊙m`, what step t's product read under a recurrent mask;
    /// empty for a tape made without one.
    masked_h: Vec<f32>,
    /// `[T, B, H]`: `tanh(c_t)`.
    tanh_c: Vec<f32>,
    /// `W_hh` packed for the per-step product, when the shapes make packing pay.
    w_hh_packed: Option<PackedMat>,
    /// Room for packing `W_ih` in the input projection (`gemm::room_for`).
    room: Vec<f32>,
}

impl LstmTape {
    /// A tape for these shapes; `recurrent_mask` when the passes may take a recurrent mask.
    pub fn new(dims: LstmDims, input: InputKind, recurrent_mask: bool) -> LstmTape {
        let lens = TapeLens::new(dims, input, recurrent_mask);
        LstmTape {
            dims,
            gates: vec![0.0; lens.gates],
            c: vec![0.0; lens.state],
            h: vec![0.0; lens.state],
            masked_h: vec![0.0; lens.masked_h],
            tanh_c: vec![0.0; lens.tanh_c],
            w_hh_packed: lens.packed.map(|(k, n)| PackedMat::new(k, n)),
            room: vec![0.0; lens.room],
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: LstmDims, input: InputKind, recurrent_mask: bool) -> usize {
        TapeLens::new(dims, input, recurrent_mask).floats()
    }

    fn state_len(&self) -> usize {
        self.dims.batch * self.dims.hidden
    }

    /// `[B, H]` initial hidden and cell state.
    pub fn initial_state(&self) -> (&[f32], &[f32]) {
        let n = self.state_len();
        (&self.h[..n], &self.c[..n])
    }

    /// `[B, H]` initial hidden and cell state, to set before `lstm_forward`.
    pub fn initial_state_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        let n = self.state_len();
        (&mut self.h[..n], &mut self.c[..n])
    }

    /// Makes the state after the last step the initial state: a stateful layer's next batch
    /// carries on where this one ended.
    pub fn carry_state(&mut self) {
        let n = self.state_len();
        let last = self.dims.steps * n;
        self.h.copy_within(last..last + n, 0);
        self.c.copy_within(last..last + n, 0);
    }

    /// `[B, H]` hidden and cell state after the last step.
    pub fn final_state(&self) -> (&[f32], &[f32]) {
        let n = self.state_len();
        let last = self.dims.steps * n;
        (&self.h[last..last + n], &self.c[last..last + n])
    }

    /// `[T, B, H]` the output of every step.
    pub fn outputs(&self) -> &[f32] {
        &self.h[self.state_len()..]
    }

    /// `[T, B, H]` the cell state after every step.
    pub fn cells(&self) -> &[f32] {
        &self.c[self.state_len()..]
    }

    /// `[T, B, 4H]` the activated gates.
    pub fn gates(&self) -> &[f32] {
        &self.gates
    }

    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let packed = self.w_hh_packed.as_ref().map_or(0, PackedMat::floats);
        let state = self.c.len() + self.h.len() + self.masked_h.len();
        self.gates.len() + state + self.tanh_c.len() + packed + self.room.len()
    }
}

/// The lengths of a tape's buffers, decided once for `LstmTape::new` to allocate and
/// `LstmTape::floats_for` to count.
struct TapeLens {
    gates: usize,
    /// Each of c and h.
    state: usize,
    masked_h: usize,
    tanh_c: usize,
    /// `[k, n]` of `W_hh` packed, when packing pays.
    packed: Option<(usize, usize)>,
    room: usize,
}

impl TapeLens {
    fn new(dims: LstmDims, input: InputKind, recurrent_mask: bool) -> TapeLens {
        let (t, b, h, g4) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        TapeLens {
            gates: t * b * g4,
            state: (t + 1) * b * h,
            masked_h: if recurrent_mask { t * b * h } else { 0 },
            tanh_c: t * b * h,
            packed: packing_pays(dims).then_some((h, g4)),
            room: input_room(dims, g4, input),
        }
    }

    fn floats(&self) -> usize {
        let packed = self.packed.map_or(0, |(k, n)| PackedMat::floats_for(k, n));
        self.gates + 2 * self.state + self.masked_h + self.tanh_c + packed + self.room
    }
}

/// Buffers backward works in.
pub struct LstmScratch {
    /// `[T, B, 4H]` gradients of the gate pre-activations.
    dgates: Vec<f32>,
    /// `W_hhᵀ [4H, H]` for the per-step product.
    w_hh_t: StepMatrix,
    /// `[B, H]` gradients flowing into the previous step's h and c.
    dh_next: Vec<f32>,
    dc_next: Vec<f32>,
    /// What the weight and input gradients' products work in.
    grad_room: GradRoom,
}

impl LstmScratch {
    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let state = self.dh_next.len() + self.dc_next.len();
        self.dgates.len() + self.w_hh_t.floats() + state + self.grad_room.floats()
    }

    pub fn new(dims: LstmDims, input: InputKind) -> LstmScratch {
        let (t, b, h, g4) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        LstmScratch {
            dgates: vec![0.0; t * b * g4],
            w_hh_t: StepMatrix::new(dims, g4),
            dh_next: vec![0.0; b * h],
            dc_next: vec![0.0; b * h],
            grad_room: GradRoom::new(dims, g4, input),
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: LstmDims, input: InputKind) -> usize {
        let (t, b, h, g4) = (dims.steps, dims.batch, dims.hidden, gates(dims));
        let state = 2 * b * h;
        t * b * g4
            + StepMatrix::floats_for(dims, g4)
            + state
            + GradRoom::floats_for(dims, g4, input)
    }
}

/// Runs the layer over the sequence from the initial state in the tape.
///
/// `mask [T, B]`, when given, is 1 for a real step and 0 for a padded one (Keras' masking):
/// at a padded step a row's h and c are carried unchanged from the previous step, so its
/// output there repeats the previous output and its final state is its last real step's.
///
/// `recurrent_mask [B, H]`, when given, scales `h_{t-1}` where the recurrent product reads
/// it, the same at every step (Keras' `recurrent_dropout=`); the tape must be made for it.
pub fn lstm_forward(
    input: LstmInput,
    mask: Option<&[f32]>,
    recurrent_mask: Option<&[f32]>,
    w: &LstmWeights,
    tape: &mut LstmTape,
) {
    let _ftz = FlushDenormals::new();
    let dims = tape.dims;
    check_weights(dims, w);
    let (b, h, g4) = (dims.batch, dims.hidden, gates(dims));
    let w_ih = Mat::new(w.w_ih, dims.input, g4);
    project_input(dims, input, w_ih, &mut tape.gates, &mut tape.room);
    if let Some(packed) = &mut tape.w_hh_packed {
        packed.pack(Mat::new(w.w_hh, h, g4));
    }
    check_mask(dims, mask);
    check_recurrent_mask(dims, recurrent_mask, tape.masked_h.len());
    let first = first_step_with_state(tape.initial_state().0);
    let (rows, isa) = (task_rows(dims, g4), Isa::best());
    let packed = tape.w_hh_packed.as_ref();
    let tape_rows = ForwardRows {
        gates: StepRows::new(&mut tape.gates, b, g4),
        h: StepRows::new(&mut tape.h, b, h),
        c: StepRows::new(&mut tape.c, b, h),
        tanh_c: StepRows::new(&mut tape.tanh_c, b, h),
        masked_h: StepRows::new(&mut tape.masked_h, b, h),
    };
    // A row's state depends on no other row's, so each task runs the whole sequence for its
    // rows and the tasks meet only at the end.
    run_row_tasks(b, rows, |task_rows| {
        for t in 0..dims.steps {
            // SAFETY: each task reaches its own rows of each step, one step at a time.
            let masked = recurrent_mask.is_some();
            let mut step = unsafe { tape_rows.step(t, task_rows.clone(), masked) };
            // Masked at every step, the skipped first one too: backward's dW_hh reads them all.
            let mask_rows = recurrent_mask.map(|m| &m[task_rows.start * h..task_rows.end * h]);
            let masked = step.masked_h.as_deref_mut();
            let product_in = product_state(step.h_prev, mask_rows, masked);
            if t >= first {
                let c = &mut MatMut::new(step.gates, task_rows.len(), g4);
                let how = (true, rows == b);
                recurrent_product(
                    c,
                    Mat::new(product_in, task_rows.len(), h),
                    w.w_hh,
                    packed,
                    how,
                );
            }
            let cells = step.gates.chunks_mut(g4).zip(step.c_prev.chunks(h));
            let cells = cells.zip(step.c_next.chunks_mut(h));
            let outputs = step.h_next.chunks_mut(h).zip(step.tanh_c.chunks_mut(h));
            for (((z, cp), c), (hn, tc)) in cells.zip(outputs) {
                cell_forward_on(isa, z, w.bias, cp, c, (hn, tc));
            }
            if let Some(mask) = mask {
                carry_padded_rows(&mask[t * b + task_rows.start..][..task_rows.len()], h, step);
            }
        }
    });
}

/// The tape's buffers as the tasks of `lstm_forward` reach them, each its own rows.
struct ForwardRows<'a> {
    gates: StepRows<'a>,
    h: StepRows<'a>,
    c: StepRows<'a>,
    tanh_c: StepRows<'a>,
    masked_h: StepRows<'a>,
}

/// A task's rows of one step forward.
struct ForwardStep<'a> {
    gates: &'a mut [f32],
    h_prev: &'a mut [f32],
    h_next: &'a mut [f32],
    c_prev: &'a mut [f32],
    c_next: &'a mut [f32],
    tanh_c: &'a mut [f32],
    /// Where `h_prev⊙m` goes under a recurrent mask: `None` without one.
    masked_h: Option<&'a mut [f32]>,
}

impl<'a> ForwardRows<'a> {
    /// Rows `rows` of step `t`: slot t of the gates, `tanh(c)` and, when `masked` (a recurrent
    /// mask is given), the masked state; slots t and t + 1 of h and c.
    ///
    /// # Safety
    /// As `StepRows::rows`: no other task reaches these rows, and this task no other step
    /// while the slices live.
    unsafe fn step(&self, t: usize, rows: Range<usize>, masked: bool) -> ForwardStep<'a> {
        // SAFETY: the caller's; slots t and t + 1 of one buffer do not overlap.
        unsafe {
            ForwardStep {
                gates: self.gates.rows(t, rows.clone()),
                h_prev: self.h.rows(t, rows.clone()),
                h_next: self.h.rows(t + 1, rows.clone()),
                c_prev: self.c.rows(t, rows.clone()),
                c_next: self.c.rows(t + 1, rows.clone()),
                tanh_c: self.tanh_c.rows(t, rows.clone()),
                masked_h: masked.then(|| self.masked_h.rows(t, rows)),
            }
        }
    }
}

/// Copies a task's h and c of the previous step over the rows `step_mask` (the task's rows of
/// the step) marks padded. Computing a padded row and then overwriting it keeps the fused
/// pass free of branches; its gates stay in the tape but backward sends them no gradient.
fn carry_padded_rows(step_mask: &[f32], h: usize, step: ForwardStep) {
    for (row, _) in step_mask.iter().enumerate().filter(|(_, &m)| m == 0.0) {
        let at = row * h..(row + 1) * h;
        step.h_next[at.clone()].copy_from_slice(&step.h_prev[at.clone()]);
        step.c_next[at.clone()].copy_from_slice(&step.c_prev[at]);
    }
}

fn check_weights(dims: LstmDims, w: &LstmWeights) {
    let g4 = gates(dims);
    assert_eq!(w.w_ih.len(), dims.input * g4, "W_ih must be [I, 4H]");
    assert_eq!(w.w_hh.len(), dims.hidden * g4, "W_hh must be [H, 4H]");
    assert_eq!(w.bias.len(), g4, "bias must be [4H]");
}

/// `cell_forward` on a given instruction set, which must run here. The cell pass is bound by
/// its sigmoids' and tanhs' arithmetic, and AVX-512 does it for 16 lanes at once, in 32
/// registers where AVX2's 16 spill.
pub fn cell_forward_on(
    isa: Isa,
    z: &mut [f32],
    bias: &[f32],
    c_prev: &[f32],
    c: &mut [f32],
    (h, tanh_c): (&mut [f32], &mut [f32]),
) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    match isa {
        Isa::Avx2 => cell_forward(z, bias, c_prev, c, h, tanh_c),
        // SAFETY: asserted above that the CPU has AVX-512F.
        Isa::Avx512 => unsafe { cell_forward_avx512(z, bias, c_prev, c, h, tanh_c) },
    }
}

/// `cell_forward` 16 lanes at a time: the same operations, each rounded once, in the same
/// order, so the same bits.
#[target_feature(enable = "avx512f")]
fn cell_forward_avx512(
    z: &mut [f32],
    bias: &[f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    tanh_c: &mut [f32],
) {
    let hidden = c.len();
    assert!(z.len() >= GATES * hidden && bias.len() >= GATES * hidden);
    assert!(c_prev.len() >= hidden && h.len() >= hidden && tanh_c.len() >= hidden);
    for j in (0..hidden).step_by(16) {
        let n = 16.min(hidden - j);
        let mask: __mmask16 = if n == 16 { u16::MAX } else { (1 << n) - 1 };
        // SAFETY: lanes j..j + n of each row lie in its slice (asserted above); masked lanes
        // are neither read nor written.
        unsafe {
            let load = |s: &[f32], at: usize| _mm512_maskz_loadu_ps(mask, s.as_ptr().add(at));
            let pre = |gate: usize| {
                let at = gate * hidden + j;
                _mm512_add_ps(load(z, at), load(bias, at))
            };
            let (i, f, g, o) = (
                sigmoid16(pre(0)),
                sigmoid16(pre(1)),
                tanh16(pre(2)),
                sigmoid16(pre(3)),
            );
            let c_new = _mm512_fmadd_ps(f, load(c_prev, j), _mm512_mul_ps(i, g));
            let tc = tanh16(c_new);
            for (gate, value) in [i, f, g, o].into_iter().enumerate() {
                _mm512_mask_storeu_ps(z.as_mut_ptr().add(gate * hidden + j), mask, value);
            }
            _mm512_mask_storeu_ps(c.as_mut_ptr().add(j), mask, c_new);
            _mm512_mask_storeu_ps(tanh_c.as_mut_ptr().add(j), mask, tc);
            _mm512_mask_storeu_ps(h.as_mut_ptr().add(j), mask, _mm512_mul_ps(o, tc));
        }
    }
}

/// One row of one step: `z [4H]` holds the pre-activations without bias on entry and the
/// activated gates on exit; writes `c`, `h` and `tanh(c)` for this row.
#[inline(always)]
fn cell_forward(
    z: &mut [f32],
    bias: &[f32],
    c_prev: &[f32],
    c: &mut [f32],
    h: &mut [f32],
    tanh_c: &mut [f32],
) {
    let hidden = c.len();
    for j in (0..hidden).step_by(8) {
        let n = 8.min(hidden - j);
        let pre = |gate: usize| load(z, gate * hidden + j, n) + load(bias, gate * hidden + j, n);
        let (i, f, g, o) = (
            sigmoid8(pre(0)),
            sigmoid8(pre(1)),
            tanh8(pre(2)),
            sigmoid8(pre(3)),
        );
        let c_new = f.mul_add(load(c_prev, j, n), i * g);
        let tc = tanh8(c_new);
        for (gate, value) in [i, f, g, o].into_iter().enumerate() {
            store(z, gate * hidden + j, n, value);
        }
        store(c, j, n, c_new);
        store(tanh_c, j, n, tc);
        store(h, j, n, o * tc);
    }
}

/// What forward kept for one row of one step: the gates `[4H]`, `c_{t-1}` and `tanh(c_t)`.
#[derive(Clone, Copy)]
pub struct Kept<'a> {
    pub gates: &'a [f32],
    pub c_prev: &'a [f32],
    pub tanh_c: &'a [f32],
}

/// `cell_backward` on a given instruction set, which must run here.
pub fn cell_backward_on(isa: Isa, kept: Kept, dh: CellDh, dc_next: &mut [f32], dz: &mut [f32]) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    match isa {
        Isa::Avx2 => cell_backward(kept, dh, dc_next, dz),
        // SAFETY: asserted above that the CPU has AVX-512F.
        Isa::Avx512 => unsafe { cell_backward_avx512(kept, dh, dc_next, dz) },
    }
}

/// `cell_backward` 16 lanes at a time: the same operations, each rounded once, in the same
/// order, so the same bits.
#[target_feature(enable = "avx512f")]
fn cell_backward_avx512(kept: Kept, dh: CellDh, dc_next: &mut [f32], dz: &mut [f32]) {
    let hidden = kept.c_prev.len();
    assert!(kept.gates.len() >= GATES * hidden && dz.len() >= GATES * hidden);
    assert!(kept.tanh_c.len() >= hidden && dc_next.len() >= hidden && dh.next.len() >= hidden);
    assert!(dh.out.is_none_or(|out| out.len() >= hidden));
    let one = _mm512_set1_ps(1.0);
    for j in (0..hidden).step_by(16) {
        let n = 16.min(hidden - j);
        let mask: __mmask16 = if n == 16 { u16::MAX } else { (1 << n) - 1 };
        // SAFETY: lanes j..j + n of each row lie in its slice (asserted above); masked lanes
        // are neither read nor written.
        unsafe {
            let load = |s: &[f32], at: usize| _mm512_maskz_loadu_ps(mask, s.as_ptr().add(at));
            let store = |s: &mut [f32], at: usize, v| {
                _mm512_mask_storeu_ps(s.as_mut_ptr().add(at), mask, v)
            };
            let (mul, sub) = (_mm512_mul_ps, _mm512_sub_ps);
            let gate = |k: usize| load(kept.gates, k * hidden + j);
            let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
            let tc = load(kept.tanh_c, j);
            let dh = match dh.out {
                Some(out) => _mm512_add_ps(load(dh.next, j), load(out, j)),
                None => load(dh.next, j),
            };
            let dc = _mm512_fmadd_ps(mul(dh, o), sub(one, mul(tc, tc)), load(dc_next, j));
            store(dz, j, mul(mul(mul(dc, g), i), sub(one, i)));
            let dc_c = mul(dc, load(kept.c_prev, j));
            store(dz, hidden + j, mul(mul(dc_c, f), sub(one, f)));
            store(dz, 2 * hidden + j, mul(mul(dc, i), sub(one, mul(g, g))));
            store(dz, 3 * hidden + j, mul(mul(mul(dh, tc), o), sub(one, o)));
            store(dc_next, j, mul(dc, f));
        }
    }
}

/// One row of one step, backward: from the gradient reaching h (`dh_out + dh_next`) and c
/// (`dc_next`), the gate pre-activation gradients `dz [4H]`; `dc_next` becomes the gradient
/// for the previous step's c.
#[inline(always)]
fn cell_backward(kept: Kept, dh: CellDh, dc_next: &mut [f32], dz: &mut [f32]) {
    let Kept {
        gates,
        c_prev,
        tanh_c,
    } = kept;
    let hidden = c_prev.len();
    let one = f32x8::ONE;
    for j in (0..hidden).step_by(8) {
        let n = 8.min(hidden - j);
        let gate = |k: usize| load(gates, k * hidden + j, n);
        let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
        let tc = load(tanh_c, j, n);
        let dh = dh.at(j, n);
        let dc = (dh * o).mul_add(one - tc * tc, load(dc_next, j, n));
        store(dz, j, n, dc * g * i * (one - i));
        store(dz, hidden + j, n, dc * load(c_prev, j, n) * f * (one - f));
        store(dz, 2 * hidden + j, n, dc * i * (one - g * g));
        store(dz, 3 * hidden + j, n, dh * tc * o * (one - o));
        store(dc_next, j, n, dc * f);
    }
}

/// The gradient reaching one row's h: from the step's output, if it has one, plus from the
/// next step.
#[derive(Clone, Copy)]
pub struct CellDh<'a> {
    pub out: Option<&'a [f32]>,
    pub next: &'a [f32],
}

impl CellDh<'_> {
    #[inline(always)]
    fn at(&self, j: usize, n: usize) -> f32x8 {
        let next = load(self.next, j, n);
        match self.out {
            Some(out) => next + load(out, j, n),
            None => next,
        }
    }
}

/// Backprop through time over the sequence `lstm_forward` last ran, with the same `mask`
/// and `recurrent_mask`.
/// Writes the weight gradients into `grads`, and writes the input gradient into `dx` when
/// given (`[T, B, I]` for a dense input, `[B, I]` for a repeated one; one-hot inputs have
/// none). The initial state is a constant: gradients do not flow past the start of the
/// sequence. At a padded step the gradients of h and c pass straight to the previous step,
/// and the step's gates and input get none.
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward(
    input: LstmInput,
    mask: Option<&[f32]>,
    recurrent_mask: Option<&[f32]>,
    w: &LstmWeights,
    tape: &LstmTape,
    dout: OutputGrad,
    scratch: &mut LstmScratch,
    grads: LstmGrads,
    dx: Option<&mut [f32]>,
) {
    let _ftz = FlushDenormals::new();
    let dims = tape.dims;
    check_weights(dims, w);
    check_mask(dims, mask);
    check_recurrent_mask(dims, recurrent_mask, tape.masked_h.len());
    let (t_len, h, g4) = (dims.steps, dims.hidden, gates(dims));
    if t_len > 1 {
        // Only steps after the first pass a gradient back through W_hh.
        scratch.w_hh_t.fill_transposed(w.w_hh, h, g4);
    }
    scratch.dh_next.fill(0.0);
    scratch.dc_next.fill(0.0);
    let masks = Masks {
        step: mask,
        recurrent: recurrent_mask,
    };
    sequence_backward(dims, masks, tape, dout, scratch);
    let h_prev = match recurrent_mask {
        Some(_) => &tape.masked_h,
        None => &tape.h,
    };
    let (room, dgates) = (&mut scratch.grad_room, &scratch.dgates);
    // Side by side, so that the sums need not wait for the product's threads to finish.
    join_if(
        dgates.len() >= SIDE_BY_SIDE_MIN_FLOATS,
        || recurrent_weight_grad(dims, g4, h_prev, dgates, grads.w_hh, room),
        || {
            let _ftz = FlushDenormals::new();
            column_sums(dgates, g4, grads.bias)
        },
    );
    let w_ih = Mat::new(w.w_ih, dims.input, g4);
    input_backward(dims, input, w_ih, &scratch.dgates, room, grads.w_ih, dx);
}

/// Under a recurrent mask `m [B, H]` the product read `h_{t-1}⊙m`, so what it passes into
/// `h_{t-1}` is `(dz·W_hhᵀ)⊙m`: scales the rows of `dh_next` the product wrote, some rows
/// of the batch and their masks' rows. A padded row's `dz` is zero, and its `dh_next` the
/// gradient it carries past the step unmasked, so it is left as it is.
fn mask_product_gradient(
    h: usize,
    step_mask: Option<&[f32]>,
    recurrent_mask: &[f32],
    dh_next: &mut [f32],
) {
    let rows = dh_next
        .chunks_exact_mut(h)
        .zip(recurrent_mask.chunks_exact(h));
    for (row, (dh, m)) in rows.enumerate() {
        if !is_padded(step_mask, row) {
            dh.iter_mut().zip(m).for_each(|(dh, &m)| *dh *= m);
        }
    }
}

/// The sequence's masks: `step [T, B]` (padded steps) and the recurrent mask `[B, H]`.
#[derive(Clone, Copy)]
struct Masks<'a> {
    step: Option<&'a [f32]>,
    recurrent: Option<&'a [f32]>,
}

/// Backprop through every step, t = T-1 down to 0, each task's rows (`task_rows`) at once
/// for the whole sequence: a row's gradients depend on no other row's, so the tasks meet only
/// at the end. At each step, the fused cell pass row by row, then, past the first step, the
/// rows' product against `W_hhᵀ` into `dh_next`. Without a mask the cell pass only reads
/// `dh_next`, and the product overwrites it; with one, each row leaves in `dh_next` what it
/// passes back past the weights (all of it for a padded row, nothing for a real one), and the
/// product is added to it.
fn sequence_backward(
    dims: LstmDims,
    masks: Masks,
    tape: &LstmTape,
    dout: OutputGrad,
    scratch: &mut LstmScratch,
) {
    let (b, h, g4, isa) = (dims.batch, dims.hidden, gates(dims), Isa::best());
    let cell =
        |(t, row): (usize, usize), dz: &mut [f32], dc_next: &mut [f32], dh_next: &mut [f32]| {
            let at = t * b + row;
            let out = dout.row(dims, t, row);
            let step_mask = masks.step.map(|m| &m[t * b..][..b]);
            if is_padded(step_mask, row) {
                dz.fill(0.0);
                if let Some(out) = out {
                    add_into(dh_next, out);
                }
                return;
            }
            let kept = Kept {
                gates: &tape.gates[at * g4..][..g4],
                c_prev: &tape.c[at * h..][..h],
                tanh_c: &tape.tanh_c[at * h..][..h],
            };
            cell_backward_on(isa, kept, CellDh { out, next: dh_next }, dc_next, dz);
            if step_mask.is_some() {
                dh_next.fill(0.0);
            }
        };
    let rows = task_rows(dims, g4);
    let w_hh_t = &scratch.w_hh_t;
    let dgates = StepRows::new(&mut scratch.dgates, b, g4);
    let dc_next = StepRows::new(&mut scratch.dc_next, b, h);
    let dh_next = StepRows::new(&mut scratch.dh_next, b, h);
    run_row_tasks(b, rows, |task_rows| {
        let (first, n) = (task_rows.start, task_rows.len());
        // SAFETY: each task reaches its own rows: of dc_next and dh_next's one slot for the
        // whole sequence, of each step's dz one step at a time.
        let (dc_next, dh_next) = unsafe {
            (
                dc_next.rows(0, task_rows.clone()),
                dh_next.rows(0, task_rows.clone()),
            )
        };
        for t in (0..dims.steps).rev() {
            // SAFETY: as above.
            let dz = unsafe { dgates.rows(t, task_rows.clone()) };
            let cells = dz.chunks_mut(g4).zip(dc_next.chunks_mut(h));
            for (row, ((dz, dc), dh)) in cells.zip(dh_next.chunks_mut(h)).enumerate() {
                cell((t, first + row), dz, dc, dh);
            }
            if t == 0 {
                continue;
            }
            let product = &mut MatMut::new(dh_next, n, h);
            let how = (masks.step.is_some(), rows == b);
            w_hh_t.multiply(product, Mat::new(dz, n, g4), how);
            if let Some(recurrent) = masks.recurrent {
                let step_mask = masks.step.map(|m| &m[t * b + first..][..n]);
                let recurrent = &recurrent[first * h..(first + n) * h];
                mask_product_gradient(h, step_mask, recurrent, dh_next);
            }
        }
    });
}

/// Whether `W_hh` is packed once per pass: for every product beyond the small kernel's,
/// which would otherwise pack it again at every step.
pub fn packing_pays(dims: LstmDims) -> bool {
    crate::recurrent::packing_pays(dims, gates(dims))
}
