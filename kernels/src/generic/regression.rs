//! The regression losses, summed over all elements, and their gradients with respect to the
//! predictions: the references for `crate::regression`.
//!
//! They take f64, so that finite differences of the loss are taken in f64 too; f32 data
//! converts exactly (`f64::from`). The gradients are of the plain sum, unscaled.

/// `(Σ (p - t)², dL/dp = 2 (p - t))`.
pub fn mse(predictions: &[f64], targets: &[f64]) -> (f64, Vec<f64>) {
    assert_eq!(predictions.len(), targets.len());
    let loss = predictions
        .iter()
        .zip(targets)
        .map(|(p, t)| (p - t) * (p - t))
        .sum();
    let dpredictions = predictions
        .iter()
        .zip(targets)
        .map(|(p, t)| 2.0 * (p - t))
        .collect();
    (loss, dpredictions)
}

/// `(Σ |p - t|, dL/dp = sign(p - t))`, with `sign(0) = 0` (and 0 for a NaN difference).
pub fn mae(predictions: &[f64], targets: &[f64]) -> (f64, Vec<f64>) {
    assert_eq!(predictions.len(), targets.len());
    let loss = predictions
        .iter()
        .zip(targets)
        .map(|(p, t)| (p - t).abs())
        .sum();
    let dpredictions = predictions
        .iter()
        .zip(targets)
        .map(|(p, t)| {
            if p > t {
                1.0
            } else if p < t {
                -1.0
            } else {
                0.0
            }
        })
        .collect();
    (loss, dpredictions)
}
