//! Matrix multiply in every form, on both paths, against the reference; and the same bits
//! whatever the number of threads.

use kernels::gemm::{
    gemm, gemm_via, room_for, room_for_transposed_a, GemmPath, Mat, MatMut, PARALLEL_MIN_MACS,
    SMALL_MAX_MACS,
};
use kernels::generic::matmul;
use kernels::packed::{copy_room, packing_room};
use proptest::prelude::*;

use crate::{assert_close, bits, floats, to_f64, with_threads};

/// Stores `m` as `[rows, cols]`, or transposed as `[cols, rows]` and viewed back through
/// `t()`, so one test covers A·B, Aᵀ·B, A·Bᵀ and Aᵀ·Bᵀ.
fn stored(m: &[f32], rows: usize, cols: usize, transposed: bool) -> Vec<f32> {
    if !transposed {
        return m.to_vec();
    }
    let mut t = vec![0.0; m.len()];
    kernels::lstm::transpose_into(m, rows, cols, &mut t);
    t
}

fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> Mat<'_> {
    if transposed {
        Mat::new(data, cols, rows).t()
    } else {
        Mat::new(data, rows, cols)
    }
}

/// A product's operands drawn from `seed`, A and B stored as `ta` and `tb` say, C's values
/// before it, and the reference's C after it.
struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c0: Vec<f32>,
    want: Vec<f32>,
}

fn operands(
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
    accumulate: bool,
    seed: u64,
) -> Operands {
    let a = floats(seed, m * k, 1.0);
    let b = floats(seed + 1, k * n, 1.0);
    let c0 = floats(seed + 2, m * n, 1.0);
    let mut want = c0.clone();
    matmul(&mut want, &a, &b, m, k, n, accumulate);
    Operands {
        a: stored(&a, m, k, ta),
        b: stored(&b, k, n, tb),
        c0,
        want,
    }
}

fn check(m: usize, k: usize, n: usize, ta: bool, tb: bool, accumulate: bool, seed: u64) {
    let Operands { a, b, c0, want } = operands((m, k, n), (ta, tb), accumulate, seed);
    let tolerance = 1e-6 * (k as f64 + 1.0);
    let (a_view, b_view) = (view(&a, m, k, ta), view(&b, k, n, tb));
    let b_unit_cols = b_view.col_stride == 1;
    let mut room = match ta {
        true => vec![0.0; room_for_transposed_a(m, k, n, b_unit_cols)],
        false => vec![0.0; room_for(m, k, n, b_unit_cols)],
    };
    // A transposed A whose stride aliases is copied, block by block, into the room.
    let copied = if ta && m.is_multiple_of(64) {
        copy_room(m, k)
    } else {
        0
    };
    let mut packed_room = vec![f32::NAN; packing_room(k, n) + copied];
    // Both paths, whatever `gemm` would pick: the small kernel needs B's columns adjacent.
    let mut paths = vec![GemmPath::Packed];
    if b_view.col_stride == 1 {
        paths.push(GemmPath::Small);
    }
    for path in paths {
        let mut got = c0.clone();
        gemm_via(
            path,
            &mut MatMut::new(&mut got, m, n),
            a_view,
            b_view,
            accumulate,
            &mut packed_room,
        );
        let what = format!("{path:?} {m}x{k}x{n} ta={ta} tb={tb} acc={accumulate}");
        assert_close(&what, &got, &to_f64(&want), tolerance, tolerance);
    }
    let mut got = c0;
    gemm(
        &mut MatMut::new(&mut got, m, n),
        a_view,
        b_view,
        accumulate,
        &mut room,
    );
    assert_close(
        &format!("chosen path {m}x{k}x{n}"),
        &got,
        &to_f64(&want),
        tolerance,
        tolerance,
    );
}

proptest! {
    #[test]
    fn small_shapes(m in 1usize..24, k in 0usize..40, n in 1usize..70, ta: bool, tb: bool, accumulate: bool, seed: u64) {
        check(m, k, n, ta, tb, accumulate, seed);
    }
}

