//! The dense activations and the sigmoid's binary cross-entropy: the references for
//! `crate::activation::Activation` and `crate::bce`.

use crate::activation::Activation;

/// `f(x)`.
pub fn activate(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Linear => x,
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => super::sigmoid(x),
    }
}

/// `f'(x)` written from `y = f(x)`.
pub fn activation_derivative(activation: Activation, y: f64) -> f64 {
    match activation {
        Activation::Linear => 1.0,
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - y * y,
        Activation::Sigmoid => y * (1.0 - y),
    }
}

/// `(Σ max(x, 0) - x·t + ln(1 + exp(-|x|)), dL/dx = σ(x) - t)`: binary cross-entropy of
/// `σ(x)` against `t`, summed, from the logits.
pub fn sigmoid_bce(logits: &[f64], targets: &[f64]) -> (f64, Vec<f64>) {
    assert_eq!(logits.len(), targets.len());
    let loss = logits
        .iter()
        .zip(targets)
        .map(|(x, t)| x.max(0.0) - x * t + (-x.abs()).exp().ln_1p())
        .sum();
    let dlogits = logits
        .iter()
        .zip(targets)
        .map(|(&x, t)| super::sigmoid(x) - t)
        .collect();
    (loss, dlogits)
}
