//! Scalar references: every kernel of this crate written plainly, for clarity rather than
//! speed, with f64 accumulation. The tests check the SIMD kernels against these, and the
//! gradient checks differentiate these by finite differences.
//!
//! Dims legend and layouts as in the crate root: T steps, B batch, I input, H hidden,
//! gates `[4H]` in the order i, f, g, o.

mod activation;
mod gru;
mod lstm;
mod optim;
mod regression;

pub use activation::{activate, activation_derivative, sigmoid_bce};
pub use gru::{gru_backward, gru_forward, GruRefGrads, GruRefTape};
pub use lstm::{lstm_backward, lstm_forward, LstmRefTape};
pub use optim::{
    adamw, clip_by_global_norm, clip_by_norm, clip_by_value, rmsprop, sgd, sum_squares,
};
pub use regression::{mae, mse};

use crate::softmax::IGNORE;

/// `C (+)= A·B` for row-major `A [m, k]`, `B [k, n]`, `C [m, n]`.
pub fn matmul(c: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, accumulate: bool) {
    for i in 0..m {
        for j in 0..n {
            let mut sum = if accumulate {
                f64::from(c[i * n + j])
            } else {
                0.0
            };
            for p in 0..k {
                sum += f64::from(a[i * k + p]) * f64::from(b[p * n + j]);
            }
            c[i * n + j] = sum as f32;
        }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `y [N, O] = x [N, K]·W [K, O] + b [O]`.
pub fn dense_forward(x: &[f32], w: &[f32], b: &[f32], n: usize, k: usize, o: usize) -> Vec<f32> {
    let mut y = vec![0.0; n * o];
    matmul(&mut y, x, w, n, k, o, false);
    for row in y.chunks_mut(o) {
        for (value, bias) in row.iter_mut().zip(b) {
            *value += bias;
        }
    }
    y
}

/// Gradients of a dense layer: `(dW [K, O], db [O], dx [N, K])`.
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    n: usize,
    k: usize,
    o: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dw = vec![0.0; k * o];
    let mut db = vec![0.0; o];
    let mut dx = vec![0.0; n * k];
    for r in 0..n {
        for j in 0..o {
            let g = dy[r * o + j];
            db[j] += g;
            for p in 0..k {
                dw[p * o + j] += x[r * k + p] * g;
                dx[r * k + p] += w[p * o + j] * g;
            }
        }
    }
    (dw, db, dx)
}

/// Softmax of each row of `logits [N, C]` and the cross-entropy against class `targets`:
/// `(probs, loss per row, dlogits = probs - onehot)`. A row whose target is
/// [`IGNORE`](crate::softmax::IGNORE) has loss 0 and a zero `dlogits` row.
pub fn softmax_xent(
    logits: &[f32],
    classes: usize,
    targets: &[u32],
) -> (Vec<f32>, Vec<f64>, Vec<f32>) {
    let mut probs = Vec::with_capacity(logits.len());
    let mut losses = Vec::new();
    for (row, &target) in logits.chunks(classes).zip(targets) {
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
        let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
        for &x in row {
            probs.push(((f64::from(x) - max).exp() / sum) as f32);
        }
        if target == IGNORE {
            losses.push(0.0);
        } else {
            losses.push(sum.ln() + max - f64::from(row[target as usize]));
        }
    }
    let mut dlogits = probs.clone();
    for (r, &target) in targets.iter().enumerate() {
        let row = &mut dlogits[r * classes..(r + 1) * classes];
        if target == IGNORE {
            row.fill(0.0);
        } else {
            row[target as usize] -= 1.0;
        }
    }
    (probs, losses, dlogits)
}

/// One Keras Adam step (`step` counts from 1) on every parameter.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    step: u64,
) {
    let alpha = lr * (1.0 - beta2.powf(step as f64)).sqrt() / (1.0 - beta1.powf(step as f64));
    for i in 0..params.len() {
        let g = f64::from(grads[i]);
        let m_new = f64::from(m[i]) + (g - f64::from(m[i])) * (1.0 - beta1);
        let v_new = f64::from(v[i]) + (g * g - f64::from(v[i])) * (1.0 - beta2);
        m[i] = m_new as f32;
        v[i] = v_new as f32;
        params[i] = (f64::from(params[i]) - m_new * alpha / (v_new.sqrt() + epsilon)) as f32;
    }
}

/// `out[r] = table[index[r]]`, rows of `width`.
pub fn gather_rows(table: &[f32], width: usize, index: &[u32]) -> Vec<f32> {
    index
        .iter()
        .flat_map(|&i| {
            table[i as usize * width..(i as usize + 1) * width]
                .iter()
                .copied()
        })
        .collect()
}

/// An embedding's lookup: `table[index[r]]`, zeros for `IGNORE`.
pub fn embed_rows(table: &[f32], width: usize, index: &[u32]) -> Vec<f32> {
    let row = |i: u32| match i {
        IGNORE => vec![0.0; width],
        i => table[i as usize * width..(i as usize + 1) * width].to_vec(),
    };
    index.iter().flat_map(|&i| row(i)).collect()
}

/// An embedding's table gradient: each row the sum of the output gradients that read it.
pub fn embed_backward(dout: &[f32], width: usize, index: &[u32], rows: usize) -> Vec<f64> {
    let mut dtable = vec![0.0; rows * width];
    for (r, &i) in index.iter().enumerate() {
        if i == IGNORE {
            continue;
        }
        for j in 0..width {
            dtable[i as usize * width + j] += f64::from(dout[r * width + j]);
        }
    }
    dtable
}
