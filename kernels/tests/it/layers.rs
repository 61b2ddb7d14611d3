//! Dense, softmax cross-entropy, Adam and row gather against their references; the
//! references' gradients against finite differences.

use kernels::adam::{adam_update, AdamConfig, AdamStep};
use kernels::dense::{dense_backward, dense_forward, dense_room};
use kernels::gather::{embed_backward, embed_rows, gather_rows};
use kernels::generic;
use kernels::softmax::{softmax_xent, IGNORE};
use proptest::prelude::*;

use crate::{assert_close, bits, floats, to_f64, with_threads};

proptest! {
    #[test]
    fn dense_matches_reference(n in 1usize..9, k in 1usize..40, o in 1usize..30, seed: u64) {
        let (x, w, b, dy) = (floats(seed, n * k, 1.0), floats(seed + 1, k * o, 1.0), floats(seed + 2, o, 1.0), floats(seed + 3, n * o, 1.0));
        let (mut y, mut room) = (vec![0.0; n * o], vec![0.0; dense_room(n, k, o)]);
        dense_forward(&x, &w, &b, (k, o), &mut y, &mut room);
        assert_close("dense y", &y, &to_f64(&generic::dense_forward(&x, &w, &b, n, k, o)), 1e-5, 1e-5);
        // Backward writes the gradients: what the buffers held before must not show.
        let (mut dw, mut db, mut dx, mut w_t) = (vec![7.0; k * o], vec![7.0; o], vec![7.0; n * k], vec![0.0; k * o]);
        dense_backward(&x, &w, &dy, (k, o), &mut dw, &mut db, Some((&mut dx, &mut w_t)), &mut room);
        let (want_dw, want_db, want_dx) = generic::dense_backward(&x, &w, &dy, n, k, o);
        assert_close("dense dW", &dw, &to_f64(&want_dw), 1e-5, 1e-5);
        assert_close("dense db", &db, &to_f64(&want_db), 1e-5, 1e-5);
        assert_close("dense dx", &dx, &to_f64(&want_dx), 1e-5, 1e-5);
    }

    #[test]
    fn softmax_xent_matches_reference(n in 1usize..6, classes in 1usize..40, seed: u64, scale in 0.01f32..1.0, ignored: u8) {
        let logits = floats(seed, n * classes, 20.0);
        let targets: Vec<u32> = (0..n)
            .map(|r| if ignored >> r & 1 == 1 { IGNORE } else { ((seed as usize + r * 7) % classes) as u32 })
            .collect();
        let (mut probs, mut dlogits) = (vec![0.0; n * classes], vec![7.0; n * classes]);
        let loss = softmax_xent(&logits, classes, &targets, scale, &mut probs, &mut dlogits);
        let (want_probs, want_losses, want_d) = generic::softmax_xent(&logits, classes, &targets);
        let want_loss: f64 = want_losses.iter().sum();
        prop_assert!((loss - want_loss).abs() <= 1e-5 * (1.0 + want_loss.abs()), "loss {} vs {}", loss, want_loss);
        assert_close("probs", &probs, &to_f64(&want_probs), 1e-6, 1e-5);
        let scaled: Vec<f64> = want_d.iter().map(|&d| f64::from(d) * f64::from(scale)).collect();
        assert_close("dlogits", &dlogits, &scaled, 1e-6, 1e-5);
        // Ignored rows are zero exactly; counted rows and the loss have the bits of a call
        // on the counted rows alone.
        let counted: Vec<usize> = (0..n).filter(|&r| targets[r] != IGNORE).collect();
        for (r, &target) in targets.iter().enumerate() {
            if target == IGNORE {
                prop_assert!(dlogits[r * classes..(r + 1) * classes].iter().all(|&d| d.to_bits() == 0), "row {} not zero", r);
            }
        }
        let pick = |xs: &[f32]| -> Vec<f32> { counted.iter().flat_map(|&r| xs[r * classes..(r + 1) * classes].to_vec()).collect() };
        let counted_targets: Vec<u32> = counted.iter().map(|&r| targets[r]).collect();
        let (mut probs_alone, mut dlogits_alone) = (vec![0.0; counted.len() * classes], vec![0.0; counted.len() * classes]);
        let loss_alone = softmax_xent(&pick(&logits), classes, &counted_targets, scale, &mut probs_alone, &mut dlogits_alone);
        prop_assert_eq!(loss.to_bits(), loss_alone.to_bits());
        prop_assert_eq!(bits(&pick(&probs)), bits(&probs_alone));
        prop_assert_eq!(bits(&pick(&dlogits)), bits(&dlogits_alone));
    }

    #[test]
    fn adam_matches_reference(len in 0usize..50, step in 1u64..2000, seed: u64) {
        let config = AdamConfig { lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };
        let grads = floats(seed, len, 1.0);
        let (mut p, mut m, mut v) = (floats(seed + 1, len, 1.0), floats(seed + 2, len, 0.1), floats(seed + 3, len, 0.01).iter().map(|x| x.abs()).collect::<Vec<_>>());
        let (mut p_ref, mut m_ref, mut v_ref) = (p.clone(), m.clone(), v.clone());
        adam_update(&mut p, &grads, &mut m, &mut v, AdamStep::new(config, step));
        generic::adam(&mut p_ref, &grads, &mut m_ref, &mut v_ref, config.lr, config.beta1, config.beta2, config.epsilon, step);
        assert_close("adam params", &p, &to_f64(&p_ref), 1e-6, 1e-5);
        assert_close("adam m", &m, &to_f64(&m_ref), 1e-7, 1e-5);
        assert_close("adam v", &v, &to_f64(&v_ref), 1e-7, 1e-5);
    }

    #[test]
    fn gather_matches_reference(rows in 1usize..20, width in 1usize..30, picks in prop::collection::vec(0u32..20, 0..30), seed: u64) {
        let index: Vec<u32> = picks.iter().map(|&i| i % rows as u32).collect();
        let table = floats(seed, rows * width, 1.0);
        let mut out = vec![0.0; index.len() * width];
        gather_rows(&table, width, &index, &mut out);
        prop_assert_eq!(&out, &generic::gather_rows(&table, width, &index));
    }

    /// A table large enough to be cut among threads gets, on one thread or three, the bits of
    /// adding the rows one by one in order of `r` (repeated indices included).
    #[test]
    fn embedding_gradient_on_threads_sums_in_row_order(rows in 300usize..400, width in 100usize..130, picks in prop::collection::vec(0u32..400, 0..200), seed: u64) {
        let index: Vec<u32> = picks.iter().map(|&i| if i >= 390 { IGNORE } else { i % rows as u32 }).collect();
        let dout = floats(seed, index.len() * width, 1.0);
        let mut want = vec![0.0f32; rows * width];
        for (r, &i) in index.iter().enumerate().filter(|&(_, &i)| i != IGNORE) {
            for j in 0..width {
                want[i as usize * width + j] += dout[r * width + j];
            }
        }
        for threads in [1, 3] {
            let mut dtable = floats(seed + 1, rows * width, 1.0);
            with_threads(threads, || embed_backward(&dout, width, &index, &mut dtable));
            prop_assert!(bits(&dtable) == bits(&want), "{} threads", threads);
        }
    }

    /// An embedding reads zeros at padded steps and gives their gradient to no row; the
    /// table's gradient is written whole, whatever the buffer held.
    #[test]
    fn embedding_matches_reference(rows in 1usize..20, width in 1usize..30, picks in prop::collection::vec(0u32..25, 0..30), seed: u64) {
        let index: Vec<u32> = picks.iter().map(|&i| if i >= 20 { IGNORE } else { i % rows as u32 }).collect();
        let table = floats(seed, rows * width, 1.0);
        let mut out = floats(seed + 2, index.len() * width, 1.0);
        embed_rows(&table, width, &index, &mut out);
        prop_assert_eq!(&out, &generic::embed_rows(&table, width, &index));
        let dout = floats(seed + 1, index.len() * width, 1.0);
        let mut dtable = floats(seed + 3, rows * width, 1.0);
        embed_backward(&dout, width, &index, &mut dtable);
        let want = generic::embed_backward(&dout, width, &index, rows);
        assert_close("embedding gradient", &dtable, &want, 1e-6, 1e-6);
    }
}

