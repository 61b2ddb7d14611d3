//! Loads and stores of up to 8 lanes, for rows whose length is not a multiple of 8, and the
//! output pointer that threads writing disjoint columns of one matrix share.

use wide::f32x8;

/// `dst += src`, elementwise.
pub fn add_into(dst: &mut [f32], src: &[f32]) {
    for j in (0..dst.len()).step_by(8) {
        let n = 8.min(dst.len() - j);
        store(dst, j, n, load(dst, j, n) + load(src, j, n));
    }
}

/// Up to 8 floats from `data[at..]`, zero-padded.
#[inline(always)]
pub fn load(data: &[f32], at: usize, n: usize) -> f32x8 {
    if n == 8 {
        f32x8::from(<[f32; 8]>::try_from(&data[at..at + 8]).unwrap())
    } else {
        let mut lanes = [0.0; 8];
        for (lane, &x) in lanes.iter_mut().zip(&data[at..at + n]) {
            *lane = x;
        }
        f32x8::from(lanes)
    }
}

/// The first `n` lanes of `value` into `data[at..]`.
#[inline(always)]
pub fn store(data: &mut [f32], at: usize, n: usize, value: f32x8) {
    // A copy of a length known only at run time becomes a call to memmove: keep the full
    // vector, by far the common case, a fixed-size copy.
    if n == 8 {
        data[at..at + 8].copy_from_slice(&value.to_array());
    } else {
        data[at..at + n].copy_from_slice(&value.to_array()[..n]);
    }
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

/// An output matrix's data pointer, shared by tasks that write disjoint columns of it: no
/// `&mut` to a row may exist while they run, so they write through the pointer.
#[derive(Clone, Copy)]
pub struct SharedOut(*mut f32);

// SAFETY: users write disjoint elements (see `gemm::large` and `packed::gemm_packed`).
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
}
