//! Matrix multiply against a B packed once and used many times: the LSTM's recurrent
//! weights, which stay the same for every step of a sequence.
//!
//! A general GEMM packs B on every call; for `h_{t-1}·W_hh` that means rearranging the whole
//! weight matrix at every time step. `PackedMat` does it once per forward (or backward) pass:
//! panels of `NR` = 16 columns, each `k` rows of 16 contiguous floats. The micro-kernel then
//! holds a tile of up to `MR` = 6 rows by 16 columns of C in twelve `f32x8` accumulators,
//! reading A in place (one broadcast per row and k) and the panel in order, `KC` rows of k at
//! a time so that the panel block stays in L2.
//!
//! A row-major B whose stride does not alias in L1 (`reads_in_place`) needs no packing but
//! for a last, partial panel: the micro-kernels read its whole panels where they lie, 16
//! floats a row at B's stride, which cost less than the pass that packs them (W_hh at
//! encdec's 150×600: the forward's packing was 3.6 % of the step). `PackedMat::pack` then
//! packs that panel alone, and the products take B again (`PackedMat::with`).
//!
//! `gemm_packing` does the same for a B used once, packing it into the caller's room one
//! block of k at a time, each panel by the task that then multiplies it, or reading its whole
//! panels in place. A is read in place, but for a transposed A whose stride along k aliases
//! in L1 (`copies_a`), which it copies block by block into the room first, when the room
//! holds the copy (`gemm::room_for_transposed_a` sizes it so).
//!
//! Where the CPU has AVX-512 (found at run time: the binary itself targets AVX2), a
//! second micro-kernel holds a panel's 16 columns in one 512-bit register and up to `MR_512`
//! = 12 rows of C, twice the FMAs an instruction of the AVX2 kernel's, and takes two panels a
//! task (24 accumulators), so that each broadcast of A feeds two FMAs. Both compute every
//! element of C as the same chain of fused multiply-adds over k, from zero, then added to C,
//! so they give the same bits; which one runs changes the speed only. Each of its tiles
//! prefetches its lines of C before the loop over k (`Tile::prefetch_rows`).
//!
//! Large products spread whole panels over rayon's threads; each element of C is computed by
//! one thread in the same order whatever the number of threads.

use std::ops::Range;

use rayon::prelude::*;
use wide::f32x8;

use crate::denormal::FlushDenormals;
use crate::gemm::{Mat, MatMut, PARALLEL_MIN_MACS};
pub use crate::isa::Isa;
use crate::lanes::{load_raw, read8, store_raw, transpose_block, SharedOut};

/// Columns of B per panel: two `f32x8`.
const NR: usize = 16;
/// Rows of C per micro-tile: 6 × 2 accumulators, of the 16 AVX2 registers.
const MR: usize = 6;
/// Rows of C per AVX-512 micro-tile: 12 accumulators of the 32 registers, more than the 8
/// (4 cycles of latency, 2 FMAs a cycle) that keep both FMA units busy.
const MR_512: usize = 12;

/// Rows of k per block: a 32 KiB panel block, read from L1 and L2. Up to a hidden size of 512,
/// `h·W_hh` is one block, so each tile of C is loaded and stored once, not once per block:
/// 256 rows ran 64×512×2048 at 71-79 GFLOP/s here, 512 rows at 81-87 (best of 300).
const KC: usize = 1024;

/// Above this many floats of B, `PackedMat::pack` spreads panels over rayon's threads: at
/// encdec's and mid's sizes (90k and 64k floats), the packing of `W_hh` before each pass was
/// what the second thread waited on most.
const PARALLEL_MIN_PACK: usize = 1 << 16;

/// B `[k, n]` rearranged into 16-column panels, zero-padded past `n`; or, for a B whose
/// whole panels the products read in place (`reads_in_place`), its last, partial panel only.
pub struct PackedMat {
    k: usize,
    n: usize,
    data: Vec<f32>,
    /// Whether `pack` left the whole panels to be read in place from the B it was given.
    in_place: bool,
    /// Where that B lies (its data's address and its strides), so that `with` takes no other.
    packed_from: (usize, usize, usize),
}