/// Central differences of `f` at `x` for every coordinate.
pub fn numeric_gradient(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let eps = 1e-6;
    (0..x.len())
        .map(|i| {
            let mut plus = x.to_vec();
            plus[i] += eps;
            let mut minus = x.to_vec();
            minus[i] -= eps;
            (f(&plus) - f(&minus)) / (2.0 * eps)
        })
        .collect()
}

fn assert_gradient(what: &str, analytic: &[f64], numeric: &[f64]) {
    for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
        assert!(
            (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
            "{what}[{i}]: analytic {a}, numeric {n}"
        );
    }
}

#[test]
fn dense_gradient_matches_finite_differences() {
    let (n, k, o) = (3, 5, 4);
    let (x, w, b) = (
        floats(1, n * k, 1.0),
        floats(2, k * o, 1.0),
        floats(3, o, 1.0),
    );
    let dy = to_f64(&floats(4, n * o, 1.0));
    // L = Σ dy ⊙ y, so dL/dy = dy.
    let loss = |x: &[f32], w: &[f32]| -> f64 {
        generic::dense_forward(x, w, &b, n, k, o)
            .iter()
            .zip(&dy)
            .map(|(&y, d)| f64::from(y) * d)
            .sum()
    };
    let (dw, _, dx) = generic::dense_backward(
        &x,
        &w,
        &dy.iter().map(|&d| d as f32).collect::<Vec<_>>(),
        n,
        k,
        o,
    );
    // The reference runs in f32, so differentiate with a step f32 resolves; the layer is
    // linear in x and W, so central differences are exact but for rounding.
    let numeric = |at: &[f32], f: &dyn Fn(&[f32]) -> f64| -> Vec<f64> {
        (0..at.len())
            .map(|i| {
                let (mut plus, mut minus) = (at.to_vec(), at.to_vec());
                plus[i] += 1e-2;
                minus[i] -= 1e-2;
                (f(&plus) - f(&minus)) / 2e-2
            })
            .collect()
    };
    let numeric_dw = numeric(&w, &|w| loss(&x, w));
    let numeric_dx = numeric(&x, &|x| loss(x, &w));
    assert_close(
        "dense dW vs finite differences",
        &dw,
        &numeric_dw,
        1e-3,
        1e-3,
    );
    assert_close(
        "dense dx vs finite differences",
        &dx,
        &numeric_dx,
        1e-3,
        1e-3,
    );
}

