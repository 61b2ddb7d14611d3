//! The dense layer, `y = x·W + b`, on any number of rows: the last step of a sequence
//! (`[B, K]`) or every step (`[T·B, K]`, Keras' `TimeDistributed(Dense)`).
//!
//! Shapes: `x [N, K]`, `W [K, O]`, `b [O]`, `y [N, O]`.

use crate::denormal::FlushDenormals;
use crate::gemm::{gemm, Mat, MatMut};
use crate::lanes::add_into;
use crate::lstm::{column_sums, transpose_into};

/// `y = x·W + b`.
pub fn dense_forward(x: &[f32], w: &[f32], b: &[f32], k: usize, o: usize, y: &mut [f32]) {
    let _ftz = FlushDenormals::new();
    let n = x.len() / k;
    assert_eq!(y.len(), n * o, "y must be [N, O]");
    gemm(
        &mut MatMut::new(y, n, o),
        Mat::new(x, n, k),
        Mat::new(w, k, o),
        false,
    );
    for row in y.chunks_exact_mut(o) {
        add_into(row, b);
    }
}

/// Writes `dW = xᵀ·dy`, `db = Σ_rows dy`, and `dx = dy·Wᵀ` when given, using
/// `w_t [O, K]` as room for `Wᵀ` so the product runs on the small kernel.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    k: usize,
    o: usize,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<(&mut [f32], &mut [f32])>,
) {
    let _ftz = FlushDenormals::new();
    let n = x.len() / k;
    let dy_mat = Mat::new(dy, n, o);
    gemm(
        &mut MatMut::new(dw, k, o),
        Mat::new(x, n, k).t(),
        dy_mat,
        false,
    );
    column_sums(dy, o, db);
    if let Some((dx, w_t)) = dx {
        transpose_into(w, k, o, w_t);
        gemm(
            &mut MatMut::new(dx, n, k),
            dy_mat,
            Mat::new(w_t, o, k),
            false,
        );
    }
}
