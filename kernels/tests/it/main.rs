//! The kernels' one integration test binary: every SIMD kernel against its scalar reference,
//! and every backward pass against finite differences.

mod activations;
mod gemm;
mod gru;
mod layers;
mod lstm;
mod optim;
mod regression;

/// Checks `|got - want| <= atol + rtol·|want|` elementwise; the message names the worst. A NaN
/// or an infinity passes only where the reference has the same.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let mut worst: Option<(usize, f64)> = None;
    for (index, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        let excess = match (g - w).abs() - (atol + rtol * w.abs()) {
            _ if g == w || (g.is_nan() && w.is_nan()) => 0.0,
            excess if excess.is_nan() => f64::INFINITY,
            excess => excess,
        };
        if excess > 0.0 && worst.is_none_or(|(_, e)| excess > e) {
            worst = Some((index, excess));
        }
    }
    if let Some((index, _)) = worst {
        panic!(
            "{what}: element {index} is {} but should be {} (atol {atol}, rtol {rtol})",
            got[index], want[index]
        );
    }
}

/// `f` run on a rayon pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// The bit patterns of `values`, to compare results exactly.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|x| x.to_bits()).collect()
}

pub fn to_f64(xs: &[f32]) -> Vec<f64> {
    xs.iter().map(|&x| f64::from(x)).collect()
}

/// A step mask of `len` ones and zeros (about a third zeros).
pub fn step_mask(seed: u64, len: usize) -> Vec<f32> {
    let values = floats(seed ^ 0x5EED, len, 1.0);
    values
        .iter()
        .map(|&v| f32::from(u8::from(v > -0.35)))
        .collect()
}

/// A recurrent mask of `len` factors, each 0 with probability about `rate` and else
/// `1 / (1 - rate)`, as dropout draws them.
pub fn recurrent_mask(seed: u64, len: usize, rate: f32) -> Vec<f32> {
    let values = floats(seed ^ 0xD20B, len, 1.0);
    values
        .iter()
        .map(|&v| {
            if (v + 1.0) / 2.0 < rate {
                0.0
            } else {
                1.0 / (1.0 - rate)
            }
        })
        .collect()
}

/// Deterministic pseudo-random floats in [-scale, scale] from a seed.
pub fn floats(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}
