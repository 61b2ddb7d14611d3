//! Mean squared and mean absolute error against their references, at every length through
//! a few vectors; the gradients against finite differences; Keras' documented values.

use kernels::generic;
use kernels::regression::{mae, mse};
use proptest::prelude::*;

use crate::layers::numeric_gradient;
use crate::{assert_close, floats, to_f64};

type Kernel = fn(&[f32], &[f32], f32, &mut [f32]) -> f64;
type Reference = fn(&[f64], &[f64]) -> (f64, Vec<f64>);

const LOSSES: [(&str, Kernel, Reference); 2] =
    [("mse", mse, generic::mse), ("mae", mae, generic::mae)];

/// Floats on either side of the slices a kernel gets: more than a vector, so a load or store
/// past either end would land in them.
const PAD: usize = 9;
const UNTOUCHED: f32 = -7.0;

/// Runs every loss on slices `[PAD, PAD + len)` of larger buffers and checks the loss and the
/// scaled gradient against the reference. The inputs' padding is NaN, so a read past the
/// slice would show in the loss; the gradient's padding must keep its value.
fn check(len: usize, seed: u64, scale: f32) {
    let predictions = floats(seed, len, 3.0);
    let mut targets = floats(seed.wrapping_add(1), len, 3.0);
    // Every fifth prediction hits its target exactly, for mae's sign(0) = 0.
    for i in (seed as usize % 5..len).step_by(5) {
        targets[i] = predictions[i];
    }
    let padded = |xs: &[f32]| -> Vec<f32> {
        let mut buffer = vec![f32::NAN; len + 2 * PAD];
        buffer[PAD..PAD + len].copy_from_slice(xs);
        buffer
    };
    let (predictions_buffer, targets_buffer) = (padded(&predictions), padded(&targets));
    let inside = PAD..PAD + len;
    for (name, kernel, reference) in LOSSES {
        let mut dpredictions_buffer = vec![UNTOUCHED; len + 2 * PAD];
        let loss = kernel(
            &predictions_buffer[inside.clone()],
            &targets_buffer[inside.clone()],
            scale,
            &mut dpredictions_buffer[inside.clone()],
        );
        let (want_loss, want_d) = reference(&to_f64(&predictions), &to_f64(&targets));
        assert!(
            (loss - want_loss).abs() <= 1e-6 * want_loss,
            "{name} of {len}: loss {loss}, reference {want_loss}"
        );
        let scaled: Vec<f64> = want_d.iter().map(|d| d * f64::from(scale)).collect();
        // No absolute slack: a zero gradient must come out exactly zero.
        assert_close(
            &format!("{name} of {len}: dpredictions"),
            &dpredictions_buffer[inside.clone()],
            &scaled,
            0.0,
            1e-6,
        );
        let outside = dpredictions_buffer[..PAD]
            .iter()
            .chain(&dpredictions_buffer[PAD + len..]);
        assert!(
            outside.into_iter().all(|&x| x == UNTOUCHED),
            "{name} of {len} wrote past its slice"
        );
    }
}

/// Every length through five vectors: empty, one float, partial vectors (7, 9, ...), whole
/// ones (8, 16, ...).
#[test]
fn losses_match_reference_at_every_short_length() {
    for len in 0..=40 {
        check(len, len as u64, 0.25);
    }
}

proptest! {
    #[test]
    fn losses_match_reference(
        len in prop_oneof![Just(1usize), Just(7), Just(8), Just(9), 0usize..300],
        seed: u64,
        scale in 0.001f32..2.0,
    ) {
        check(len, seed, scale);
    }
}

/// The kernels' gradients (at `scale = 1`) and the references' are the derivatives of the
/// references' losses, by central differences in f64.
#[test]
fn gradients_match_finite_differences() {
    let len = 11;
    let predictions = floats(21, len, 3.0);
    // Each target at least 0.1 from its prediction, so no difference straddles the kink of
    // |p - t| at 0 and every element's derivative is at least 0.2 in size (2·0.1 for mse, 1
    // for mae): far above the tolerances below, which a zero gradient cannot meet.
    let targets: Vec<f32> = predictions
        .iter()
        .zip(floats(22, len, 1.0))
        .map(|(p, u)| p + u.signum() * (0.1 + u.abs()))
        .collect();
    let (predictions64, targets64) = (to_f64(&predictions), to_f64(&targets));
    for (name, kernel, reference) in LOSSES {
        let numeric = numeric_gradient(&predictions64, |p| reference(p, &targets64).0);
        assert!(
            numeric.iter().all(|g| g.abs() >= 0.19),
            "{name}: numeric gradient {numeric:?} has an element near 0"
        );
        let (_, analytic) = reference(&predictions64, &targets64);
        for (i, (a, n)) in analytic.iter().zip(&numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
                "reference {name} d[{i}]: analytic {a}, numeric {n}"
            );
        }
        let mut dpredictions = vec![0.0; len];
        kernel(&predictions, &targets, 1.0, &mut dpredictions);
        assert_close(
            &format!("{name} dpredictions vs finite differences"),
            &dpredictions,
            &numeric,
            1e-6,
            1e-6,
        );
    }
}

/// Keras' documented example for both losses (`y_true = [[0, 1], [0, 0]]`,
/// `y_pred = [[1, 1], [1, 0]]`, loss 0.5): the mean is the sum over `scale = 1 / count`, and
/// the two predictions equal to their targets get gradient 0 from both, `sign(0) = 0` in mae.
#[test]
fn keras_example_means_and_gradients() {
    let (targets, predictions) = ([0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]);
    let count = predictions.len() as f32;
    let mut dpredictions = [UNTOUCHED; 4];
    let sum = mse(&predictions, &targets, 1.0 / count, &mut dpredictions);
    assert_eq!(sum / f64::from(count), 0.5);
    assert_eq!(dpredictions, [0.5, 0.0, 0.5, 0.0]);
    let sum = mae(&predictions, &targets, 1.0 / count, &mut dpredictions);
    assert_eq!(sum / f64::from(count), 0.5);
    assert_eq!(dpredictions, [0.25, 0.0, 0.25, 0.0]);
}