/// A `PackedMat` as the products read it: with the B it was packed from, whose whole panels
/// they may read in place (`PackedMat::with`), or alone when every panel is packed
/// (`PackedMat::whole`).
#[derive(Clone, Copy)]
pub struct PackedB<'a> {
    packed: &'a PackedMat,
    source: Option<Mat<'a>>,
}

impl PackedMat {
    /// Room for a packed `[k, n]` matrix. Allocates; `pack` does not.
    pub fn new(k: usize, n: usize) -> PackedMat {
        PackedMat {
            k,
            n,
            data: vec![0.0; PackedMat::floats_for(k, n)],
            in_place: false,
            packed_from: (0, 0, 0),
        }
    }

    /// Floats `new` allocates for `[k, n]`, padding included, counted without allocating.
    pub fn floats_for(k: usize, n: usize) -> usize {
        n.div_ceil(NR) * k * NR
    }

    /// Floats held, padding included.
    pub fn floats(&self) -> usize {
        self.data.len()
    }

    /// Rearranges `b` into the panels: all of them, or, when its whole panels can be read in
    /// place (`reads_in_place`), the last one if it is partial. The products then take `b`
    /// again (`with`).
    pub fn pack(&mut self, b: Mat) {
        self.check(b);
        self.in_place = reads_in_place(b);
        self.packed_from = place(b);
        if self.k == 0 {
            return;
        }
        let (k, n) = (self.k, self.n);
        let pack = |(panel_index, panel): (usize, &mut [f32])| {
            let col = panel_index * NR;
            pack_panel(panel, b, (0, k), col, NR.min(n - col));
        };
        if self.in_place {
            let last = n / NR;
            if n % NR != 0 {
                pack((last, &mut self.data[last * k * NR..]));
            }
        } else if k * n >= PARALLEL_MIN_PACK {
            self.data
                .par_chunks_exact_mut(k * NR)
                .enumerate()
                .for_each(pack);
        } else {
            self.data
                .chunks_exact_mut(k * NR)
                .enumerate()
                .for_each(pack);
        }
    }

    /// This matrix with `b`, the B it was packed from, for the products.
    pub fn with<'a>(&'a self, b: Mat<'a>) -> PackedB<'a> {
        self.check(b);
        assert!(
            place(b) == self.packed_from,
            "packed B: `with` takes the B that was packed"
        );
        PackedB {
            packed: self,
            source: Some(b),
        }
    }

    /// This matrix for the products when every panel is packed, as for a transposed B.
    pub fn whole(&self) -> PackedB<'_> {
        assert!(
            !self.in_place,
            "packed B: the whole panels are read in place"
        );
        PackedB {
            packed: self,
            source: None,
        }
    }

    fn check(&self, b: Mat) {
        assert!(
            b.rows == self.k && b.cols == self.n && b.fits(),
            "packed B: B is {}x{} or reaches past its slice, room for {}x{}",
            b.rows,
            b.cols,
            self.k,
            self.n
        );
    }
}

/// Where a B lies: its data's address and its strides.
fn place(b: Mat) -> (usize, usize, usize) {
    (b.data.as_ptr() as usize, b.row_stride, b.col_stride)
}

impl PackedB<'_> {
    /// Rows `k0..k1` of `panel` as the micro-kernels read them.
    fn panel(&self, panel: usize, (k0, k1): (usize, usize)) -> Panel<'_> {
        let (k, n) = (self.packed.k, self.packed.n);
        let col = panel * NR;
        match self.source {
            Some(b) if self.packed.in_place && col + NR <= n => Panel {
                data: &b.data[k0 * b.row_stride + col..],
                stride: b.row_stride,
            },
            _ => Panel::packed(&self.packed.data[panel * k * NR..][k0 * NR..k1 * NR]),
        }
    }
}

/// Rows `k0..k1` of B's columns `col..col + width` into `panel`, zeros past `width`.
fn pack_panel(panel: &mut [f32], b: Mat, (k0, k1): (usize, usize), col: usize, width: usize) {
    let block = Mat {
        data: &b.data[k0 * b.row_stride..],
        rows: k1 - k0,
        ..b
    };
    if b.col_stride == 1 {
        pack_rows(panel, block, col, width);
    } else {
        pack_columns(panel, block, col, width);
    }
}

