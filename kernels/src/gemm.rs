//! Matrix multiply, `C (+)= A·B`, for every form the LSTM needs (A·B, A·Bᵀ, Aᵀ·B) through
//! strided views.
//!
//! Two paths, chosen per call by size (see ARCHITECTURE.md for the measurements):
//! - small products, the tutorials' shapes (a batch of 1 to 21 rows times a few hundred
//!   columns), go through `small`, a register-blocked `f32x8` kernel with no packing and no
//!   allocation: at these sizes the packing and dispatch of a general GEMM cost more than the
//!   arithmetic;
//! - larger products, and those whose B is a transposed view, go through
//!   `packed::gemm_packing`, which packs B into the caller's room one block of k at a time
//!   (and copies a transposed A whose stride aliases, when the room holds it). The room is
//!   sized once per shape (`room_for`, or `room_for_transposed_a` to let A be copied), so no
//!   call allocates.
//!
//! Products big enough to pay for threads (`PARALLEL_MIN_MACS`) spread the packed path's
//! 16-column panels of C over rayon's threads. Each element of C is computed by one thread,
//! in an order that depends on the sizes alone, so the result is the same bits with one
//! thread or many.

use wide::f32x8;

use crate::lanes::{load, read8, store};
use crate::packed::{copy_room, gemm_packing, packing_room};

/// A read-only matrix view: element `(r, c)` at `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

/// A row-major output view: element `(r, c)` at `data[r * row_stride + c]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl<'a> Mat<'a> {
    /// A dense row-major `[rows, cols]` matrix at the start of `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed view: no data moves.
    pub fn t(self) -> Mat<'a> {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Whether every element of the view lies inside `data`.
    pub(crate) fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        MatMut {
            data,
            rows,
            cols,
            row_stride: cols,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + self.cols <= self.data.len()
    }
}

/// Below this many multiply-adds (with unit column stride in B), the small kernel beat the
/// `gemm` crate that the packed path replaced (`cargo bench --bench kernels --
/// gemm_crossover` now sets it against the packed path).
pub const SMALL_MAX_MACS: usize = 1 << 18;
/// Above this many multiply-adds, the packed paths spread panels over rayon's threads, and a
/// recurrent layer's step cuts its batch rows among them (`recurrent::task_rows`). From
/// inside the pool (as `lstmc run` calls), 2^20 let mid's and encdec's per-step recurrent
/// products split: two threads over one went from 1.2x to 1.7x at mid and from 1.0x to
/// 1.3x at encdec, where 2^22 split only the weight gradients; 2^19 splits encdec's dense
/// products (630k) too: 1.45x to 1.55x there, the other shapes unchanged (train_step, one
/// sitting each). Just above the small kernel's 2^18, which runs on one thread.
pub const PARALLEL_MIN_MACS: usize = 1 << 19;

/// Which implementation runs a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmPath {
    /// The register-blocked `f32x8` kernel; needs B with unit column stride.
    Small,
    /// B packed into the caller's room block by block (`packed::gemm_packing`).
    Packed,
}

/// The path `gemm` picks for `A [m, k]·B [k, n]`; `b_unit_cols` when B's columns are
/// contiguous (not a transposed view).
fn choose_path(m: usize, k: usize, n: usize, b_unit_cols: bool) -> GemmPath {
    if b_unit_cols && m * n * k <= SMALL_MAX_MACS {
        GemmPath::Small
    } else {
        GemmPath::Packed
    }
}

/// Floats of room `gemm` needs for `A [m, k]·B [k, n]`: none for the small path.
/// `b_unit_cols` as B's `col_stride == 1`.
pub fn room_for(m: usize, k: usize, n: usize, b_unit_cols: bool) -> usize {
    match choose_path(m, k, n, b_unit_cols) {
        GemmPath::Small => 0,
        GemmPath::Packed => packing_room(k, n),
    }
}

