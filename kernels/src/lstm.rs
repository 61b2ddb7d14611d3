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
//! Backward runs t = T-1 down to 0: the fused `cell_backward` gives the gate gradients, one
//! small GEMM per step carries the gradient into `h_{t-1}` (against `W_hh` transposed once
//! per call), and the weight gradients of all steps are single GEMMs at the end. They are
//! written, not added to: a caller need not zero them, and a rank-1 update at batch 1 need
//! not read them.
//!
//! Nothing here allocates: the tape and scratch buffers are made once per shape.

use rayon::prelude::*;
use wide::f32x8;

use crate::activation::{sigmoid8, tanh8};
use crate::denormal::FlushDenormals;
use crate::gather::{gather_rows, scatter_add_rows};
use crate::gemm::{gemm, room_for, Mat, MatMut, SMALL_MAX_MACS};
use crate::lanes::{add_into, load, store, transpose_block};
use crate::packed::{gemm_packed, PackedMat};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LstmDims {
    pub steps: usize,
    pub batch: usize,
    pub input: usize,
    pub hidden: usize,
}

impl LstmDims {
    fn gates(&self) -> usize {
        4 * self.hidden
    }
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

/// What the layer reads at each step.
#[derive(Clone, Copy)]
pub enum LstmInput<'a> {
    /// `[T, B, I]` features.
    Dense(&'a [f32]),
    /// `[T, B]` the index of the hot feature: a one-hot input, projected by a row gather.
    OneHot(&'a [u32]),
    /// `[B, I]` the same vector at every step (Keras `RepeatVector`), projected once.
    Repeated(&'a [f32]),
}

/// Which `LstmInput` a layer reads, for sizing its buffers.
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

/// What forward keeps for backward.
pub struct LstmTape {
    dims: LstmDims,
    /// `[T, B, 4H]`: gate activations i, f, g, o (pre-activations while a step runs).
    gates: Vec<f32>,
    /// `[T+1, B, H]`: slot 0 is the initial cell state, slot t+1 the state after step t.
    c: Vec<f32>,
    /// `[T+1, B, H]`: slot 0 is the initial hidden state, slot t+1 the output of step t.
    h: Vec<f32>,
    /// `[T, B, H]`: `tanh(c_t)`.
    tanh_c: Vec<f32>,
    /// `W_hh` packed for the per-step product, when the shapes make packing pay.
    w_hh_packed: Option<PackedMat>,
    /// Room for packing `W_ih` in the input projection (`gemm::room_for`).
    room: Vec<f32>,
}

impl LstmTape {
    pub fn new(dims: LstmDims, input: InputKind) -> LstmTape {
        let lens = TapeLens::new(dims, input);
        LstmTape {
            dims,
            gates: vec![0.0; lens.gates],
            c: vec![0.0; lens.state],
            h: vec![0.0; lens.state],
            tanh_c: vec![0.0; lens.tanh_c],
            w_hh_packed: lens.packed.map(|(k, n)| PackedMat::new(k, n)),
            room: vec![0.0; lens.room],
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: LstmDims, input: InputKind) -> usize {
        TapeLens::new(dims, input).floats()
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

    /// `[T, B, 4H]` the activated gates.
    pub fn gates(&self) -> &[f32] {
        &self.gates
    }

    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let packed = self.w_hh_packed.as_ref().map_or(0, PackedMat::floats);
        let buffers = self.gates.len() + self.c.len() + self.h.len() + self.tanh_c.len();
        buffers + packed + self.room.len()
    }
}

/// The lengths of a tape's buffers, decided once for `LstmTape::new` to allocate and
/// `LstmTape::floats_for` to count.
struct TapeLens {
    gates: usize,
    /// Each of c and h.
    state: usize,
    tanh_c: usize,
    /// `[k, n]` of `W_hh` packed, when packing pays.
    packed: Option<(usize, usize)>,
    room: usize,
}

impl TapeLens {
    fn new(dims: LstmDims, input: InputKind) -> TapeLens {
        let (t, b, i, h, g4) = (
            dims.steps,
            dims.batch,
            dims.input,
            dims.hidden,
            dims.gates(),
        );
        TapeLens {
            gates: t * b * g4,
            state: (t + 1) * b * h,
            tanh_c: t * b * h,
            packed: packing_pays(dims).then_some((h, g4)),
            room: match input {
                InputKind::Dense => room_for(t * b, i, g4, true),
                InputKind::OneHot => 0,
                InputKind::Repeated => room_for(b, i, g4, true),
            },
        }
    }

    fn floats(&self) -> usize {
        let packed = self.packed.map_or(0, |(k, n)| PackedMat::floats_for(k, n));
        self.gates + 2 * self.state + self.tanh_c + packed + self.room
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
    /// `[B, 4H]` gate gradients summed over steps, for a repeated input.
    dgates_sum: Vec<f32>,
    /// Room for packing in the weight and input gradients' products (`gemm::room_for`).
    room: Vec<f32>,
}

impl LstmScratch {
    /// Floats held, read from the buffers themselves.
    pub fn floats(&self) -> usize {
        let w_hh_t = match &self.w_hh_t {
            StepMatrix::Packed(packed) => packed.floats(),
            StepMatrix::Plain(plain) => plain.len(),
        };
        let state = self.dh_next.len() + self.dc_next.len();
        self.dgates.len() + w_hh_t + state + self.dgates_sum.len() + self.room.len()
    }

    pub fn new(dims: LstmDims, input: InputKind) -> LstmScratch {
        let lens = ScratchLens::new(dims, input);
        LstmScratch {
            dgates: vec![0.0; lens.dgates],
            w_hh_t: match lens.packed_t {
                Some((k, n)) => StepMatrix::Packed(PackedMat::new(k, n)),
                None => StepMatrix::Plain(vec![0.0; lens.plain_t]),
            },
            dh_next: vec![0.0; lens.state],
            dc_next: vec![0.0; lens.state],
            dgates_sum: vec![0.0; lens.dgates_sum],
            room: vec![0.0; lens.room],
        }
    }

    /// Floats `new` allocates for these shapes, counted without allocating.
    pub fn floats_for(dims: LstmDims, input: InputKind) -> usize {
        ScratchLens::new(dims, input).floats()
    }
}

/// The lengths of a scratch's buffers, decided once for `LstmScratch::new` to allocate and
/// `LstmScratch::floats_for` to count.
struct ScratchLens {
    dgates: usize,
    /// `[k, n]` of `W_hhᵀ` packed when packing pays, else the floats of a plain copy.
    packed_t: Option<(usize, usize)>,
    plain_t: usize,
    /// Each of `dh_next` and `dc_next`.
    state: usize,
    dgates_sum: usize,
    room: usize,
}

impl ScratchLens {
    fn new(dims: LstmDims, input: InputKind) -> ScratchLens {
        let (t, b, i, h, g4) = (
            dims.steps,
            dims.batch,
            dims.input,
            dims.hidden,
            dims.gates(),
        );
        let packs = packing_pays(dims);
        let input_room = match input {
            InputKind::Dense => room_for(i, t * b, g4, true).max(room_for(t * b, g4, i, false)),
            InputKind::OneHot => 0,
            InputKind::Repeated => room_for(i, b, g4, true).max(room_for(b, g4, i, false)),
        };
        ScratchLens {
            dgates: t * b * g4,
            packed_t: packs.then_some((g4, h)),
            plain_t: if packs { 0 } else { h * g4 },
            state: b * h,
            dgates_sum: b * g4,
            room: input_room.max(room_for(h, t * b, g4, true)),
        }
    }

    fn floats(&self) -> usize {
        let packed_t = self
            .packed_t
            .map_or(0, |(k, n)| PackedMat::floats_for(k, n));
        let state = 2 * self.state;
        self.dgates + packed_t + self.plain_t + state + self.dgates_sum + self.room
    }
}

/// Runs the layer over the sequence from the initial state in the tape.
pub fn lstm_forward(input: LstmInput, w: &LstmWeights, tape: &mut LstmTape) {
    let _ftz = FlushDenormals::new();
    let dims = tape.dims;
    check_weights(dims, w);
    project_input(dims, input, w.w_ih, &mut tape.gates, &mut tape.room);
    let (b, h, g4) = (dims.batch, dims.hidden, dims.gates());
    if let Some(packed) = &mut tape.w_hh_packed {
        packed.pack(Mat::new(w.w_hh, h, g4));
    }
    let first = first_step_with_state(tape);
    for t in 0..dims.steps {
        let gates = &mut tape.gates[t * b * g4..(t + 1) * b * g4];
        let h_prev = Mat::new(&tape.h[t * b * h..(t + 1) * b * h], b, h);
        let mut gates_mat = MatMut::new(gates, b, g4);
        if t >= first {
            match &tape.w_hh_packed {
                Some(packed) => gemm_packed(&mut gates_mat, h_prev, packed, true),
                None => gemm(
                    &mut gates_mat,
                    h_prev,
                    Mat::new(w.w_hh, h, g4),
                    true,
                    &mut [],
                ),
            }
        }
        let (c_prev, c_next) = tape.c[t * b * h..(t + 2) * b * h].split_at_mut(b * h);
        let h_next = &mut tape.h[(t + 1) * b * h..(t + 2) * b * h];
        let tanh_c = &mut tape.tanh_c[t * b * h..(t + 1) * b * h];
        if cells_in_parallel(dims) {
            let rows = gates
                .par_chunks_mut(g4)
                .zip(c_prev.par_chunks(h))
                .zip(c_next.par_chunks_mut(h));
            rows.zip(h_next.par_chunks_mut(h))
                .zip(tanh_c.par_chunks_mut(h))
                .for_each(|((((z, cp), c), hn), tc)| {
                    let _ftz = FlushDenormals::new();
                    cell_forward(z, w.bias, cp, c, hn, tc)
                });
        } else {
            let rows = gates
                .chunks_mut(g4)
                .zip(c_prev.chunks(h))
                .zip(c_next.chunks_mut(h));
            rows.zip(h_next.chunks_mut(h))
                .zip(tanh_c.chunks_mut(h))
                .for_each(|((((z, cp), c), hn), tc)| cell_forward(z, w.bias, cp, c, hn, tc));
        }
    }
}

/// 1 when the initial hidden state is all zeros, as it is for every batch of a layer that
/// is not stateful: step 0's recurrent product `0·W_hh` would add nothing, forward or back.
fn first_step_with_state(tape: &LstmTape) -> usize {
    usize::from(tape.initial_state().0.iter().all(|&x| x == 0.0))
}

fn check_weights(dims: LstmDims, w: &LstmWeights) {
    let g4 = dims.gates();
    assert_eq!(w.w_ih.len(), dims.input * g4, "W_ih must be [I, 4H]");
    assert_eq!(w.w_hh.len(), dims.hidden * g4, "W_hh must be [H, 4H]");
    assert_eq!(w.bias.len(), g4, "bias must be [4H]");
}

/// Fills `gates [T, B, 4H]` with the input projection of every step.
fn project_input(
    dims: LstmDims,
    input: LstmInput,
    w_ih: &[f32],
    gates: &mut [f32],
    room: &mut [f32],
) {
    let (t, b, i, g4) = (dims.steps, dims.batch, dims.input, dims.gates());
    let w = Mat::new(w_ih, i, g4);
    match input {
        LstmInput::Dense(x) => {
            assert_eq!(x.len(), t * b * i, "input must be [T, B, I]");
            gemm(
                &mut MatMut::new(gates, t * b, g4),
                Mat::new(x, t * b, i),
                w,
                false,
                room,
            );
        }
        LstmInput::OneHot(index) => {
            assert_eq!(index.len(), t * b, "one-hot input must be [T, B] indices");
            gather_rows(w_ih, g4, index, gates);
        }
        LstmInput::Repeated(x) => {
            assert_eq!(x.len(), b * i, "repeated input must be [B, I]");
            let (first, rest) = gates.split_at_mut(b * g4);
            let x = Mat::new(x, b, i);
            gemm(&mut MatMut::new(first, b, g4), x, w, false, room);
            for step in rest.chunks_exact_mut(b * g4) {
                step.copy_from_slice(first);
            }
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

/// One row of one step, backward: from the gradient reaching h (`dh_out + dh_next`) and c
/// (`dc_next`), the gate pre-activation gradients `dz [4H]`; `dc_next` becomes the gradient
/// for the previous step's c.
#[inline(always)]
fn cell_backward(
    gates: &[f32],
    c_prev: &[f32],
    tanh_c: &[f32],
    dh: CellDh,
    dc_next: &mut [f32],
    dz: &mut [f32],
) {
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
struct CellDh<'a> {
    out: Option<&'a [f32]>,
    next: &'a [f32],
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

/// Backprop through time over the sequence `lstm_forward` last ran. Writes the weight
/// gradients into `grads`, and writes the input gradient into `dx` when given (`[T, B, I]`
/// for a dense input, `[B, I]` for a repeated one; one-hot inputs have none). The initial
/// state is a constant: gradients do not flow past the start of the sequence.
pub fn lstm_backward(
    input: LstmInput,
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
    let (t_len, b, h, g4) = (dims.steps, dims.batch, dims.hidden, dims.gates());
    if t_len > 1 {
        // Only steps after the first pass a gradient back through W_hh.
        scratch.w_hh_t.fill_transposed(w.w_hh, h, g4);
    }
    scratch.dh_next.fill(0.0);
    scratch.dc_next.fill(0.0);
    for t in (0..t_len).rev() {
        let dgates = &mut scratch.dgates[t * b * g4..(t + 1) * b * g4];
        let (tape_ref, dh_next) = (tape, &scratch.dh_next);
        let cell = |row: usize, (dz, dc_next): (&mut [f32], &mut [f32])| {
            let at = t * b + row;
            let out = match dout {
                OutputGrad::Sequence(d) => Some(&d[at * h..][..h]),
                OutputGrad::Last(d) if t + 1 == t_len => Some(&d[row * h..][..h]),
                OutputGrad::Last(_) => None,
            };
            let dh = CellDh {
                out,
                next: &dh_next[row * h..][..h],
            };
            cell_backward(
                &tape_ref.gates[at * g4..][..g4],
                &tape_ref.c[at * h..][..h],
                &tape_ref.tanh_c[at * h..][..h],
                dh,
                dc_next,
                dz,
            );
        };
        if cells_in_parallel(dims) {
            dgates
                .par_chunks_mut(g4)
                .zip(scratch.dc_next.par_chunks_mut(h))
                .enumerate()
                .for_each(|(row, pair)| {
                    let _ftz = FlushDenormals::new();
                    cell(row, pair)
                });
        } else {
            dgates
                .chunks_mut(g4)
                .zip(scratch.dc_next.chunks_mut(h))
                .enumerate()
                .for_each(|(row, pair)| cell(row, pair));
        }
        if t > 0 {
            let dz = Mat::new(dgates, b, g4);
            let dh_next = &mut MatMut::new(&mut scratch.dh_next, b, h);
            scratch.w_hh_t.multiply(dh_next, dz);
        }
    }
    // Steps whose h_{t-1} is zero add nothing to dW_hh.
    let skip = first_step_with_state(tape) * b;
    let rows = t_len * b - skip;
    let dz = Mat::new(&scratch.dgates[skip * g4..], rows, g4);
    let h_prev = Mat::new(&tape.h[skip * h..t_len * b * h], rows, h);
    let dw_hh = &mut MatMut::new(grads.w_hh, h, g4);
    gemm(dw_hh, h_prev.t(), dz, false, &mut scratch.room);
    column_sums(&scratch.dgates, g4, grads.bias);
    input_backward(dims, input, w.w_ih, scratch, grads.w_ih, dx);
}

/// The gradients of the input projection: `dW_ih` and the input gradient.
fn input_backward(
    dims: LstmDims,
    input: LstmInput,
    w_ih: &[f32],
    scratch: &mut LstmScratch,
    dw_ih: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (t, b, i, g4) = (dims.steps, dims.batch, dims.input, dims.gates());
    let w_ih_t = Mat::new(w_ih, i, g4).t();
    match input {
        LstmInput::Dense(x) => {
            let dz = Mat::new(&scratch.dgates, t * b, g4);
            let room = &mut scratch.room;
            let x_t = Mat::new(x, t * b, i).t();
            gemm(&mut MatMut::new(dw_ih, i, g4), x_t, dz, false, room);
            if let Some(dx) = dx {
                gemm(&mut MatMut::new(dx, t * b, i), dz, w_ih_t, false, room);
            }
        }
        LstmInput::OneHot(index) => {
            dw_ih.fill(0.0);
            scatter_add_rows(&scratch.dgates, g4, index, dw_ih);
        }
        LstmInput::Repeated(x) => {
            // The same projection fed every step, so its gradient is the sum over steps.
            scratch.dgates_sum.fill(0.0);
            for step in scratch.dgates.chunks_exact(b * g4) {
                add_into(&mut scratch.dgates_sum, step);
            }
            let dz = Mat::new(&scratch.dgates_sum, b, g4);
            let room = &mut scratch.room;
            let x_t = Mat::new(x, b, i).t();
            gemm(&mut MatMut::new(dw_ih, i, g4), x_t, dz, false, room);
            if let Some(dx) = dx {
                gemm(&mut MatMut::new(dx, b, i), dz, w_ih_t, false, room);
            }
        }
    }
}

/// Above this many cells a step (B·H), the fused cell passes spread rows over rayon's
/// threads; rows are independent, so the bits do not depend on how many.
const PARALLEL_MIN_CELLS: usize = 1 << 14;

fn cells_in_parallel(dims: LstmDims) -> bool {
    dims.batch * dims.hidden >= PARALLEL_MIN_CELLS
}

/// Whether `W_hh` is packed once per pass: for every product beyond the small kernel's,
/// which would otherwise pack it again at every step.
pub fn packing_pays(dims: LstmDims) -> bool {
    dims.batch * dims.hidden * dims.gates() > SMALL_MAX_MACS
}

/// `W_hhᵀ` for backward's per-step product, packed or as a plain transposed copy.
enum StepMatrix {
    Packed(PackedMat),
    Plain(Vec<f32>),
}

impl StepMatrix {
    /// Fills with `srcᵀ` for `src [rows, cols]`.
    fn fill_transposed(&mut self, src: &[f32], rows: usize, cols: usize) {
        match self {
            StepMatrix::Packed(packed) => packed.pack(Mat::new(src, rows, cols).t()),
            StepMatrix::Plain(plain) => transpose_into(src, rows, cols, plain),
        }
    }

    /// `C = A·self`.
    fn multiply(&self, c: &mut MatMut, a: Mat) {
        match self {
            StepMatrix::Packed(packed) => gemm_packed(c, a, packed, false),
            // Never beyond the small kernel: larger products are `Packed`.
            StepMatrix::Plain(plain) => gemm(c, a, Mat::new(plain, a.cols, c.cols), false, &mut []),
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

/// `sums[j] = Σ_r m[r, j]` for `m [R, width]`.
pub fn column_sums(m: &[f32], width: usize, sums: &mut [f32]) {
    sums.fill(0.0);
    for row in m.chunks_exact(width) {
        add_into(sums, row);
    }
}