/// Whether `gemm_packing` reads B's whole panels where they lie rather than packing them: when
/// B's rows are contiguous and their stride is not a multiple of 64 floats. Packing is a
/// pass over B that these products then read from cache a few times at most; but rows at a
/// stride of a multiple of 256 bytes fall into few of L1's sets and evict each other. In
/// place, encdec's step (B 600 and 100 floats wide) took 4 % less time; mid's (512) took 3 %
/// more, so it packs (train_step, one thread, one sitting).
fn reads_in_place(b: Mat) -> bool {
    b.col_stride == 1 && !b.row_stride.is_multiple_of(64)
}

/// Whether `gemm_packing` copies A's blocks of k before multiplying, when its room holds them
/// (`gemm::room_for_transposed_a` sizes it so): when A is a transposed view (the weight
/// gradients' `xᵀ` and `h_prevᵀ`) of `m` rows whose stride along k, like `m`, is a multiple of
/// 64 floats. A micro-tile reads one line of A at each k, so at such a stride its lines fall
/// into a few of L1's and L2's sets and evict each other; copied at a stride of `m + 16`, they
/// do not (one thread: `dW_hh` at large 195 -> 213 GFLOP/s, `dW_ih` 180 -> 193, large's step
/// 262 -> 251 ms; the copy is one pass over A against the micro-kernel's `n / 32`).
fn copies_a(a: Mat) -> bool {
    a.row_stride == 1 && a.rows.is_multiple_of(64) && a.col_stride.is_multiple_of(64)
}

/// Floats of room that the copies of a transposed A `[m, k']` take for any `k'` up to `k`
/// (`copies_a`): one block of k at a stride of `m + 16`.
pub fn copy_room(m: usize, k: usize) -> usize {
    k.min(KC) * (m + 16)
}

/// Floats of room `gemm_packing` uses for `A [m, k]·B [k, n]`: B's panels for one block of
/// k, and when A is copied (`copies_a`) its block after them.
fn room_used(m: usize, k: usize, n: usize, copied: bool) -> usize {
    let a_block = if copied { block_len(k) * (m + 16) } else { 0 };
    n.div_ceil(NR) * block_len(k) * NR + a_block
}

/// Columns `k0..k1` of a transposed A (`copies_a`), copied into `room` at a stride of
/// `a.rows + 16`: A's rows are the columns of the row-major matrix it views, so each of its
/// columns is a contiguous run of `a.rows` floats.
fn copy_a_block<'a>(
    a: Mat,
    (k0, k1): (usize, usize),
    room: &'a mut [f32],
    parallel: bool,
) -> Mat<'a> {
    let (m, stride) = (a.rows, a.rows + 16);
    let room = &mut room[..(k1 - k0) * stride];
    let copy = |(p, dst): (usize, &mut [f32])| {
        let at = (k0 + p) * a.col_stride;
        dst[..m].copy_from_slice(&a.data[at..at + m]);
    };
    if parallel {
        room.par_chunks_exact_mut(stride).enumerate().for_each(copy);
    } else {
        room.chunks_exact_mut(stride).enumerate().for_each(copy);
    }
    Mat {
        data: room,
        rows: m,
        cols: k1 - k0,
        row_stride: 1,
        col_stride: stride,
    }
}

/// Columns `col..col + width` of B's rows `k0..k1` as a panel: read in place when
/// `in_place` and the panel is whole, else packed into `slot`.
fn panel_of<'a>(
    slot: &'a mut [f32],
    b: Mat<'a>,
    (k0, k1): (usize, usize),
    col: usize,
    width: usize,
    in_place: bool,
) -> Panel<'a> {
    if in_place && width == NR {
        Panel {
            data: &b.data[k0 * b.row_stride + col..],
            stride: b.row_stride,
        }
    } else {
        pack_panel(slot, b, (k0, k1), col, width);
        Panel::packed(slot)
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
            // A reused room holds another product's floats there; zeros keep the unused
            // accumulator lanes finite.
            row[width..].fill(0.0);
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
    // What the blocks left, column by column: B's columns are the contiguous ones.
    for j in 0..width {
        let (first, src) = (if j < width8 { k8 } else { 0 }, (col + j) * b.col_stride);
        for p in first..k {
            panel[p * NR + j] = b.data[src + p * b.row_stride];
        }
    }
    if width < NR {
        for row in panel.chunks_exact_mut(NR) {
            row[width..].fill(0.0);
        }
    }
}

