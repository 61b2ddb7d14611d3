//! Matrix multiply against a B packed once and used many times: the LSTM's recurrent
//! weights, which stay the same for every step of a sequence.
//!
//! A general GEMM packs B on every call; for `h_{t-1}·W_hh` that means rearranging the whole
//! weight matrix at every time step. `PackedMat` does it once per forward (or backward) pass:
//! panels of `NR` = 16 columns, each `k` rows of 16 contiguous floats. The micro-kernel then
//! holds a tile of up to `MR` = 6 rows by 16 columns of C in twelve `f32x8` accumulators,
//! reading A in place (one broadcast per row and k) and the panel in order, `KC` rows of k at
//! a time so that the panel block stays in L1 and L2.
//!
//! Large products spread whole panels over rayon's threads; each element of C is computed by
//! one thread in the same order whatever the number of threads.

use rayon::prelude::*;
use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::gemm::{Mat, MatMut, PARALLEL_MIN_MACS};
use crate::lanes::{load_raw, read8, store_raw, transpose_block, SharedOut};

/// Columns of B per panel: two `f32x8`.
const NR: usize = 16;
/// Rows of C per micro-tile: 6 × 2 accumulators, of the 16 AVX2 registers.
const MR: usize = 6;
/// Rows of k per block: a 32 KiB panel block, read from L1 and L2. Up to a hidden size of 512,
/// `h·W_hh` is one block, so each tile of C is loaded and stored once, not once per block:
/// 256 rows ran 64×512×2048 at 71-79 GFLOP/s here, 512 rows at 81-87 (best of 300).
const KC: usize = 512;

/// B `[k, n]` rearranged into 16-column panels, zero-padded past `n`.
pub struct PackedMat {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl PackedMat {
    /// Room for a packed `[k, n]` matrix. Allocates; `pack` does not.
    pub fn new(k: usize, n: usize) -> PackedMat {
        PackedMat {
            k,
            n,
            data: vec![0.0; n.div_ceil(NR) * k * NR],
        }
    }

    /// Floats held, padding included.
    pub fn floats(&self) -> usize {
        self.data.len()
    }

    /// Rearranges `b` into the panels.
    pub fn pack(&mut self, b: Mat) {
        assert!(
            b.rows == self.k && b.cols == self.n,
            "pack: B is {}x{}, room for {}x{}",
            b.rows,
            b.cols,
            self.k,
            self.n
        );
        if self.k == 0 {
            return;
        }
        // Lanes past `n` in the last panel were zeroed by `new` and are never written.
        for (panel_index, panel) in self.data.chunks_exact_mut(self.k * NR).enumerate() {
            let col = panel_index * NR;
            let width = NR.min(self.n - col);
            if b.col_stride == 1 {
                pack_rows(panel, b, col, width);
            } else {
                pack_columns(panel, b, col, width);
            }
        }
    }
}

/// A panel from a B whose rows are contiguous: one copy per row of k.
fn pack_rows(panel: &mut [f32], b: Mat, col: usize, width: usize) {
    for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
        let start = p * b.row_stride + col;
        // A copy of a constant length is inlined; one of `width` would call memmove.
        if width == NR {
            row.copy_from_slice(&b.data[start..start + NR]);
        } else {
            row[..width].copy_from_slice(&b.data[start..start + width]);
        }
    }
}

/// A panel from a strided B, such as a transposed view. When B's columns are contiguous
/// (a transposed row-major matrix), 8×8 blocks move as vectors; the rest one by one.
fn pack_columns(panel: &mut [f32], b: Mat, col: usize, width: usize) {
    let k = panel.len() / NR;
    let k8 = if b.row_stride == 1 { k / 8 * 8 } else { 0 };
    let width8 = width / 8 * 8;
    for p in (0..k8).step_by(8) {
        for j in (0..width8).step_by(8) {
            let src = ((col + j) * b.col_stride + p, b.col_stride);
            transpose_block(b.data, src, panel, (p * NR + j, NR));
        }
    }
    for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
        let first = if p < k8 { width8 } else { 0 };
        for (j, value) in row.iter_mut().enumerate().take(width).skip(first) {
            *value = b.data[(col + j) * b.col_stride + p * b.row_stride];
        }
    }
}

/// `C = A·B`, or `C += A·B` when `accumulate`, with B packed. `A [m, k]`, `C [m, n]`.
pub fn gemm_packed(c: &mut MatMut, a: Mat, b: &PackedMat, accumulate: bool) {
    assert!(
        a.rows == c.rows && a.cols == b.k && b.n == c.cols,
        "gemm_packed shapes: A {}x{}, B {}x{}, C {}x{}",
        a.rows,
        a.cols,
        b.k,
        b.n,
        c.rows,
        c.cols
    );
    assert!(
        c.rows == 0 || (c.rows - 1) * c.row_stride + c.cols <= c.data.len(),
        "C reaches past its slice"
    );
    assert!(
        a.rows == 0
            || a.cols == 0
            || (a.rows - 1) * a.row_stride + (a.cols - 1) * a.col_stride < a.data.len(),
        "A reaches past its slice"
    );
    if b.k == 0 {
        if !accumulate {
            for row in 0..c.rows {
                c.data[row * c.row_stride..row * c.row_stride + c.cols].fill(0.0);
            }
        }
        return;
    }
    let panels = b.n.div_ceil(NR);
    let out = SharedOut::new(c.data);
    let (m, row_stride) = (c.rows, c.row_stride);
    let run = |panel: usize| {
        let _ftz = FlushDenormals::new();
        panel_product(out, row_stride, m, a, b, panel, accumulate);
    };
    if m * b.n * b.k >= PARALLEL_MIN_MACS {
        (0..panels).into_par_iter().for_each(run);
    } else {
        (0..panels).for_each(run);
    }
}