#[test]
fn large_shapes_use_the_packed_path() {
    // (257, 257, 257) and (1001, 300, 40) run on threads; (1, 4096, 129) reads B in four
    // blocks of k. B's whole panels are read in place but at (40, 300, 128), whose stride
    // aliases in L1. At m = 64 and 128 a transposed A's stride aliases, so its blocks are
    // copied: (128, 2100, 33) in three.
    for (m, k, n) in [
        (65, 130, 300),
        (40, 300, 128),
        (1, 4096, 129),
        (257, 257, 257),
        (1001, 300, 40),
        (64, 300, 129),
        (128, 2100, 33),
    ] {
        assert!(m * k * n > SMALL_MAX_MACS);
        for (ta, tb) in [(false, false), (true, false), (false, true)] {
            check(m, k, n, ta, tb, true, (m * n) as u64);
        }
    }
}

#[test]
fn same_bits_with_one_thread_and_two() {
    for (m, k, n, ta) in [
        (64, 512, 1000, false),
        (1000, 512, 64, false),
        (128, 1500, 200, true),
    ] {
        same_bits_at(m, k, n, ta);
    }
}

/// A product wide (panels for every thread) or narrow (four panels) on threads; with `ta`, A
/// transposed (at m = 128, copied block by block).
fn same_bits_at(m: usize, k: usize, n: usize, ta: bool) {
    assert!(m * k * n >= PARALLEL_MIN_MACS);
    let a = floats(3, m * k, 1.0);
    let b = floats(4, k * n, 1.0);
    let run = |threads: usize| {
        let mut c = vec![0.0f32; m * n];
        let mut room = vec![0.0; room_for_transposed_a(m, k, n, true)];
        with_threads(threads, || {
            gemm(
                &mut MatMut::new(&mut c, m, n),
                view(&a, m, k, ta),
                Mat::new(&b, k, n),
                false,
                &mut room,
            )
        });
        c
    };
    let (one, two) = (bits(&run(1)), bits(&run(2)));
    assert!(one == two, "results differ between 1 and 2 threads");
}

proptest! {
    #[test]
    // k past 512 runs more than one block of k.
    fn packed_b_matches_reference(m in 1usize..20, k in 0usize..1100, n in 1usize..40, tb: bool, accumulate: bool, seed: u64) {
        let a = floats(seed, m * k, 1.0);
        let b = floats(seed + 1, k * n, 1.0);
        let c0 = floats(seed + 2, m * n, 1.0);
        let mut want = c0.clone();
        matmul(&mut want, &a, &b, m, k, n, accumulate);
        let b_store = stored(&b, k, n, tb);
        let mut packed = kernels::packed::PackedMat::new(k, n);
        packed.pack(view(&b_store, k, n, tb));
        let mut got = c0;
        let b_packed = packed.with(view(&b_store, k, n, tb));
        kernels::packed::gemm_packed(&mut MatMut::new(&mut got, m, n), Mat::new(&a, m, k), b_packed, accumulate);
        let tolerance = 1e-6 * (k as f64 + 1.0);
        assert_close(&format!("packed {m}x{k}x{n} tb={tb}"), &got, &to_f64(&want), tolerance, tolerance);
    }
}

proptest! {
    /// The AVX-512 micro-kernel (where this CPU has it) gives the AVX2 kernel's bits, with B
    /// packed once or per call: rows from 1 to past two of its 12-row tiles (the short last
    /// tiles it merges), partial panels, strided A and B, several blocks of k; and at 64 rows
    /// a transposed A, which the per-call path copies block by block and the packed-once path
    /// reads in place. Each result is also checked against the reference, so a CPU without
    /// AVX-512 still tests the AVX2 one.
    #[test]
    fn packed_kernels_give_the_same_bits_on_every_instruction_set(m in prop_oneof![1usize..30, Just(64)], k in 0usize..1100, n in 1usize..40, ta: bool, tb: bool, accumulate: bool, seed: u64) {
        same_bits_on_every_instruction_set(m, k, n, (ta, tb), accumulate, seed);
    }
}

/// A transposed A copied in three blocks of k, on every instruction set, against the same A
/// read in place.
#[test]
fn a_copied_block_by_block_gives_the_bits_of_a_read_in_place() {
    for accumulate in [false, true] {
        same_bits_on_every_instruction_set(128, 2100, 40, (true, false), accumulate, 11);
    }
}