/// `C = A·B`, or `C += A·B` when `accumulate`, with B packed. `A [m, k]`, `C [m, n]`.
pub fn gemm_packed(c: &mut MatMut, a: Mat, b: PackedB, accumulate: bool) {
    gemm_packed_on(Isa::best(), c, a, b, accumulate);
}

/// `gemm_packed` on a given instruction set, which must run here.
pub fn gemm_packed_on(isa: Isa, c: &mut MatMut, a: Mat, b: PackedB, accumulate: bool) {
    let split = c.rows * b.packed.n * b.packed.k >= PARALLEL_MIN_MACS;
    multiply_packed(isa, c, a, b, accumulate, split);
}

/// `gemm_packed` on the calling thread alone, for a caller that has already given each
/// thread its share (rows of C).
pub fn gemm_packed_here(c: &mut MatMut, a: Mat, b: PackedB, accumulate: bool) {
    multiply_packed(Isa::best(), c, a, b, accumulate, false);
}

/// `gemm_packed_on`, its panels spread over rayon's threads when `split`.
fn multiply_packed(isa: Isa, c: &mut MatMut, a: Mat, b: PackedB, accumulate: bool, split: bool) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    let (k, n) = (b.packed.k, b.packed.n);
    check_product(c, a, k, n);
    if k == 0 {
        clear_unless(c, accumulate);
        return;
    }
    let out = SharedOut::new(c.data);
    let (m, row_stride) = (c.rows, c.row_stride);
    let panels = n.div_ceil(NR);
    let per_task = panels_per_task(isa);
    let run = |task: usize| {
        let _ftz = FlushDenormals::new();
        let first = task * per_task;
        for (k0, k1) in k_blocks(k) {
            let tile = |panel| Tile::new(row_stride, n, panel, (k0, k1), accumulate || k0 > 0);
            let block = |panel| b.panel(panel, (k0, k1));
            let right =
                (per_task == 2 && first + 1 < panels).then(|| (tile(first + 1), block(first + 1)));
            tile(first).task(isa, right, out, m, a, block(first));
        }
    };
    let tasks = panels.div_ceil(per_task);
    if split {
        (0..tasks).into_par_iter().for_each(run);
    } else {
        (0..tasks).for_each(run);
    }
}

/// Panels a task multiplies: on AVX-512 two side by side, so that each broadcast of A feeds
/// two FMAs.
fn panels_per_task(isa: Isa) -> usize {
    match isa {
        Isa::Avx2 => 1,
        Isa::Avx512 => 2,
    }
}

/// Floats of room that `gemm_packing` needs for any B of `n` columns and up to `k` rows:
/// one block of k, all panels.
pub fn packing_room(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * k.min(KC) * NR
}

/// `C = A·B`, or `C += A·B` when `accumulate`, packing B into `room` one block of k at a
/// time: each task packs its panel's block, then multiplies it while it is in cache; or reads
/// the whole panels of a row-major B in place (`reads_in_place`).
pub fn gemm_packing(c: &mut MatMut, a: Mat, b: Mat, accumulate: bool, room: &mut [f32]) {
    gemm_packing_on(Isa::best(), c, a, b, accumulate, room);
}

