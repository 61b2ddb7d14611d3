//! What the recurrent layers (`lstm`, `gru`) share: their dims, inputs and output gradients,
//! the input projection of all steps and its gradients, the per-step recurrent product, the
//! recurrent weights' gradient over all steps, and the buffers these work in.
//!
//! A layer has G gate columns (4H for the LSTM, 3H for the GRU): `W_ih [I, G]`,
//! `W_hh [H, G]`, and gate pre-activations `[T, B, G]`, time-major.

use std::marker::PhantomData;
use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::gather::{embed_backward, gather_rows};
use crate::gemm::{
    gemm, room_for, room_for_transposed_a, Mat, MatMut, PARALLEL_MIN_MACS, SMALL_MAX_MACS,
};
use crate::lanes::{add_into, load, store, transpose_block};
use crate::packed::{gemm_packed, gemm_packed_here, PackedMat};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecurrentDims {
    pub steps: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
}

/// What a layer reads at each step.
#[derive(Clone, Copy)]
pub enum RecurrentInput<'a> {
    /// `[T, B, I]` features.
    Dense(&'a [f32]),
    /// `[T, B]` the index of the hot feature: a one-hot input, projected by a row gather.
    OneHot(&'a [u32]),
    /// `[B, I]` the same vector at every step (Keras `RepeatVector`), projected once.
    Repeated(&'a [f32]),
}

/// Which `RecurrentInput` a layer reads, for sizing its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Dense,
    OneHot,
    Repeated,
}

/// The gradient of the loss with respect to the layer's outputs.
#[derive(Clone, Copy)]
pub enum OutputGrad<'a> {
    /// `[T, B, H]`: the layer returns sequences.
    Sequence(&'a [f32]),
    /// `[B, H]`: the layer returns its last state only.
    Last(&'a [f32]),
}

impl<'a> OutputGrad<'a> {
    /// `[H]` the gradient reaching batch row `row` of step `t`'s output, if the step has one.
    pub(crate) fn row(self, dims: RecurrentDims, t: usize, row: usize) -> Option<&'a [f32]> {
        let h = dims.hidden;
        match self {
            OutputGrad::Sequence(d) => Some(&d[(t * dims.batch + row) * h..][..h]),
            OutputGrad::Last(d) if t + 1 == dims.steps => Some(&d[row * h..][..h]),
            OutputGrad::Last(_) => None,
        }
    }
}

/// Checks that a step mask, when given, is `[T, B]`: 1 for a real step, 0 for a padded one.
pub(crate) fn check_mask(dims: RecurrentDims, mask: Option<&[f32]>) {
    if let Some(mask) = mask {
        assert_eq!(mask.len(), dims.steps * dims.batch, "mask must be [T, B]");
    }
}

/// Checks that a recurrent mask, when given, is `[B, H]`, and that the tape's buffer it masks
/// the state into, of `masked_len` floats, was made for one (`[T, B, H]`).
pub(crate) fn check_recurrent_mask(dims: RecurrentDims, mask: Option<&[f32]>, masked_len: usize) {
    if let Some(mask) = mask {
        assert_eq!(
            mask.len(),
            dims.batch * dims.hidden,
            "recurrent mask must be [B, H]"
        );
        let state = dims.steps * dims.batch * dims.hidden;
        assert_eq!(
            masked_len, state,
            "the tape must be made for a recurrent mask"
        );
    }
}

/// The state a task's recurrent product reads at a step, from its rows of `h_prev`, the state
/// before the step: `h_prev` itself, or with a recurrent mask (Keras' `recurrent_dropout=`;
/// `mask` the task's rows of it) `h_prev⊙m`, written into `masked`, the task's rows of the
/// step's slot of the tape's `[T, B, H]`, where backward's `dW_hh` reads it. The state update
/// reads `h_prev` unmasked, as Keras does.
pub(crate) fn product_state<'a>(
    h_prev: &'a [f32],
    mask: Option<&[f32]>,
    masked: Option<&'a mut [f32]>,
) -> &'a [f32] {
    let Some(mask) = mask else {
        return h_prev;
    };
    let out = masked.expect("a tape made for a recurrent mask");
    for (out, (&h, &m)) in out.iter_mut().zip(h_prev.iter().zip(mask)) {
        *out = h * m;
    }
    out
}

