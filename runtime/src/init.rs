//! Keras' initialisers, so that a spec starts where the tutorial's model starts: glorot
//! uniform kernels, orthogonal recurrent kernels, zero biases with the LSTM forget gate's at 1.

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;

/// Keras `GlorotUniform` for a `[fan_in, fan_out]` kernel.
pub fn glorot_uniform(fan_in: usize, fan_out: usize, rng: &mut Pcg64Mcg) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
    (0..fan_in * fan_out)
        .map(|_| rng.random_range(-limit..limit) as f32)
        .collect()
}

/// Keras `RandomUniform(-0.05, 0.05)`, the `Embedding` default, for `len` floats.
pub fn small_uniform(len: usize, rng: &mut Pcg64Mcg) -> Vec<f32> {
    (0..len)
        .map(|_| rng.random_range(-0.05..0.05f64) as f32)
        .collect()
}

/// Keras `Orthogonal` for a `[rows, cols]` kernel with `rows <= cols` (an LSTM's `[H, 4H]`):
/// the QR factor of a `[cols, rows]` standard normal matrix, signs fixed by R's diagonal,
/// transposed, so the rows are orthonormal.
pub fn orthogonal(rows: usize, cols: usize, rng: &mut Pcg64Mcg) -> Vec<f32> {
    assert!(
        rows <= cols,
        "orthogonal: {rows}x{cols} has more rows than columns"
    );
    // `columns[j]` is column j of the [cols, rows] normal matrix.
    let mut columns: Vec<Vec<f64>> = (0..rows)
        .map(|_| (0..cols).map(|_| rng.sample(StandardNormal)).collect())
        .collect();
    // Modified Gram-Schmidt gives Q with R's diagonal positive, so no sign fix is needed.
    for j in 0..rows {
        for k in 0..j {
            let (done, rest) = columns.split_at_mut(j);
            let dot: f64 = done[k].iter().zip(&rest[0]).map(|(a, b)| a * b).sum();
            for (x, q) in rest[0].iter_mut().zip(&done[k]) {
                *x -= dot * q;
            }
        }
        let norm = columns[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        for x in &mut columns[j] {
            *x /= norm;
        }
    }
    // Row j of the result is column j of Q.
    columns
        .iter()
        .flat_map(|column| column.iter().map(|&x| x as f32))
        .collect()
}

/// Keras' LSTM bias with `unit_forget_bias`: zeros, and ones for the forget gate.
pub fn lstm_bias(hidden: usize) -> Vec<f32> {
    let mut bias = vec![0.0; 4 * hidden];
    bias[hidden..2 * hidden].fill(1.0);
    bias
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn orthogonal_rows_are_orthonormal() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let (rows, cols) = (7, 28);
        let w = orthogonal(rows, cols, &mut rng);
        for i in 0..rows {
            for j in 0..rows {
                let dot: f64 = (0..cols)
                    .map(|k| f64::from(w[i * cols + k]) * f64::from(w[j * cols + k]))
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-6, "row {i} · row {j} = {dot}");
            }
        }
    }

    #[test]
    fn glorot_stays_within_its_limit() {
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        let limit = (6.0f32 / (3.0 + 128.0)).sqrt();
        assert!(glorot_uniform(3, 128, &mut rng)
            .iter()
            .all(|x| x.abs() <= limit));
    }
}
