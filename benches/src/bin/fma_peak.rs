//! Measures one core's peak f32 FMA throughput, the ceiling the README's GFLOP/s figures are
//! set against: twelve independent chains of fused multiply-adds, in 512-bit registers where
//! the CPU has AVX-512F, and in 256-bit ones.
//!
//! Usage: `cargo run --release -p benches --bin fma_peak`

use std::arch::x86_64::{
    __m256, __m512, _mm256_cvtss_f32, _mm256_fmadd_ps, _mm256_set1_ps, _mm512_cvtss_f32,
    _mm512_fmadd_ps, _mm512_set1_ps,
};
use std::time::Instant;

const ROUNDS: usize = 200_000_000;
const CHAINS: usize = 12;

fn main() {
    let avx2 = time(8, || {
        // SAFETY: the binary targets x86-64-v3, which has AVX2 and FMA.
        unsafe { chains_avx2() }
    });
    println!("avx2    {avx2:.1} GFLOP/s");
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: checked just above.
        let avx512 = time(16, || unsafe { chains_avx512() });
        println!("avx512  {avx512:.1} GFLOP/s");
    }
}

/// GFLOP/s of `run`, which does `ROUNDS` rounds of `CHAINS` FMAs of `lanes` lanes.
fn time(lanes: usize, run: impl Fn() -> f32) -> f64 {
    let start = Instant::now();
    std::hint::black_box(run());
    let flops = (ROUNDS * CHAINS * lanes * 2) as f64;
    flops / start.elapsed().as_secs_f64() / 1e9
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2() -> f32 {
    let (b, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc: [__m256; CHAINS] = std::array::from_fn(|i| _mm256_set1_ps(i as f32));
    for _ in 0..ROUNDS {
        for sum in &mut acc {
            *sum = _mm256_fmadd_ps(*sum, b, c);
        }
    }
    acc.iter().map(|&v| _mm256_cvtss_f32(v)).sum()
}

/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512() -> f32 {
    let (b, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc: [__m512; CHAINS] = std::array::from_fn(|i| _mm512_set1_ps(i as f32));
    for _ in 0..ROUNDS {
        for sum in &mut acc {
            *sum = _mm512_fmadd_ps(*sum, b, c);
        }
    }
    acc.iter().map(|&v| _mm512_cvtss_f32(v)).sum()
}