/// Whether row `row` is padded, by a mask of rows: a step's `[B]`, or all steps' `[T, B]`
/// with `row` = t·B + r.
pub(crate) fn is_padded(step_mask: Option<&[f32]>, row: usize) -> bool {
    step_mask.is_some_and(|m| m[row] == 0.0)
}

/// 1 when the initial hidden state `h0` is all zeros, as it is for every batch of a layer
/// that is not stateful: step 0's recurrent product `0·W_hh` would add nothing, forward or
/// back.
pub(crate) fn first_step_with_state(h0: &[f32]) -> usize {
    usize::from(h0.iter().all(|&x| x == 0.0))
}

/// The fewest batch rows a task takes: fewer would leave the micro-kernel's tiles too short
/// to hide the FMA latency.
const MIN_TASK_ROWS: usize = 8;

/// How many of the batch rows each task takes, their share of every step's recurrent product
/// and their cell passes together. A row depends on no other row through the sequence,
/// forward or back, so the tasks meet only when it ends (each reaching its rows of the
/// time-major buffers through `StepRows`). One task for all rows on one thread, or when
/// the step's product is below `PARALLEL_MIN_MACS`; else the rows cut into as many tasks as
/// the pool has threads, of `MIN_TASK_ROWS` or more each (but the last). Every element is
/// computed the same way however the rows are cut, so the bits do not depend on the number
/// of threads. A batch too small to cut (fewer than 16 rows on two threads) keeps one task,
/// whose products spread their panels over the threads instead (`spread`).
pub(crate) fn task_rows(dims: RecurrentDims, g: usize) -> usize {
    let b = dims.batch;
    if b * dims.hidden * g < PARALLEL_MIN_MACS {
        return b;
    }
    let tasks = rayon::current_num_threads().min(b / MIN_TASK_ROWS).max(1);
    b.div_ceil(tasks)
}

/// Runs `task` on each task's rows, `rows` a task (`task_rows`) of the batch's `b`: on the
/// calling thread when one task holds them all, else on rayon's threads.
pub(crate) fn run_row_tasks(b: usize, rows: usize, task: impl Fn(Range<usize>) + Sync) {
    let task_rows = |task: usize| task * rows..((task + 1) * rows).min(b);
    if rows >= b {
        task(0..b);
    } else {
        (0..b.div_ceil(rows)).into_par_iter().for_each(|index| {
            let _ftz = FlushDenormals::new();
            task(task_rows(index))
        });
    }
}

/// From this many floats of gate gradients, a layer's `dW_hh` and bias sums run side by side
/// (`join_if`); below, a second thread's wake-up cost more than it saved (index, two threads:
/// 3 % slower).
pub(crate) const SIDE_BY_SIDE_MIN_FLOATS: usize = 1 << 15;

/// `a` and `b` side by side on rayon's threads when `parallel`, else one after the other.
pub(crate) fn join_if(parallel: bool, a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    if parallel {
        rayon::join(a, b);
    } else {
        a();
        b();
    }
}

/// A buffer of slots of `[B, W]` (the steps of a time-major `[T, B, W]`, or one slot of a
/// `[B, W]` carried from step to step) handed to the tasks of `task_rows` when each runs a
/// whole sequence for its rows: a task's rows of successive steps are not contiguous, so the
/// tasks cannot hold `&mut` chunks of it, and reach their rows of a slot through `rows`.
pub(crate) struct StepRows<'a> {
    data: *mut f32,
    len: usize,
    batch: usize,
    width: usize,
    buffer: PhantomData<&'a mut [f32]>,
}

// SAFETY: the tasks sharing it reach disjoint rows (see `rows`).
unsafe impl Send for StepRows<'_> {}
unsafe impl Sync for StepRows<'_> {}