/// `gemm_packing` on a given instruction set, which must run here.
pub fn gemm_packing_on(
    isa: Isa,
    c: &mut MatMut,
    a: Mat,
    b: Mat,
    accumulate: bool,
    room: &mut [f32],
) {
    assert!(isa.runs_here(), "{isa:?} is not available");
    let (k, n) = (b.rows, b.cols);
    check_product(c, a, k, n);
    let panels_len = room_used(a.rows, k, n, false);
    assert!(
        room.len() >= panels_len,
        "packing room: {} floats, {panels_len} needed",
        room.len()
    );
    let copies = copies_a(a) && room.len() >= room_used(a.rows, k, n, true);
    if k == 0 {
        clear_unless(c, accumulate);
        return;
    }
    let out = SharedOut::new(c.data);
    let (m, row_stride) = (c.rows, c.row_stride);
    let parallel = m * n * k >= PARALLEL_MIN_MACS;
    let per_task = panels_per_task(isa);
    let in_place = reads_in_place(b);
    let (room, a_room) = room.split_at_mut(panels_len);
    for (k0, k1) in k_blocks(k) {
        let panel_len = (k1 - k0) * NR;
        // A copied holds only the block, so the tiles index its k from 0.
        let (a, a_k) = if copies {
            (copy_a_block(a, (k0, k1), a_room, parallel), (0, k1 - k0))
        } else {
            (a, (k0, k1))
        };
        let run = |(task, slots): (usize, &mut [f32])| {
            let _ftz = FlushDenormals::new();
            let first = task * per_task;
            let tile = |panel| Tile::new(row_stride, n, panel, a_k, accumulate || k0 > 0);
            let mut panels = slots
                .chunks_exact_mut(panel_len)
                .enumerate()
                .map(|(offset, slot)| {
                    let col = (first + offset) * NR;
                    panel_of(slot, b, (k0, k1), col, NR.min(n - col), in_place)
                });
            let block = panels.next().expect("a task has a panel");
            let right = panels.next().map(|right| (tile(first + 1), right));
            tile(first).task(isa, right, out, m, a, block);
        };
        let slots = &mut room[..n.div_ceil(NR) * panel_len];
        if parallel {
            slots
                .par_chunks_mut(per_task * panel_len)
                .enumerate()
                .for_each(run);
        } else {
            slots
                .chunks_mut(per_task * panel_len)
                .enumerate()
                .for_each(run);
        }
    }
}

fn check_product(c: &MatMut, a: Mat, k: usize, n: usize) {
    assert!(
        a.rows == c.rows && a.cols == k && n == c.cols,
        "packed gemm shapes: A {}x{}, B {}x{}, C {}x{}",
        a.rows,
        a.cols,
        k,
        n,
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
}

/// `C = A·B` for an empty k: zeros, or C unchanged when accumulating.
fn clear_unless(c: &mut MatMut, accumulate: bool) {
    if !accumulate {
        for row in 0..c.rows {
            c.data[row * c.row_stride..row * c.row_stride + c.cols].fill(0.0);
        }
    }
}

/// The length of k's blocks: `KC` at most, and all but the last the same. Cut evenly
/// (600 as 300 and 300, not 512 and 88) so that no block is too short to pay for its pass
/// over C.
fn block_len(k: usize) -> usize {
    k.div_ceil(k.div_ceil(KC).max(1))
}

/// k's blocks as `(k0, k1)`.
fn k_blocks(k: usize) -> impl Iterator<Item = (usize, usize)> {
    let len = block_len(k);
    (0..k.div_ceil(len.max(1))).map(move |i| (i * len, k.min((i + 1) * len)))
}

/// Runs `$tile.$run::<R>(args..., row)` on each micro-tile of `$m` rows, as `tile_rows` cuts
/// them by the last of the listed sizes, R the tile's rows (a const generic, so one copy of
/// the kernel per size).
macro_rules! each_tile {
    ($m:expr, [$($rows:literal)*] $most:ident, $tile:ident.$run:ident $args:tt) => {{
        let mut row = 0;
        for rows in tile_rows($m, $most) {
            match rows {
                $($rows => each_tile!(@call $tile.$run::<$rows> $args row),)*
                _ => each_tile!(@call $tile.$run::<$most> $args row),
            }
            row += rows;
        }
    }};
    (@call $tile:ident.$run:ident::<$r:tt> ($($arg:expr),*) $row:ident) => {
        $tile.$run::<$r>($($arg,)* $row)
    };
}

/// How `m` rows are cut into micro-tiles of `mr` rows, except that a last tile too short to
/// hide the FMA latency (fewer than 8 accumulators: one to three rows of the AVX2 kernel's
/// two, one to seven of the AVX-512 kernel's one) is merged with the tile before and the two
/// split evenly (32 rows by 6: 6, 6, 6, 6, 4, 4 rather than 6, 6, 6, 6, 6, 2).
fn tile_rows(m: usize, mr: usize) -> impl Iterator<Item = usize> {
    let short = if mr == MR { 3 } else { 7 };
    let (mut full, rest) = (m / mr, m % mr);
    let last = if full > 0 && (1..=short).contains(&rest) {
        full -= 1;
        let merged = mr + rest;
        [merged - merged / 2, merged / 2]
    } else {
        [rest, 0]
    };
    std::iter::repeat_n(mr, full).chain(last.into_iter().filter(|&rows| rows > 0))
}

/// A panel's rows `k0..k1` of B as the micro-kernels read them: row p's 16 floats at
/// `data[p * stride..]`. Packed, `stride` is `NR`; read in place from a row-major B, B's row
/// stride.
#[derive(Clone, Copy)]
struct Panel<'a> {
    data: &'a [f32],
    stride: usize,
}

