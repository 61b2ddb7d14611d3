//! Loads and stores of up to 8 lanes, for rows whose length is not a multiple of 8; eight
//! lanes widened to f64, for sums; and the output pointer that threads writing disjoint
//! columns of one matrix share.

use wide::{f32x8, f64x4};

/// `dst += src`, elementwise.
pub fn add_into(dst: &mut [f32], src: &[f32]) {
    for j in (0..dst.len()).step_by(8) {
        let n = 8.min(dst.len() - j);
        store(dst, j, n, load(dst, j, n) + load(src, j, n));
    }
}

/// The eight lanes of `x` as f64 (exact), the low four and the high four.
#[inline(always)]
pub fn widen(x: f32x8) -> [f64x4; 2] {
    let lanes = x.to_array();
    std::array::from_fn(|half| {
        f64x4::from(std::array::from_fn::<f64, 4, _>(|i| {
            f64::from(lanes[4 * half + i])
        }))
    })
}

/// Up to 8 floats from `data[at..]`, zero-padded.
#[inline(always)]
pub fn load(data: &[f32], at: usize, n: usize) -> f32x8 {
    let part = &data[at..at + n];
    // SAFETY: `part` holds the `n` floats read.
    unsafe { load_raw(part.as_ptr(), n) }
}

/// The first `n` lanes of `value` into `data[at..]`.
#[inline(always)]
pub fn store(data: &mut [f32], at: usize, n: usize, value: f32x8) {
    let part = &mut data[at..at + n];
    // SAFETY: `part` holds the `n` floats written.
    unsafe { store_raw(part.as_mut_ptr(), n, value) }
}

/// `load` through a pointer, for outputs that threads share (`SharedOut`).
///
/// # Safety
/// `ptr` must point at `n` (at most 8) readable floats.
#[inline(always)]
pub unsafe fn load_raw(ptr: *const f32, n: usize) -> f32x8 {
    if n == 8 {
        read8(ptr)
    } else {
        load_part(ptr, n)
    }
}

/// `store` through a pointer, for outputs that threads share (`SharedOut`).
///
/// # Safety
/// `ptr` must point at `n` (at most 8) writable floats that nothing else accesses meanwhile.
#[inline(always)]
pub unsafe fn store_raw(ptr: *mut f32, n: usize, value: f32x8) {
    if n == 8 {
        ptr.cast::<[f32; 8]>().write_unaligned(value.to_array());
    } else {
        store_part(ptr, n, value);
    }
}

// Rows whose length is not a multiple of 8 end in a partial vector. With AVX, a masked load
// or store moves it in one instruction and touches no float past the `n` (so never one that
// another thread is writing); without, lane by lane.

/// Eight all-ones lanes then eight zeros: the 8 lanes from `8 - n` enable the first `n`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
const MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline(always)]
fn mask(n: usize) -> std::arch::x86_64::__m256i {
    assert!(n <= 8);
    // SAFETY: 8 - n <= 8, so the 8 lanes read lie in MASKS.
    unsafe { std::arch::x86_64::_mm256_loadu_si256(MASKS[8 - n..].as_ptr().cast()) }
}

/// # Safety
/// As `load_raw`; a masked load neither reads nor faults on a disabled lane.
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline(always)]
unsafe fn load_part(ptr: *const f32, n: usize) -> f32x8 {
    bytemuck::cast(std::arch::x86_64::_mm256_maskload_ps(ptr, mask(n)))
}

/// # Safety
/// As `store_raw`; a masked store writes no disabled lane.
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline(always)]
unsafe fn store_part(ptr: *mut f32, n: usize, value: f32x8) {
    std::arch::x86_64::_mm256_maskstore_ps(ptr, mask(n), bytemuck::cast(value))
}

/// # Safety
/// As `load_raw`.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
#[inline(always)]
unsafe fn load_part(ptr: *const f32, n: usize) -> f32x8 {
    let mut lanes = [0.0; 8];
    lanes[..n].copy_from_slice(std::slice::from_raw_parts(ptr, n));
    f32x8::from(lanes)
}

/// # Safety
/// As `store_raw`.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
#[inline(always)]
unsafe fn store_part(ptr: *mut f32, n: usize, value: f32x8) {
    std::slice::from_raw_parts_mut(ptr, n).copy_from_slice(&value.to_array()[..n]);
}

/// Copies an 8×8 block transposed: the row at `src[src_at + i·src_stride..][..8]` becomes the
/// column of lane `i` in the rows at `dst[dst_at + j·dst_stride..][..8]`.
#[inline(always)]
pub fn transpose_block(
    src: &[f32],
    (src_at, src_stride): (usize, usize),
    dst: &mut [f32],
    (dst_at, dst_stride): (usize, usize),
) {
    let rows = std::array::from_fn(|i| load(src, src_at + i * src_stride, 8));
    for (j, column) in f32x8::transpose(rows).into_iter().enumerate() {
        store(dst, dst_at + j * dst_stride, 8, column);
    }
}

/// # Safety
/// `ptr` must point at 8 readable floats.
#[inline(always)]
pub unsafe fn read8(ptr: *const f32) -> f32x8 {
    f32x8::from(ptr.cast::<[f32; 8]>().read_unaligned())
}

/// Asks for the cache line holding `at` to be brought into this core's caches (`prefetcht0`):
/// a hint, which reads nothing the program sees and never faults, so `at` may lie past the end
/// of its buffer. (`prefetchw`, which asks for the line to write, measured the same.)
#[inline(always)]
pub fn prefetch(at: *const f32) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch accesses no memory architecturally, at any address.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
}

/// An output matrix's data pointer, shared by tasks that write disjoint columns of it: no
/// `&mut` to a row may exist while they run, so they write through the pointer.
#[derive(Clone, Copy)]
pub struct SharedOut(*mut f32);

// SAFETY: users write disjoint elements (see `packed::gemm_packed` and `gemm_packing`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub fn new(data: &mut [f32]) -> SharedOut {
        SharedOut(data.as_mut_ptr())
    }

    /// # Safety
    /// `offset` must lie inside the slice the pointer came from.
    #[inline(always)]
    pub unsafe fn at(self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }

    /// Prefetches the lines of the first and the last of the `floats` floats from `offset` on
    /// (`prefetch`): every line of up to 16 floats, or of 32 aligned to a line (of 32 that are
    /// not, the middle line is left out); the range may reach past the slice. (Prefetching
    /// each line of the range by a loop made the packed GEMM's tiles 8 % slower at large, one
    /// thread.)
    #[inline(always)]
    pub fn prefetch(self, offset: usize, floats: usize) {
        let start = self.0.wrapping_add(offset).cast_const();
        prefetch(start);
        prefetch(start.wrapping_add(floats.saturating_sub(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partial vectors read zeros past the slice and write nothing past it, at every length.
    #[test]
    fn partial_loads_and_stores_stay_inside_the_slice() {
        let data: Vec<f32> = (1..=16).map(|x| x as f32).collect();
        for n in 0..=8 {
            let got = load(&data, 3, n).to_array();
            let want: Vec<f32> = (0..8)
                .map(|j| if j < n { data[3 + j] } else { 0.0 })
                .collect();
            assert_eq!(got.to_vec(), want, "load of {n}");
            let mut out = vec![-1.0; 16];
            store(&mut out, 5, n, f32x8::splat(9.0));
            for (j, &x) in out.iter().enumerate() {
                let inside = (5..5 + n).contains(&j);
                assert_eq!(
                    x,
                    if inside { 9.0 } else { -1.0 },
                    "store of {n}, float {j}"
                );
            }
        }
    }
}
