//! Softmax with categorical cross-entropy, fused: one pass per row gives the probabilities,
//! the loss and the gradient of the logits.
//!
//! Numerically stable: the row maximum is subtracted before `exp`, and the loss is
//! `ln Σ exp(z - max) - (z_target - max)`, never `ln` of a probability that underflowed.

use wide::f32x8;

use crate::activation::exp8;
use crate::denormal::FlushDenormals;
use crate::lanes::{load, store};

/// A target that contributes neither loss nor gradient, as PyTorch's `ignore_index`: for
/// the padding at the end of sequences shorter than the batch's longest.
pub const IGNORE: u32 = u32::MAX;

/// For each row of `logits [N, C]`: `probs = softmax(row)`, `dlogits = (probs -
/// onehot(target)) · scale`. Returns the summed loss `Σ -ln probs[target]` in f64.
/// `scale` is usually `1 / N` for a loss averaged over rows, as Keras does; with ignored
/// rows, `N` is the caller's choice (all rows or only the counted ones).
///
/// A row whose target is [`IGNORE`] still gets its `probs`, but adds nothing to the loss
/// and gets a zero `dlogits` row. Any other target must be below `C`.
pub fn softmax_xent(
    logits: &[f32],
    classes: usize,
    targets: &[u32],
    scale: f32,
    probs: &mut [f32],
    dlogits: &mut [f32],
) -> f64 {
    let _ftz = FlushDenormals::new();
    assert_eq!(
        logits.len(),
        targets.len() * classes,
        "logits must be [N, C]"
    );
    let mut loss = 0.0;
    let rows = logits
        .chunks_exact(classes)
        .zip(probs.chunks_exact_mut(classes))
        .zip(dlogits.chunks_exact_mut(classes));
    for (((row, p), d), &target) in rows.zip(targets) {
        let ignored = target == IGNORE;
        let target = target as usize;
        assert!(
            ignored || target < classes,
            "target class {target} out of range for {classes} classes"
        );
        let max = row_max(row);
        let sum = exp_shifted(row, max, p);
        let inv = 1.0 / sum;
        for j in (0..classes).step_by(8) {
            let n = 8.min(classes - j);
            let prob = load(p, j, n) * f32x8::splat(inv);
            store(p, j, n, prob);
            store(d, j, n, prob * f32x8::splat(scale));
        }
        if ignored {
            d.fill(0.0);
            continue;
        }
        d[target] -= scale;
        loss += f64::from(sum).ln() - f64::from(row[target] - max);
    }
    loss
}

fn row_max(row: &[f32]) -> f32 {
    let mut max = f32x8::splat(f32::NEG_INFINITY);
    let mut j = 0;
    while j + 8 <= row.len() {
        max = max.fast_max(load(row, j, 8));
        j += 8;
    }
    row[j..].iter().fold(
        max.to_array().into_iter().fold(f32::NEG_INFINITY, f32::max),
        |m, &x| m.max(x),
    )
}

/// `out = exp(row - max)`; returns the sum.
fn exp_shifted(row: &[f32], max: f32, out: &mut [f32]) -> f32 {
    let mut sum = f32x8::ZERO;
    for j in (0..row.len()).step_by(8) {
        let n = 8.min(row.len() - j);
        let e = exp8(load(row, j, n) - f32x8::splat(max));
        store(out, j, n, e);
        // Padding lanes hold exp(0 - max) and must not count.
        sum += if n == 8 { e } else { load(out, j, n) };
    }
    sum.reduce_add()
}