impl<'a> StepRows<'a> {
    pub(crate) fn new(buffer: &'a mut [f32], batch: usize, width: usize) -> StepRows<'a> {
        StepRows {
            data: buffer.as_mut_ptr(),
            len: buffer.len(),
            batch,
            width,
            buffer: PhantomData,
        }
    }

    /// Rows `rows` of slot `slot`.
    ///
    /// # Safety
    /// While the slice lives, no other slice of this buffer may overlap it: each task asks only
    /// for its own rows, and for each slot once at a time.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn rows(&self, slot: usize, rows: Range<usize>) -> &'a mut [f32] {
        let start = slot
            .checked_mul(self.batch)
            .and_then(|row| (row + rows.start).checked_mul(self.width));
        let len = rows.len() * self.width;
        let inside = start.is_some_and(|start| start + len <= self.len);
        assert!(rows.end <= self.batch && inside, "rows past the buffer");
        let start = start.unwrap_or_default();
        // SAFETY: inside the buffer, borrowed mutably for 'a, and not overlapped (the
        // caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.data.add(start), len) }
    }
}

/// Whether `W_hh [H, G]` is packed once per pass: for every product beyond the small
/// kernel's, which would otherwise pack it again at every step.
pub(crate) fn packing_pays(dims: RecurrentDims, g: usize) -> bool {
    dims.batch * dims.hidden * g > SMALL_MAX_MACS
}

/// Floats of room `project_input` needs for packing `W_ih`.
pub(crate) fn input_room(dims: RecurrentDims, g: usize, input: InputKind) -> usize {
    let (t, b, i) = (dims.steps, dims.batch, dims.input);
    match input {
        InputKind::Dense => room_for(t * b, i, g, true),
        InputKind::OneHot => 0,
        InputKind::Repeated => room_for(b, i, g, true),
    }
}

/// Fills `gates [T, B, G]` with the input projection `x·W_ih` of every step.
pub(crate) fn project_input(
    dims: RecurrentDims,
    input: RecurrentInput,
    w_ih: Mat,
    gates: &mut [f32],
    room: &mut [f32],
) {
    let (t, b, i, g) = (dims.steps, dims.batch, dims.input, w_ih.cols);
    match input {
        RecurrentInput::Dense(x) => {
            assert_eq!(x.len(), t * b * i, "input must be [T, B, I]");
            gemm(
                &mut MatMut::new(gates, t * b, g),
                Mat::new(x, t * b, i),
                w_ih,
                false,
                room,
            );
        }
        RecurrentInput::OneHot(index) => {
            assert_eq!(index.len(), t * b, "one-hot input must be [T, B] indices");
            gather_rows(w_ih.data, g, index, gates);
        }
        RecurrentInput::Repeated(x) => {
            assert_eq!(x.len(), b * i, "repeated input must be [B, I]");
            let (first, rest) = gates.split_at_mut(b * g);
            let x = Mat::new(x, b, i);
            gemm(&mut MatMut::new(first, b, g), x, w_ih, false, room);
            for step in rest.chunks_exact_mut(b * g) {
                step.copy_from_slice(first);
            }
        }
    }
}

/// `C = h_prev·W_hh`, or `C += h_prev·W_hh` when `accumulate`, against `W_hh` packed when
/// the tape packed it: a task's rows (`task_rows`), on the calling thread, or with `spread`
/// (one task holds all rows) on the pool's threads by panels, as large products are.
pub(crate) fn recurrent_product(
    c: &mut MatMut,
    h_prev: Mat,
    w_hh: &[f32],
    packed: Option<&PackedMat>,
    (accumulate, spread): (bool, bool),
) {
    match packed {
        Some(packed) => {
            let w_hh = packed.with(Mat::new(w_hh, h_prev.cols, c.cols));
            if spread {
                gemm_packed(c, h_prev, w_hh, accumulate)
            } else {
                gemm_packed_here(c, h_prev, w_hh, accumulate)
            }
        }
        None => {
            let w_hh = Mat::new(w_hh, h_prev.cols, c.cols);
            gemm(c, h_prev, w_hh, accumulate, &mut [])
        }
    }
}

/// `W_hhᵀ [G, H]` for backward's per-step product, packed or as a plain transposed copy.
pub(crate) enum StepMatrix {
    Packed(PackedMat),
    Plain(Vec<f32>),
}

impl StepMatrix {
    pub(crate) fn new(dims: RecurrentDims, g: usize) -> StepMatrix {
        if packing_pays(dims, g) {
            StepMatrix::Packed(PackedMat::new(g, dims.hidden))
        } else {
            StepMatrix::Plain(vec![0.0; dims.hidden * g])
        }
    }

    /// Floats `new` allocates, counted without allocating.
    pub(crate) fn floats_for(dims: RecurrentDims, g: usize) -> usize {
        if packing_pays(dims, g) {
            PackedMat::floats_for(g, dims.hidden)
        } else {
            dims.hidden * g
        }
    }

