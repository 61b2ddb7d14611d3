//! The GRU layer: the f64 reference's gradients against finite differences.

use kernels::generic::{gru_backward as ref_backward, gru_forward as ref_forward};
use kernels::recurrent::RecurrentDims;

use crate::layers::numeric_gradient;
use crate::{floats, to_f64};

struct Case {
    dims: RecurrentDims,
    x: Vec<f32>,
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias_ih: Vec<f32>,
    bias_hh: Vec<f32>,
    h0: Vec<f32>,
    /// `[T, B, H]` the gradient reaching every output.
    dh_out: Vec<f32>,
}

fn case(steps: usize, batch: usize, input: usize, hidden: usize, seed: u64) -> Case {
    let dims = RecurrentDims {
        steps,
        batch,
        input,
        hidden,
    };
    let g3 = 3 * hidden;
    Case {
        dims,
        x: floats(seed, steps * batch * input, 1.0),
        w_ih: floats(seed + 1, input * g3, 0.5),
        w_hh: floats(seed + 2, hidden * g3, 0.5),
        bias_ih: floats(seed + 3, g3, 0.5),
        bias_hh: floats(seed + 4, g3, 0.5),
        h0: floats(seed + 5, batch * hidden, 0.5),
        dh_out: floats(seed + 6, steps * batch * hidden, 1.0),
    }
}

fn dims_tuple(d: RecurrentDims) -> (usize, usize, usize, usize) {
    (d.steps, d.batch, d.input, d.hidden)
}

#[test]
fn reference_gradients_match_finite_differences() {
    let c = case(3, 2, 3, 4, 11);
    let dims = dims_tuple(c.dims);
    let (x, w_ih, w_hh, b_ih, b_hh, h0, dh) = (
        to_f64(&c.x),
        to_f64(&c.w_ih),
        to_f64(&c.w_hh),
        to_f64(&c.bias_ih),
        to_f64(&c.bias_hh),
        to_f64(&c.h0),
        to_f64(&c.dh_out),
    );
    // L = Σ_t Σ dh_out ⊙ h_t, so dL/dh_t = dh_out.
    let loss = |x: &[f64], w_ih: &[f64], w_hh: &[f64], b_ih: &[f64], b_hh: &[f64], h0: &[f64]| {
        let tape = ref_forward(dims, x, w_ih, w_hh, b_ih, b_hh, h0);
        let outputs = &tape.h[h0.len()..];
        outputs.iter().zip(&dh).map(|(h, d)| h * d).sum::<f64>()
    };
    let tape = ref_forward(dims, &x, &w_ih, &w_hh, &b_ih, &b_hh, &h0);
    let grads = ref_backward(dims, &x, &w_ih, &w_hh, &tape, &dh);
    let check = |what: &str, analytic: &[f64], numeric: Vec<f64>| {
        assert_eq!(analytic.len(), numeric.len(), "{what}");
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-7 * (1.0 + n.abs()),
                "{what}[{i}]: analytic {a}, numeric {n}"
            );
        }
    };
    check(
        "dW_ih",
        &grads.w_ih,
        numeric_gradient(&w_ih, |w| loss(&x, w, &w_hh, &b_ih, &b_hh, &h0)),
    );
    check(
        "dW_hh",
        &grads.w_hh,
        numeric_gradient(&w_hh, |w| loss(&x, &w_ih, w, &b_ih, &b_hh, &h0)),
    );
    check(
        "dbias_ih",
        &grads.bias_ih,
        numeric_gradient(&b_ih, |b| loss(&x, &w_ih, &w_hh, b, &b_hh, &h0)),
    );
    check(
        "dbias_hh",
        &grads.bias_hh,
        numeric_gradient(&b_hh, |b| loss(&x, &w_ih, &w_hh, &b_ih, b, &h0)),
    );
    check(
        "dx",
        &grads.x,
        numeric_gradient(&x, |x| loss(x, &w_ih, &w_hh, &b_ih, &b_hh, &h0)),
    );
    check(
        "dh0",
        &grads.h0,
        numeric_gradient(&h0, |h| loss(&x, &w_ih, &w_hh, &b_ih, &b_hh, h)),
    );
}
