//! The GRU layer over a sequence, in f64, step by step as the equations read (Keras
//! `GRU(reset_after=True)`, PyTorch `nn.GRU`), gates r, z, n of H each:
//!
//! `r = sigmoid(x_t·W_ir + b_ir + h_{t-1}·W_hr + b_hr)`,
//! `z = sigmoid(x_t·W_iz + b_iz + h_{t-1}·W_hz + b_hz)`,
//! `n = tanh(x_t·W_in + b_in + r·(h_{t-1}·W_hn + b_hn))`, `h_t = (1 - z)·n + z·h_{t-1}`.
//!
//! With a step mask `m [T, B]` (1 real, 0 padded), each row's new state is the blend
//! `h_t = m·h_new + (1−m)·h_{t-1}` (Keras' masking).
//!
//! With a recurrent mask `[B, H]` (Keras' `recurrent_dropout=`) every `h_{t-1}·W_h·` above
//! reads `h_{t-1}` times the mask instead; `z·h_{t-1}` and the masking blend read it
//! unmasked, as Keras' `GRUCell` does.

use super::lstm::{row_mask, Dims};
use super::sigmoid;

/// What forward keeps: activated gates r, z, n `[T, B, 3H]`, the recurrent part of n before
/// r scales it, `h_{t-1}·W_hn + b_hn` `[T, B, H]`, and `h` as `[T+1, B, H]` with the initial
/// state in slot 0.
#[derive(Clone, Debug)]
pub struct GruRefTape {
    pub gates: Vec<f64>,
    pub hn: Vec<f64>,
    pub h: Vec<f64>,
}

/// Gradients of every input of `gru_forward`.
#[derive(Clone, Debug)]
pub struct GruRefGrads {
    pub w_ih: Vec<f64>,
    pub w_hh: Vec<f64>,
    pub bias_ih: Vec<f64>,
    pub bias_hh: Vec<f64>,
    /// `[T, B, I]`.
    pub x: Vec<f64>,
    /// `[B, H]` the initial state's.
    pub h0: Vec<f64>,
}