fn same_bits_on_every_instruction_set(
    m: usize,
    k: usize,
    n: usize,
    (ta, tb): (bool, bool),
    accumulate: bool,
    seed: u64,
) {
    use kernels::packed::{gemm_packed_on, gemm_packing_on, Isa, PackedMat};
    let Operands { a, b, c0, want } = operands((m, k, n), (ta, tb), accumulate, seed);
    let (a_view, b_view) = (view(&a, m, k, ta), view(&b, k, n, tb));
    let mut packed = PackedMat::new(k, n);
    packed.pack(b_view);
    let copied = if ta { copy_room(m, k) } else { 0 };
    let mut room = vec![f32::NAN; packing_room(k, n) + copied];
    let tolerance = 1e-6 * (k as f64 + 1.0);
    let mut results = Vec::new();
    for isa in Isa::available() {
        let mut once = c0.clone();
        let b_once = packed.with(b_view);
        gemm_packed_on(
            isa,
            &mut MatMut::new(&mut once, m, n),
            a_view,
            b_once,
            accumulate,
        );
        let mut per_call = c0.clone();
        let c = &mut MatMut::new(&mut per_call, m, n);
        gemm_packing_on(isa, c, a_view, b_view, accumulate, &mut room);
        let what = format!("{isa:?} {m}x{k}x{n} ta={ta} tb={tb} acc={accumulate}");
        assert_close(&what, &once, &to_f64(&want), tolerance, tolerance);
        assert!(
            bits(&once) == bits(&per_call),
            "{what}: packed once and per call differ"
        );
        results.push((isa, bits(&once)));
    }
    for (isa, result) in &results[1..] {
        assert!(
            *result == results[0].1,
            "{isa:?} differs from {:?} at {m}x{k}x{n}",
            results[0].0
        );
    }
}

/// A packed B whose whole panels are read in place takes back the B it was packed from only:
/// another of the same shape would mix the two.
#[test]
#[should_panic(expected = "takes the B that was packed")]
fn packed_b_takes_back_only_its_own_b() {
    let (k, n) = (4, 20);
    let (first, second) = (floats(1, k * n, 1.0), floats(2, k * n, 1.0));
    let mut packed = kernels::packed::PackedMat::new(k, n);
    packed.pack(Mat::new(&first, k, n));
    packed.with(Mat::new(&second, k, n));
}

#[test]
fn packed_b_same_bits_with_one_thread_and_two() {
    let (m, k, n) = (64, 512, 1000);
    let (a, b) = (floats(5, m * k, 1.0), floats(6, k * n, 1.0));
    let mut packed = kernels::packed::PackedMat::new(k, n);
    packed.pack(Mat::new(&b, k, n));
    let run = |threads: usize| {
        let mut c = vec![0.0f32; m * n];
        with_threads(threads, || {
            kernels::packed::gemm_packed(
                &mut MatMut::new(&mut c, m, n),
                Mat::new(&a, m, k),
                packed.with(Mat::new(&b, k, n)),
                false,
            )
        });
        bits(&c)
    };
    assert!(run(1) == run(2), "results differ between 1 and 2 threads");
}

proptest! {
    /// Column sums give the bits of summing row by row from zero, in row order (the bias
    /// gradients' sums), at widths on either side of its blocks of 8 and 64 columns, on one
    /// thread and, for a matrix large enough to spread, on three.
    #[test]
    fn column_sums_add_row_by_row(rows in prop_oneof![0usize..40, 250usize..400], width in 1usize..150, seed: u64) {
        let m = floats(seed, rows * width, 1.0);
        let mut want = vec![0.0f32; width];
        for row in m.chunks_exact(width) {
            for (sum, &x) in want.iter_mut().zip(row) {
                *sum += x;
            }
        }
        for threads in [1, 3] {
            let mut got = vec![f32::NAN; width];
            with_threads(threads, || kernels::lstm::column_sums(&m, width, &mut got));
            prop_assert_eq!(bits(&got), bits(&want));
        }
    }
}

proptest! {
    /// Tiles of 16 with rows and columns on either side of a tile's edge.
    #[test]
    fn transpose_matches_definition(rows in 1usize..40, cols in 1usize..40, seed: u64) {
        let m = floats(seed, rows * cols, 1.0);
        let mut t = vec![0.0; rows * cols];
        kernels::lstm::transpose_into(&m, rows, cols, &mut t);
        for r in 0..rows {
            for c in 0..cols {
                prop_assert_eq!(t[c * rows + r].to_bits(), m[r * cols + c].to_bits());
            }
        }
    }
}