impl<'a> Panel<'a> {
    fn packed(block: &'a [f32]) -> Panel<'a> {
        Panel {
            data: block,
            stride: NR,
        }
    }

    /// Whether `len` rows of 16 floats lie in `data`.
    fn holds(&self, len: usize) -> bool {
        len == 0 || (len - 1) * self.stride + NR <= self.data.len()
    }
}

/// Where a panel's micro-tiles sit: columns `col..col + width` of C, against columns
/// `k0..k1` of A (the block's k, or from 0 in a block `copies_a` copied).
struct Tile {
    c_row_stride: usize,
    col: usize,
    width: usize,
    k0: usize,
    k1: usize,
    accumulate: bool,
}

impl Tile {
    fn new(
        c_row_stride: usize,
        n: usize,
        panel: usize,
        (k0, k1): (usize, usize),
        accumulate: bool,
    ) -> Tile {
        let col = panel * NR;
        Tile {
            c_row_stride,
            col,
            width: NR.min(n - col),
            k0,
            k1,
            accumulate,
        }
    }

    /// Prefetches the lines of C the tile will write, `width` floats from its column in each of
    /// `rows`, before its loop over k, which then hides their wait: C's lines are mostly in no
    /// core's cache (a product's C is larger than L2, or another core read it last), and the
    /// AVX-512 kernels' stores at the tile's end stalled on them (one thread: x·W_ih at large
    /// 190 -> 240 GFLOP/s, the recurrent product 216 -> 225, large's step 283 -> 265 ms). The
    /// AVX2 kernel, at half the FMAs a cycle, gained nothing (125 -> 127 GFLOP/s).
    #[inline(always)]
    fn prefetch_rows(&self, c: SharedOut, rows: Range<usize>, width: usize) {
        for row in rows {
            c.prefetch(row * self.c_row_stride + self.col, width);
        }
    }

    /// A task's panels against their blocks: this one alone, or on AVX-512 with the next
    /// (`right`), each broadcast of A feeding both.
    fn task(
        &self,
        isa: Isa,
        right: Option<(Tile, Panel)>,
        c: SharedOut,
        m: usize,
        a: Mat,
        block: Panel,
    ) {
        match (isa, right) {
            (_, None) => self.rows(isa, c, m, a, block),
            // SAFETY: the entry points assert `isa.runs_here()`, so the CPU has AVX-512F.
            (Isa::Avx512, Some((right, right_block))) => unsafe {
                self.rows_pair_avx512(&right, c, m, a, block, right_block)
            },
            (Isa::Avx2, Some(_)) => unreachable!("AVX2 tasks take one panel (`panels_per_task`)"),
        }
    }

    /// Every row of C against `block`, the panel's rows `k0..k1`.
    fn rows(&self, isa: Isa, c: SharedOut, m: usize, a: Mat, block: Panel) {
        match isa {
            Isa::Avx2 => self.rows_avx2(c, m, a, block),
            // SAFETY: the entry points assert `isa.runs_here()`, so the CPU has AVX-512F.
            Isa::Avx512 => unsafe { self.rows_avx512(c, m, a, block) },
        }
    }

    fn rows_avx2(&self, c: SharedOut, m: usize, a: Mat, block: Panel) {
        each_tile!(m, [1 2 3 4 5] MR, self.run(c, a, block));
    }

