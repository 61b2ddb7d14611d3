//! The dense layer, `y = x·W + b`, on any number of rows: the last step of a sequence
//! (`[B, K]`) or every step (`[T·B, K]`, Keras' `TimeDistributed(Dense)`).
//!
//! Shapes: `x [N, K]`, `W [K, O]`, `b [O]`, `y [N, O]`.

use crate::denormal::FlushDenormals;
use crate::gemm::{gemm, room_for, room_for_transposed_a, Mat, MatMut};
use crate::lanes::add_into;
use crate::lstm::{column_sums, transpose_into};

/// Floats of room `dense_forward` and `dense_backward` need on `n` rows (`gemm::room_for`
/// their products; `room_for_transposed_a` the weight gradient's `xᵀ·dy`).
pub fn dense_room(n: usize, k: usize, o: usize) -> usize {
    let forward = room_for(n, k, o, true);
    forward
        .max(room_for_transposed_a(k, n, o, true))
        .max(room_for(n, o, k, true))
}

/// `y = x·W + b`; `room` holds `dense_room` floats.
pub fn dense_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    (k, o): (usize, usize),
    y: &mut [f32],
    room: &mut [f32],
) {
    let _ftz = FlushDenormals::new();
    let n = x.len() / k;
    assert_eq!(y.len(), n * o, "y must be [N, O]");
    let (x, w) = (Mat::new(x, n, k), Mat::new(w, k, o));
    gemm(&mut MatMut::new(y, n, o), x, w, false, room);
    for row in y.chunks_exact_mut(o) {
        add_into(row, b);
    }
}

/// Writes `dW = xᵀ·dy`, `db = Σ_rows dy`, and `dx = dy·Wᵀ` when given, using
/// `w_t [O, K]` as room for `Wᵀ` so the product runs on the small kernel; `room` holds
/// `dense_room` floats.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (k, o): (usize, usize),
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<(&mut [f32], &mut [f32])>,
    room: &mut [f32],
) {
    let _ftz = FlushDenormals::new();
    let n = x.len() / k;
    let dy_mat = Mat::new(dy, n, o);
    let x_t = Mat::new(x, n, k).t();
    gemm(&mut MatMut::new(dw, k, o), x_t, dy_mat, false, room);
    column_sums(dy, o, db);
    if let Some((dx, w_t)) = dx {
        transpose_into(w, k, o, w_t);
        let w_t = Mat::new(w_t, o, k);
        gemm(&mut MatMut::new(dx, n, k), dy_mat, w_t, false, room);
    }
}