/// `room_for` a product whose A is the transposed view of a row-major `[k, m]` (the weight
/// gradients' `xᵀ·dz`), with room for `gemm` to copy A's blocks (`packed::copies_a`), for this
/// k and every shorter one.
pub fn room_for_transposed_a(m: usize, k: usize, n: usize, b_unit_cols: bool) -> usize {
    match choose_path(m, k, n, b_unit_cols) {
        GemmPath::Small => 0,
        GemmPath::Packed if m.is_multiple_of(64) => packing_room(k, n) + copy_room(m, k),
        GemmPath::Packed => packing_room(k, n),
    }
}

/// `C = A·B`, or `C += A·B` when `accumulate`. Shapes `A [m, k]`, `B [k, n]`, `C [m, n]`;
/// `room` holds at least `room_for` the shapes (`room_for_transposed_a` for the room in which
/// a transposed A may be copied too).
///
/// Panics if the shapes disagree, a view reaches past its slice or the room is too small:
/// these are the caller's contract, checked once per call, not per element.
pub fn gemm(c: &mut MatMut, a: Mat, b: Mat, accumulate: bool, room: &mut [f32]) {
    let path = choose_path(a.rows, a.cols, b.cols, b.col_stride == 1);
    gemm_via(path, c, a, b, accumulate, room);
}

/// `gemm` on a given path, for benchmarks and tests that compare the two.
pub fn gemm_via(
    path: GemmPath,
    c: &mut MatMut,
    a: Mat,
    b: Mat,
    accumulate: bool,
    room: &mut [f32],
) {
    assert!(
        a.rows == c.rows && b.cols == c.cols && a.cols == b.rows,
        "gemm shapes: A {}x{}, B {}x{}, C {}x{}",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        c.rows,
        c.cols
    );
    assert!(
        a.fits() && b.fits() && c.fits(),
        "gemm view reaches past its slice"
    );
    assert!(
        path == GemmPath::Packed || b.col_stride == 1,
        "the small kernel needs B with unit column stride"
    );
    let (m, n, k) = (c.rows, c.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                c.data[row * c.row_stride..row * c.row_stride + n].fill(0.0);
            }
        }
        return;
    }
    match path {
        GemmPath::Small => small(c, a, b, accumulate),
        GemmPath::Packed => gemm_packing(c, a, b, accumulate, room),
    }
}

/// Register-blocked kernel: C is covered by strips of up to four rows, each cut into blocks
/// of V vectors of 8 columns, held in R·V `f32x8` accumulators while k runs. A row's last
/// columns, fewer than 8, ride in the last block as a partial vector, so they share its
/// independent FMAs rather than running as a chain of their own.
fn small(c: &mut MatMut, a: Mat, b: Mat, accumulate: bool) {
    let mut row = 0;
    while row + 4 <= c.rows {
        strip::<4>(c, a, b, row, accumulate);
        row += 4;
    }
    match c.rows - row {
        0 => {}
        1 => strip::<1>(c, a, b, row, accumulate),
        2 => strip::<2>(c, a, b, row, accumulate),
        3 => strip::<3>(c, a, b, row, accumulate),
        _ => unreachable!("strips of four rows cover all but three"),
    }
}

/// Rows `row..row + R` of C. An FMA's result is ready four cycles after it starts and two
/// can start per cycle, so at least eight independent accumulators keep the FMA units busy:
/// the fewer the rows, the more vectors per row, up to twelve accumulators (of the 16 AVX2
/// registers, leaving room for B's vectors and A's broadcast).
fn strip<const R: usize>(c: &mut MatMut, a: Mat, b: Mat, row: usize, accumulate: bool) {
    let n = c.cols;
    let widest = match R {
        1 => 8,
        2 => 4,
        _ => 3,
    };
    let mut col = 0;
    while col < n {
        let vectors = (n - col).div_ceil(8);
        let width = [widest, 4, 3, 2, 1]
            .into_iter()
            .find(|&w| w <= widest && w <= vectors)
            .unwrap_or(1);
        let cols = (8 * width).min(n - col);
        let at = (row, col, cols);
        match width {
            8 => block::<R, 8>(c, a, b, at, accumulate),
            4 => block::<R, 4>(c, a, b, at, accumulate),
            3 => block::<R, 3>(c, a, b, at, accumulate),
            2 => block::<R, 2>(c, a, b, at, accumulate),
            _ => block::<R, 1>(c, a, b, at, accumulate),
        }
        col += cols;
    }
}