    pub(crate) fn floats(&self) -> usize {
        match self {
            StepMatrix::Packed(packed) => packed.floats(),
            StepMatrix::Plain(plain) => plain.len(),
        }
    }

    /// Fills with `srcᵀ` for `src [rows, cols]`.
    pub(crate) fn fill_transposed(&mut self, src: &[f32], rows: usize, cols: usize) {
        match self {
            StepMatrix::Packed(packed) => packed.pack(Mat::new(src, rows, cols).t()),
            StepMatrix::Plain(plain) => transpose_into(src, rows, cols, plain),
        }
    }

    /// `C = A·self`, or `C += A·self` when `accumulate`: a task's rows (`task_rows`), on
    /// the calling thread, or with `spread` as `recurrent_product`'s.
    pub(crate) fn multiply(&self, c: &mut MatMut, a: Mat, (accumulate, spread): (bool, bool)) {
        match self {
            StepMatrix::Packed(packed) if spread => gemm_packed(c, a, packed.whole(), accumulate),
            StepMatrix::Packed(packed) => gemm_packed_here(c, a, packed.whole(), accumulate),
            // Never beyond the small kernel: larger products are `Packed`.
            StepMatrix::Plain(plain) => {
                let b = Mat::new(plain, a.cols, c.cols);
                gemm(c, a, b, accumulate, &mut [])
            }
        }
    }
}

/// What the weight and input gradients' products work in.
pub(crate) struct GradRoom {
    /// `[B, G]` gate gradients summed over steps, for a repeated input.
    dz_sum: Vec<f32>,
    /// Room for packing B and copying A (`gemm::room_for_transposed_a`).
    room: Vec<f32>,
}

impl GradRoom {
    pub(crate) fn new(dims: RecurrentDims, g: usize, input: InputKind) -> GradRoom {
        GradRoom {
            dz_sum: vec![0.0; dims.batch * g],
            room: vec![0.0; GradRoom::room_len(dims, g, input)],
        }
    }

    /// Floats `new` allocates, counted without allocating.
    pub(crate) fn floats_for(dims: RecurrentDims, g: usize, input: InputKind) -> usize {
        dims.batch * g + GradRoom::room_len(dims, g, input)
    }

    pub(crate) fn floats(&self) -> usize {
        self.dz_sum.len() + self.room.len()
    }

    fn room_len(dims: RecurrentDims, g: usize, input: InputKind) -> usize {
        let (t, b, i, h) = (dims.steps, dims.batch, dims.input, dims.hidden);
        let input_room = match input {
            InputKind::Dense => {
                room_for_transposed_a(i, t * b, g, true).max(room_for(t * b, g, i, false))
            }
            InputKind::OneHot => 0,
            InputKind::Repeated => {
                room_for_transposed_a(i, b, g, true).max(room_for(b, g, i, false))
            }
        };
        input_room.max(room_for_transposed_a(h, t * b, g, true))
    }
}

/// `dW_hh [H, G] = Σ_t h_{t-1}ᵀ·dz_t` for the states the steps' products read, `h_prev`
/// (slot t of its first `T` slots `[B, H]` read by step t: the tape's `h`, or its masked
/// copy), and the recurrent product's gradients `dz [T, B, G]`.
pub(crate) fn recurrent_weight_grad(
    dims: RecurrentDims,
    g: usize,
    h_prev: &[f32],
    dz: &[f32],
    dw_hh: &mut [f32],
    work: &mut GradRoom,
) {
    let (t, b, hidden) = (dims.steps, dims.batch, dims.hidden);
    // Steps whose h_{t-1} is zero add nothing to dW_hh.
    let skip = first_step_with_state(&h_prev[..b * hidden]) * b;
    let rows = t * b - skip;
    let dz = Mat::new(&dz[skip * g..], rows, g);
    let h_prev = Mat::new(&h_prev[skip * hidden..t * b * hidden], rows, hidden);
    let dw_hh = &mut MatMut::new(dw_hh, hidden, g);
    gemm(dw_hh, h_prev.t(), dz, false, &mut work.room);
}