    /// `C[row..row+R, col..col+width] (+)= A[row..row+R, k0..k1]·block`.
    ///
    /// The products sum from zero and are then added to C, as BLAS-style kernels do, so that
    /// a block's sum does not depend on what C held.
    /// C is written through its raw pointer: tiles of other panels, maybe on other threads,
    /// write other columns of the same rows, so no `&mut` to a row may exist. The callers
    /// checked that every row and column of the tile lies inside C.
    #[inline(always)]
    fn run<const R: usize>(&self, c: SharedOut, a: Mat, block: Panel, row: usize) {
        let mut acc = [[f32x8::ZERO; 2]; R];
        let len = self.k1 - self.k0;
        assert!(block.holds(len) && row + R <= a.rows && self.k1 <= a.cols);
        let (a_ptr, b_ptr, stride) = (a.data.as_ptr(), block.data.as_ptr(), block.stride);
        for p in 0..len {
            // SAFETY: p < len and the assert above bound both reads.
            let (b0, b1) = unsafe {
                (
                    read8(b_ptr.add(p * stride)),
                    read8(b_ptr.add(p * stride + 8)),
                )
            };
            let at = (self.k0 + p) * a.col_stride;
            for (r, pair) in acc.iter_mut().enumerate() {
                let a_value = f32x8::splat(unsafe { *a_ptr.add((row + r) * a.row_stride + at) });
                pair[0] = a_value.mul_add(b0, pair[0]);
                pair[1] = a_value.mul_add(b1, pair[1]);
            }
        }
        let halves = [(0, self.width.min(8)), (8, self.width.saturating_sub(8))];
        for (r, pair) in acc.iter().enumerate() {
            let at = (row + r) * self.c_row_stride + self.col;
            for (&(offset, lanes), &sum) in halves.iter().zip(pair) {
                if lanes == 0 {
                    continue;
                }
                // SAFETY: inside C (see above); no other tile touches these columns.
                unsafe {
                    let value = if self.accumulate {
                        load_raw(c.at(at + offset), lanes) + sum
                    } else {
                        sum
                    };
                    store_raw(c.at(at + offset), lanes, value);
                }
            }
        }
    }

    /// `rows` with the AVX-512 micro-kernel.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_avx512(&self, c: SharedOut, m: usize, a: Mat, block: Panel) {
        // SAFETY: the caller's AVX-512F; each tile lies in C as for `run`.
        unsafe { each_tile!(m, [1 2 3 4 5 6 7 8 9 10 11] MR_512, self.run_avx512(c, a, block)) }
    }