/// `C[row..row+R, col..col+cols] (+)= A[row..row+R, :]·B[:, col..col+cols]`, for
/// `8(V-1) < cols <= 8V`: the last vector is partial when `cols < 8V`.
#[inline(always)]
fn block<const R: usize, const V: usize>(
    c: &mut MatMut,
    a: Mat,
    b: Mat,
    at: (usize, usize, usize),
    accumulate: bool,
) {
    // Two copies, so that whole blocks, by far the most, test nothing per load of B.
    if at.2 == 8 * V {
        block_of::<R, V, true>(c, a, b, at, accumulate)
    } else {
        block_of::<R, V, false>(c, a, b, at, accumulate)
    }
}

#[inline(always)]
fn block_of<const R: usize, const V: usize, const WHOLE: bool>(
    c: &mut MatMut,
    a: Mat,
    b: Mat,
    (row, col, cols): (usize, usize, usize),
    accumulate: bool,
) {
    // The block's last rows and columns lie inside the views, which `gemm_via` checked
    // against their slices; these asserts make that visible to the reader and the optimiser
    // once per block rather than once per load.
    assert!(row + R <= c.rows && col + cols <= c.cols && b.col_stride == 1);
    assert!(8 * (V - 1) < cols && cols <= 8 * V);
    let last = cols - 8 * (V - 1);
    let lanes = |v: usize| if WHOLE || v + 1 < V { 8 } else { last };
    let mut acc = [[f32x8::ZERO; V]; R];
    if accumulate {
        for (r, acc_row) in acc.iter_mut().enumerate() {
            for (v, lane) in acc_row.iter_mut().enumerate() {
                *lane = load(c.data, (row + r) * c.row_stride + col + 8 * v, lanes(v));
            }
        }
    }
    let a_ptr = a.data.as_ptr();
    let b_ptr = b.data.as_ptr();
    for p in 0..a.cols {
        let mut b_lanes = [f32x8::ZERO; V];
        for (v, lane) in b_lanes.iter_mut().enumerate() {
            let at = p * b.row_stride + col + 8 * v;
            *lane = if WHOLE || v + 1 < V {
                // SAFETY: p < k and col + 8(v + 1) <= n, so the 8 floats at (p, col + 8v)
                // lie in B.
                unsafe { read8(b_ptr.add(at)) }
            } else {
                load_past_row(b.data, at, last)
            };
        }
        for (r, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: row + r < m and p < k, so (row + r, p) lies in A.
            let a_value =
                f32x8::splat(unsafe { *a_ptr.add((row + r) * a.row_stride + p * a.col_stride) });
            for v in 0..V {
                acc_row[v] = a_value.mul_add(b_lanes[v], acc_row[v]);
            }
        }
    }
    for (r, acc_row) in acc.iter().enumerate() {
        for (v, lane) in acc_row.iter().enumerate() {
            store(
                c.data,
                (row + r) * c.row_stride + col + 8 * v,
                lanes(v),
                *lane,
            );
        }
    }
}

/// `width` floats at `at`, as a full vector when the slice goes on that far: the lanes past
/// `width` only feed accumulator lanes that are never stored.
#[inline(always)]
fn load_past_row(data: &[f32], at: usize, width: usize) -> f32x8 {
    if at + 8 <= data.len() {
        load8(&data[at..])
    } else {
        load(data, at, width)
    }
}

#[inline(always)]
fn load8(data: &[f32]) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(&data[..8]).unwrap())
}
