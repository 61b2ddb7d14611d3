//! The LSTM layer over a sequence, in f64, step by step as the equations read.
//!
//! `z = x_t·W_ih + h_{t-1}·W_hh + b`, split into gates i, f, g, o of H each;
//! `i, f, o = sigmoid`, `g = tanh`; `c_t = f·c_{t-1} + i·g`; `h_t = o·tanh(c_t)`.
//!
//! With a step mask `m [T, B]` (1 real, 0 padded), each row's new state is the blend
//! `c_t = m·c_new + (1−m)·c_{t-1}`, `h_t = m·h_new + (1−m)·h_{t-1}` (Keras' masking).
//!
//! With a recurrent mask `r [B, H]` (Keras' `recurrent_dropout=`) the product reads
//! `h_{t-1}⊙r` instead: `z = x_t·W_ih + (h_{t-1}⊙r)·W_hh + b`; nothing else changes.

use super::sigmoid;

/// What forward keeps: activated gates `[T, B, 4H]`, and `c`, `h` as `[T+1, B, H]` with
/// the initial state in slot 0.
#[derive(Clone, Debug)]
pub struct LstmRefTape {
    pub gates: Vec<f64>,
    pub c: Vec<f64>,
    pub h: Vec<f64>,
}

/// Sizes as `(T, B, I, H)`.
pub type Dims = (usize, usize, usize, usize);

#[allow(clippy::too_many_arguments)]
pub fn lstm_forward(
    dims: Dims,
    x: &[f64],
    w_ih: &[f64],
    w_hh: &[f64],
    bias: &[f64],
    h0: &[f64],
    c0: &[f64],
    mask: Option<&[f64]>,
    recurrent_mask: Option<&[f64]>,
) -> LstmRefTape {
    let (steps, batch, input, hidden) = dims;
    let g4 = 4 * hidden;
    let mut tape = LstmRefTape {
        gates: vec![0.0; steps * batch * g4],
        c: [c0.to_vec(), vec![0.0; steps * batch * hidden]].concat(),
        h: [h0.to_vec(), vec![0.0; steps * batch * hidden]].concat(),
    };
    for t in 0..steps {
        for b in 0..batch {
            let x_row = &x[(t * batch + b) * input..][..input];
            let h_prev: Vec<f64> = tape.h[(t * batch + b) * hidden..][..hidden].to_vec();
            let r = row_mask(recurrent_mask, b, hidden);
            let mut z = bias.to_vec();
            for (j, zj) in z.iter_mut().enumerate() {
                for p in 0..input {
                    *zj += x_row[p] * w_ih[p * g4 + j];
                }
                for p in 0..hidden {
                    *zj += h_prev[p] * r[p] * w_hh[p * g4 + j];
                }
            }
            let m = mask.map_or(1.0, |mask| mask[t * batch + b]);
            for j in 0..hidden {
                let (i, f, g, o) = (
                    sigmoid(z[j]),
                    sigmoid(z[hidden + j]),
                    z[2 * hidden + j].tanh(),
                    sigmoid(z[3 * hidden + j]),
                );
                let c_prev = tape.c[(t * batch + b) * hidden + j];
                let c_new = f * c_prev + i * g;
                let gates = &mut tape.gates[(t * batch + b) * g4..];
                gates[j] = i;
                gates[hidden + j] = f;
                gates[2 * hidden + j] = g;
                gates[3 * hidden + j] = o;
                let h_new = o * c_new.tanh();
                tape.c[((t + 1) * batch + b) * hidden + j] = m * c_new + (1.0 - m) * c_prev;
                tape.h[((t + 1) * batch + b) * hidden + j] = m * h_new + (1.0 - m) * h_prev[j];
            }
        }
    }
    tape
}

/// Row `row`'s recurrent mask `[H]`: ones when there is none.
pub(super) fn row_mask(recurrent_mask: Option<&[f64]>, row: usize, hidden: usize) -> Vec<f64> {
    recurrent_mask.map_or(vec![1.0; hidden], |r| r[row * hidden..][..hidden].to_vec())
}

/// Gradients `(dW_ih, dW_hh, dbias, dx)` given `dh_out [T, B, H]`, the gradient of the loss
/// with respect to every step's output, and forward's `mask` and `recurrent_mask`. The
/// initial state is taken as a constant.
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward(
    dims: Dims,
    x: &[f64],
    w_ih: &[f64],
    w_hh: &[f64],
    tape: &LstmRefTape,
    dh_out: &[f64],
    mask: Option<&[f64]>,
    recurrent_mask: Option<&[f64]>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let (steps, batch, input, hidden) = dims;
    let g4 = 4 * hidden;
    let mut dw_ih = vec![0.0; input * g4];
    let mut dw_hh = vec![0.0; hidden * g4];
    let mut dbias = vec![0.0; g4];
    let mut dx = vec![0.0; steps * batch * input];
    let mut dh_next = vec![0.0; batch * hidden];
    let mut dc_next = vec![0.0; batch * hidden];
    for t in (0..steps).rev() {
        for b in 0..batch {
            let row = t * batch + b;
            let gates = &tape.gates[row * g4..][..g4];
            let m = mask.map_or(1.0, |mask| mask[row]);
            let mut dz = vec![0.0; g4];
            // The part of h's and c's gradients that skips the cell: all of it at a padded step.
            let mut dh_skip = vec![0.0; hidden];
            for j in 0..hidden {
                let (i, f, g, o) = (
                    gates[j],
                    gates[hidden + j],
                    gates[2 * hidden + j],
                    gates[3 * hidden + j],
                );
                let c_prev = tape.c[row * hidden + j];
                let c = f * c_prev + i * g;
                let dh_all = dh_out[row * hidden + j] + dh_next[b * hidden + j];
                let dc_all = dc_next[b * hidden + j];
                let (dh, dc_in) = (m * dh_all, m * dc_all);
                dh_skip[j] = (1.0 - m) * dh_all;
                let tanh_c = c.tanh();
                let dc = dc_in + dh * o * (1.0 - tanh_c * tanh_c);
                dz[j] = dc * g * i * (1.0 - i);
                dz[hidden + j] = dc * c_prev * f * (1.0 - f);
                dz[2 * hidden + j] = dc * i * (1.0 - g * g);
                dz[3 * hidden + j] = dh * tanh_c * o * (1.0 - o);
                dc_next[b * hidden + j] = dc * f + (1.0 - m) * dc_all;
            }
            let h_prev = &tape.h[row * hidden..][..hidden];
            let r = row_mask(recurrent_mask, b, hidden);
            let x_row = &x[row * input..][..input];
            for (k, &dzk) in dz.iter().enumerate() {
                dbias[k] += dzk;
                for p in 0..input {
                    dw_ih[p * g4 + k] += x_row[p] * dzk;
                    dx[row * input + p] += w_ih[p * g4 + k] * dzk;
                }
                for p in 0..hidden {
                    dw_hh[p * g4 + k] += h_prev[p] * r[p] * dzk;
                }
            }
            for p in 0..hidden {
                let through_weights: f64 = (0..g4).map(|k| w_hh[p * g4 + k] * dz[k]).sum();
                dh_next[b * hidden + p] = through_weights * r[p] + dh_skip[p];
            }
        }
    }
    (dw_ih, dw_hh, dbias, dx)
}