/// The 16 columns of C that panel `panel` covers, all rows.
fn panel_product(
    c: SharedOut,
    row_stride: usize,
    m: usize,
    a: Mat,
    b: &PackedMat,
    panel: usize,
    accumulate: bool,
) {
    let col = panel * NR;
    let width = NR.min(b.n - col);
    let panel_data = &b.data[panel * b.k * NR..(panel + 1) * b.k * NR];
    for k0 in (0..b.k).step_by(KC) {
        let k1 = (k0 + KC).min(b.k);
        let tile = Tile {
            c_row_stride: row_stride,
            col,
            width,
            k0,
            k1,
            accumulate: accumulate || k0 > 0,
        };
        let mut row = 0;
        for rows in tile_rows(m) {
            match rows {
                1 => tile.run::<1>(c, a, panel_data, row),
                2 => tile.run::<2>(c, a, panel_data, row),
                3 => tile.run::<3>(c, a, panel_data, row),
                4 => tile.run::<4>(c, a, panel_data, row),
                5 => tile.run::<5>(c, a, panel_data, row),
                _ => tile.run::<MR>(c, a, panel_data, row),
            }
            row += rows;
        }
    }
}

/// How `m` rows are cut into micro-tiles: of MR rows, except that a last tile of one to three
/// rows, whose two to six accumulators cannot hide the FMA latency, is merged with the tile
/// before and the two split evenly (32 rows: 6, 6, 6, 6, 4, 4 rather than 6, 6, 6, 6, 6, 2).
fn tile_rows(m: usize) -> impl Iterator<Item = usize> {
    let (mut full, rest) = (m / MR, m % MR);
    let last = if full > 0 && (1..=3).contains(&rest) {
        full -= 1;
        let merged = MR + rest;
        [merged - merged / 2, merged / 2]
    } else {
        [rest, 0]
    };
    std::iter::repeat_n(MR, full).chain(last.into_iter().filter(|&rows| rows > 0))
}

/// Where a micro-tile sits: columns `col..col + width` of C, k from `k0` to `k1`.
struct Tile {
    c_row_stride: usize,
    col: usize,
    width: usize,
    k0: usize,
    k1: usize,
    accumulate: bool,
}

impl Tile {
    /// `C[row..row+R, col..col+width] (+)= A[row..row+R, k0..k1]·panel[k0..k1]`.
    ///
    /// C is written through its raw pointer: tiles of other panels, maybe on other threads,
    /// write other columns of the same rows, so no `&mut` to a row may exist. `gemm_packed`
    /// checked that every row and column of the tile lies inside C.
    #[inline(always)]
    fn run<const R: usize>(&self, c: SharedOut, a: Mat, panel: &[f32], row: usize) {
        let mut acc = [[f32x8::ZERO; 2]; R];
        if self.accumulate {
            for (r, pair) in acc.iter_mut().enumerate() {
                let at = (row + r) * self.c_row_stride + self.col;
                // SAFETY: inside C (see above); no other tile touches these columns.
                unsafe {
                    pair[0] = load_raw(c.at(at), self.width.min(8));
                    if self.width > 8 {
                        pair[1] = load_raw(c.at(at + 8), self.width - 8);
                    }
                }
            }
        }
        assert!(self.k1 * NR <= panel.len() && row + R <= a.rows && self.k1 <= a.cols);
        let (a_ptr, b_ptr) = (a.data.as_ptr(), panel.as_ptr());
        for p in self.k0..self.k1 {
            // SAFETY: p < k1 and the assert above bound both reads.
            let (b0, b1) = unsafe { (read8(b_ptr.add(p * NR)), read8(b_ptr.add(p * NR + 8))) };
            for (r, pair) in acc.iter_mut().enumerate() {
                let a_value = f32x8::splat(unsafe {
                    *a_ptr.add((row + r) * a.row_stride + p * a.col_stride)
                });
                pair[0] = a_value.mul_add(b0, pair[0]);
                pair[1] = a_value.mul_add(b1, pair[1]);
            }
        }
        for (r, pair) in acc.iter().enumerate() {
            let at = (row + r) * self.c_row_stride + self.col;
            // SAFETY: as for the loads.
            unsafe {
                store_raw(c.at(at), self.width.min(8), pair[0]);
                if self.width > 8 {
                    store_raw(c.at(at + 8), self.width - 8, pair[1]);
                }
            }
        }
    }
}
