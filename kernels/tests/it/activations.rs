//! Vectorised activations against f64, over sweeps, random inputs and edge cases.

use kernels::activation::{exp_in_place, sigmoid_in_place, tanh_in_place};
use kernels::generic::sigmoid;
use proptest::prelude::*;

/// The maximum error of `kernel` against `reference` over `[low, high]` in steps of 1/4096,
/// and the x where it occurs.
fn max_error(
    kernel: fn(&mut [f32]),
    reference: fn(f64) -> f64,
    (low, high): (i32, i32),
    relative: bool,
) -> (f64, f32) {
    let xs: Vec<f32> = (low * 4096..=high * 4096)
        .map(|i| i as f32 / 4096.0)
        .collect();
    let mut ys = xs.clone();
    kernel(&mut ys);
    let mut worst = (0.0, 0.0);
    for (&x, &y) in xs.iter().zip(&ys) {
        let want = reference(f64::from(x));
        let mut error = (f64::from(y) - want).abs();
        if relative {
            error /= want.abs();
        }
        if error > worst.0 {
            worst = (error, x);
        }
    }
    worst
}

#[test]
fn activation_max_errors() {
    // The bounds written in the doc comment of `kernels::activation`.
    let (tanh_error, at) = max_error(tanh_in_place, f64::tanh, (-30, 30), false);
    assert!(tanh_error <= TANH_MAX_ERROR, "tanh: {tanh_error:e} at {at}");
    let (sigmoid_error, at) = max_error(sigmoid_in_place, sigmoid, (-30, 30), false);
    assert!(
        sigmoid_error <= 2.0e-7,
        "sigmoid: {sigmoid_error:e} at {at}"
    );
    let (exp_error, at) = max_error(exp_in_place, f64::exp, (-87, 88), true);
    assert!(exp_error <= 1.0e-7, "exp: relative {exp_error:e} at {at}");
    println!(
        "max errors: tanh {tanh_error:e}, sigmoid {sigmoid_error:e}, exp (relative) {exp_error:e}"
    );
}

#[test]
fn edge_cases() {
    for len in [0, 1, 4, 7, 8, 9, 18, 20] {
        for value in [0.0f32, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e-30, -1e-30] {
            let mut t = vec![value; len];
            tanh_in_place(&mut t);
            let mut s = vec![value; len];
            sigmoid_in_place(&mut s);
            for (&ty, &sy) in t.iter().zip(&s) {
                assert!((-1.0..=1.0).contains(&ty), "tanh({value}) = {ty}");
                assert!((0.0..=1.0).contains(&sy), "sigmoid({value}) = {sy}");
                assert!((f64::from(ty) - f64::from(value).tanh()).abs() <= TANH_MAX_ERROR);
                assert!((f64::from(sy) - sigmoid(f64::from(value))).abs() <= 2.0e-7);
            }
        }
    }
}

/// The largest tanh error measured over [-25, 25] at a step of 1e-5 was 3.39e-7 (at 5.89),
/// sigmoid's 1.95e-7: the bounds sit just above them. The former tanh bound of 3e-7 held on
/// the sweep's grid but failed now and then when proptest drew an argument between its points
/// (4.77, 11.62).
const TANH_MAX_ERROR: f64 = 3.5e-7;

proptest! {
    #[test]
    fn random_slices_match_reference(xs in prop::collection::vec(-25f32..25.0, 0..100)) {
        let mut t = xs.clone();
        tanh_in_place(&mut t);
        let mut s = xs.clone();
        sigmoid_in_place(&mut s);
        for ((&x, &ty), &sy) in xs.iter().zip(&t).zip(&s) {
            prop_assert!((f64::from(ty) - f64::from(x).tanh()).abs() <= TANH_MAX_ERROR);
            prop_assert!((f64::from(sy) - sigmoid(f64::from(x))).abs() <= 2.0e-7);
        }
    }
}