    /// `rows_avx512` for this panel and `right`, the next, at once: two accumulators a row,
    /// each broadcast of A feeding both.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_pair_avx512(
        &self,
        right: &Tile,
        c: SharedOut,
        m: usize,
        a: Mat,
        block: Panel,
        right_block: Panel,
    ) {
        let blocks = (block, right_block);
        // SAFETY: the caller's AVX-512F; each tile lies in C as for `run`.
        unsafe {
            each_tile!(m, [1 2 3 4 5 6 7 8 9 10 11] MR_512, self.run_pair_avx512(right, c, a, blocks))
        }
    }

    /// `run_avx512` for two panels: the same chain of multiply-adds for every element.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn run_pair_avx512<const R: usize>(
        &self,
        right: &Tile,
        c: SharedOut,
        a: Mat,
        (block, right_block): (Panel, Panel),
        row: usize,
    ) {
        use std::arch::x86_64::{
            _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        };
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let len = self.k1 - self.k0;
        assert!(block.holds(len) && right_block.holds(len));
        assert!(
            row + R <= a.rows && self.k1 <= a.cols && (right.k0, right.k1) == (self.k0, self.k1)
        );
        let (a_ptr, b_ptr, right_ptr) = (
            a.data.as_ptr(),
            block.data.as_ptr(),
            right_block.data.as_ptr(),
        );
        let (stride, right_stride) = (block.stride, right_block.stride);
        self.prefetch_rows(c, row..row + R, NR + right.width);
        for p in 0..len {
            // SAFETY: p < len and the asserts above bound every read.
            let (b0, b1) = unsafe {
                (
                    _mm512_loadu_ps(b_ptr.add(p * stride)),
                    _mm512_loadu_ps(right_ptr.add(p * right_stride)),
                )
            };
            let at = (self.k0 + p) * a.col_stride;
            for (r, pair) in acc.iter_mut().enumerate() {
                let a_value = _mm512_set1_ps(unsafe { *a_ptr.add((row + r) * a.row_stride + at) });
                pair[0] = _mm512_fmadd_ps(a_value, b0, pair[0]);
                pair[1] = _mm512_fmadd_ps(a_value, b1, pair[1]);
            }
        }
        for (r, pair) in acc.iter().enumerate() {
            // SAFETY: the caller's AVX-512F; each tile lies in C.
            unsafe {
                self.store_avx512(c, row + r, pair[0]);
                right.store_avx512(c, row + r, pair[1]);
            }
        }
    }

    /// Row `row` of this tile's columns of C `(+)= sum`, masked to its width.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, and the row lie in C.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store_avx512(&self, c: SharedOut, row: usize, sum: std::arch::x86_64::__m512) {
        use std::arch::x86_64::{
            __mmask16, _mm512_add_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        };
        let mask: __mmask16 = if self.width >= NR {
            u16::MAX
        } else {
            (1 << self.width) - 1
        };
        // SAFETY: inside C (see `run`); masked lanes are neither read nor written.
        unsafe {
            let at = c.at(row * self.c_row_stride + self.col);
            let value = if self.accumulate {
                _mm512_add_ps(_mm512_maskz_loadu_ps(mask, at), sum)
            } else {
                sum
            };
            _mm512_mask_storeu_ps(at, mask, value);
        }
    }

    /// `run` with one 512-bit accumulator a row: the same fused multiply-adds, lane for lane,
    /// in the same order, so the same bits.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn run_avx512<const R: usize>(&self, c: SharedOut, a: Mat, block: Panel, row: usize) {
        use std::arch::x86_64::{
            _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        };
        let mut acc = [_mm512_setzero_ps(); R];
        let len = self.k1 - self.k0;
        assert!(block.holds(len) && row + R <= a.rows && self.k1 <= a.cols);
        let (a_ptr, b_ptr, stride) = (a.data.as_ptr(), block.data.as_ptr(), block.stride);
        self.prefetch_rows(c, row..row + R, self.width);
        for p in 0..len {
            // SAFETY: p < len and the assert above bound both reads.
            let b = unsafe { _mm512_loadu_ps(b_ptr.add(p * stride)) };
            let at = (self.k0 + p) * a.col_stride;
            for (r, sum) in acc.iter_mut().enumerate() {
                let a_value = _mm512_set1_ps(unsafe { *a_ptr.add((row + r) * a.row_stride + at) });
                *sum = _mm512_fmadd_ps(a_value, b, *sum);
            }
        }
        for (r, &sum) in acc.iter().enumerate() {
            // SAFETY: the caller's AVX-512F; the row lies in C (see `run`).
            unsafe { self.store_avx512(c, row + r, sum) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::{room_for, room_for_transposed_a};

    /// The room sized for k holds what every product up to k uses, A's copy included: a
    /// recurrent layer's `dW_hh` runs on fewer rows than its room was sized for (its first
    /// step skipped from a zero state), and blocks of k are not longer for a longer k (1088
    /// is cut as 544 and 544, 1024 is one block).
    #[test]
    fn the_room_for_k_holds_every_shorter_product() {
        for (m, n) in [(64, 3), (128, 512), (256, 2048)] {
            for k in (1..3200).step_by(7) {
                let room = room_for_transposed_a(m, k, n, true);
                let rows_room = room_for(m, k, n, true);
                for shorter in [k / 2, k.saturating_sub(64), k.saturating_sub(1), k] {
                    if room_for(m, shorter, n, true) > 0 {
                        assert!(
                            room_used(m, shorter, n, true) <= room,
                            "{m}x{shorter}x{n} in {k}"
                        );
                        assert!(
                            room_used(m, shorter, n, false) <= rows_room,
                            "{m}x{shorter}x{n}"
                        );
                    }
                }
            }
        }
    }

    /// A weight gradient's transposed A is copied at widths of multiples of 64, and read in
    /// place elsewhere.
    #[test]
    fn transposed_a_is_copied_where_its_stride_aliases() {
        let data = vec![0.0; 1000 * 256];
        let copied = |rows: usize| copies_a(Mat::new(&data, 1000, rows).t());
        assert!(copied(64) && copied(128) && copied(256));
        assert!(!copied(150) && !copied(100) && !copies_a(Mat::new(&data, 256, 1000)));
    }
}