/// The gradients of the input projection from those of its output, `dz [T, B, G]`:
/// `dW_ih [I, G]`, and the input gradient into `dx` when given (`[T, B, I]` for a dense
/// input, `[B, I]` for a repeated one; one-hot inputs have none).
pub(crate) fn input_backward(
    dims: RecurrentDims,
    input: RecurrentInput,
    w_ih: Mat,
    dz: &[f32],
    work: &mut GradRoom,
    dw_ih: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (t, b, i, g) = (dims.steps, dims.batch, dims.input, w_ih.cols);
    let w_ih_t = w_ih.t();
    match input {
        RecurrentInput::Dense(x) => {
            let dz = Mat::new(dz, t * b, g);
            let room = &mut work.room;
            let x_t = Mat::new(x, t * b, i).t();
            gemm(&mut MatMut::new(dw_ih, i, g), x_t, dz, false, room);
            if let Some(dx) = dx {
                gemm(&mut MatMut::new(dx, t * b, i), dz, w_ih_t, false, room);
            }
        }
        // A one-hot input's `W_ih` is read as an embedding's table is.
        RecurrentInput::OneHot(index) => embed_backward(dz, g, index, dw_ih),
        RecurrentInput::Repeated(x) => {
            // The same projection fed every step, so its gradient is the sum over steps.
            work.dz_sum.fill(0.0);
            for step in dz.chunks_exact(b * g) {
                add_into(&mut work.dz_sum, step);
            }
            let dz = Mat::new(&work.dz_sum, b, g);
            let room = &mut work.room;
            let x_t = Mat::new(x, b, i).t();
            gemm(&mut MatMut::new(dw_ih, i, g), x_t, dz, false, room);
            if let Some(dx) = dx {
                gemm(&mut MatMut::new(dx, b, i), dz, w_ih_t, false, room);
            }
        }
    }
}

/// `dst [cols, rows] = srcᵀ` for `src [rows, cols]`, in 8×8 blocks moved as vectors; the
/// rows and columns past the last whole block one by one.
pub fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    let (rows8, cols8) = (rows / 8 * 8, cols / 8 * 8);
    for r in (0..rows8).step_by(8) {
        for c in (0..cols8).step_by(8) {
            transpose_block(src, (r * cols + c, cols), dst, (c * rows + r, rows));
        }
    }
    for r in 0..rows {
        let first = if r < rows8 { cols8 } else { 0 };
        for c in first..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

/// `sums[j] = Σ_r m[r, j]` for `m [R, width]`, summed from zero in row order. Eight vectors of
/// columns at a time are summed down the rows in registers: eight independent chains of
/// additions, where summing row by row into `sums` stored and reloaded every vector (the
/// encoder-decoder's bias gradients took 2 % of its step). Blocks of 64 columns are spread
/// over rayon's threads from 2^15 floats of `m`; each column is still summed by one thread in
/// row order.
pub fn column_sums(m: &[f32], width: usize, sums: &mut [f32]) {
    const BLOCK: usize = 8 * 8;
    const PARALLEL_MIN_FLOATS: usize = 1 << 15;
    assert!(sums.len() >= width, "column sums: room for {width} sums");
    let block = |(index, out): (usize, &mut [f32])| block_sums(m, width, index * BLOCK, out);
    let sums = &mut sums[..width];
    if m.len() >= PARALLEL_MIN_FLOATS {
        sums.par_chunks_mut(BLOCK).enumerate().for_each(|task| {
            let _ftz = FlushDenormals::new();
            block(task)
        });
    } else {
        sums.chunks_mut(BLOCK).enumerate().for_each(block);
    }
}

/// `out [cols]` (up to 64) the sums of `m [R, width]`'s columns `start..start + cols`.
fn block_sums(m: &[f32], width: usize, start: usize, out: &mut [f32]) {
    let cols = out.len();
    let lanes = |v: usize| (cols.saturating_sub(8 * v)).min(8);
    let mut acc = [f32x8::ZERO; 8];
    for row in m.chunks_exact(width) {
        for (v, acc) in acc.iter_mut().enumerate().filter(|&(v, _)| lanes(v) > 0) {
            *acc += load(row, start + 8 * v, lanes(v));
        }
    }
    for (v, &acc) in acc.iter().enumerate().filter(|&(v, _)| lanes(v) > 0) {
        store(out, 8 * v, lanes(v), acc);
    }
}