/// `bias + v·W` for `v [k]`, `W [k, n]`.
fn affine(v: &[f64], w: &[f64], bias: &[f64]) -> Vec<f64> {
    let n = bias.len();
    let mut out = bias.to_vec();
    for (j, out_j) in out.iter_mut().enumerate() {
        for (p, v_p) in v.iter().enumerate() {
            *out_j += v_p * w[p * n + j];
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub fn gru_forward(
    dims: Dims,
    x: &[f64],
    w_ih: &[f64],
    w_hh: &[f64],
    bias_ih: &[f64],
    bias_hh: &[f64],
    h0: &[f64],
    mask: Option<&[f64]>,
    recurrent_mask: Option<&[f64]>,
) -> GruRefTape {
    let (steps, batch, input, hidden) = dims;
    let g3 = 3 * hidden;
    let mut tape = GruRefTape {
        gates: vec![0.0; steps * batch * g3],
        hn: vec![0.0; steps * batch * hidden],
        h: [h0.to_vec(), vec![0.0; steps * batch * hidden]].concat(),
    };
    for t in 0..steps {
        for b in 0..batch {
            let row = t * batch + b;
            let h_prev: Vec<f64> = tape.h[row * hidden..][..hidden].to_vec();
            let from_x = affine(&x[row * input..][..input], w_ih, bias_ih);
            let r_mask = row_mask(recurrent_mask, b, hidden);
            let masked: Vec<f64> = h_prev.iter().zip(&r_mask).map(|(h, r)| h * r).collect();
            let from_h = affine(&masked, w_hh, bias_hh);
            let m = mask.map_or(1.0, |mask| mask[row]);
            for j in 0..hidden {
                let r = sigmoid(from_x[j] + from_h[j]);
                let z = sigmoid(from_x[hidden + j] + from_h[hidden + j]);
                let hn = from_h[2 * hidden + j];
                let n = (from_x[2 * hidden + j] + r * hn).tanh();
                let gates = &mut tape.gates[row * g3..];
                gates[j] = r;
                gates[hidden + j] = z;
                gates[2 * hidden + j] = n;
                tape.hn[row * hidden + j] = hn;
                let h_new = (1.0 - z) * n + z * h_prev[j];
                tape.h[(row + batch) * hidden + j] = m * h_new + (1.0 - m) * h_prev[j];
            }
        }
    }
    tape
}

/// Gradients of every input given `dh_out [T, B, H]`, the gradient of the loss with
/// respect to every step's output, and forward's `mask` and `recurrent_mask`.
#[allow(clippy::too_many_arguments)]
pub fn gru_backward(
    dims: Dims,
    x: &[f64],
    w_ih: &[f64],
    w_hh: &[f64],
    tape: &GruRefTape,
    dh_out: &[f64],
    mask: Option<&[f64]>,
    recurrent_mask: Option<&[f64]>,
) -> GruRefGrads {
    let (steps, batch, input, hidden) = dims;
    let g3 = 3 * hidden;
    let mut grads = GruRefGrads {
        w_ih: vec![0.0; input * g3],
        w_hh: vec![0.0; hidden * g3],
        bias_ih: vec![0.0; g3],
        bias_hh: vec![0.0; g3],
        x: vec![0.0; steps * batch * input],
        h0: vec![0.0; batch * hidden],
    };
    // Becomes the initial state's gradient once step 0 has run.
    let dh_next = &mut grads.h0;
    for t in (0..steps).rev() {
        for b in 0..batch {
            let row = t * batch + b;
            let gates = &tape.gates[row * g3..][..g3];
            let h_prev = &tape.h[row * hidden..][..hidden];
            let r_mask = row_mask(recurrent_mask, b, hidden);
            // Gradients of the pre-activations from x (`dpre_x`) and from h (`dpre_h`): the
            // same for r and z; n's from h passes through r.
            let mut dpre_x = vec![0.0; g3];
            let mut dpre_h = vec![0.0; g3];
            let mut dh_prev = vec![0.0; hidden];
            let m = mask.map_or(1.0, |mask| mask[row]);
            for j in 0..hidden {
                let (r, z, n) = (gates[j], gates[hidden + j], gates[2 * hidden + j]);
                let dh_all = dh_out[row * hidden + j] + dh_next[b * hidden + j];
                let dh = m * dh_all;
                let dn = dh * (1.0 - z) * (1.0 - n * n);
                let dr = dn * tape.hn[row * hidden + j] * r * (1.0 - r);
                let dz = dh * (h_prev[j] - n) * z * (1.0 - z);
                dpre_x[j] = dr;
                dpre_x[hidden + j] = dz;
                dpre_x[2 * hidden + j] = dn;
                dpre_h[j] = dr;
                dpre_h[hidden + j] = dz;
                dpre_h[2 * hidden + j] = dn * r;
                dh_prev[j] = dh * z + (1.0 - m) * dh_all;
            }
            let x_row = &x[row * input..][..input];
            for k in 0..g3 {
                grads.bias_ih[k] += dpre_x[k];
                grads.bias_hh[k] += dpre_h[k];
                for p in 0..input {
                    grads.w_ih[p * g3 + k] += x_row[p] * dpre_x[k];
                    grads.x[row * input + p] += w_ih[p * g3 + k] * dpre_x[k];
                }
                for p in 0..hidden {
                    grads.w_hh[p * g3 + k] += h_prev[p] * r_mask[p] * dpre_h[k];
                    dh_prev[p] += w_hh[p * g3 + k] * dpre_h[k] * r_mask[p];
                }
            }
            dh_next[b * hidden..][..hidden].copy_from_slice(&dh_prev);
        }
    }
    grads
}