#[test]
fn softmax_xent_gradient_matches_finite_differences() {
    let classes = 7;
    let targets = [3u32, IGNORE, 0, 6, IGNORE];
    let logits = to_f64(&floats(9, targets.len() * classes, 3.0));
    let loss = |z: &[f64]| -> f64 {
        z.chunks(classes)
            .zip(&targets)
            .filter(|&(_, &t)| t != IGNORE)
            .map(|(row, &t)| {
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = row.iter().map(|x| (x - max).exp()).sum();
                sum.ln() + max - row[t as usize]
            })
            .sum()
    };
    let (_, _, dlogits) = generic::softmax_xent(
        &logits.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        classes,
        &targets,
    );
    assert_gradient(
        "dlogits",
        &to_f64(&dlogits),
        &numeric_gradient(&logits, loss),
    );
}

#[test]
fn softmax_xent_rejects_out_of_range_targets() {
    let classes = 3;
    let logits = floats(5, 2 * classes, 1.0);
    for bad in [classes as u32, IGNORE - 1] {
        let caught = std::panic::catch_unwind(|| {
            let (mut probs, mut dlogits) = (vec![0.0; 2 * classes], vec![0.0; 2 * classes]);
            softmax_xent(
                &logits,
                classes,
                &[IGNORE, bad],
                1.0,
                &mut probs,
                &mut dlogits,
            )
        });
        let message = caught.expect_err("an out-of-range target must panic");
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(message.contains("out of range"), "{message}");
    }
}
