//! The dense activations: the references for `crate::activation::Activation`.

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
