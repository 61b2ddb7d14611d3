//! criterion benchmarks of the kernels, and of the runtime's training step (`Trainer::step`,
//! what `lstmc run` runs per batch) at the benchmark shapes, with throughput in FLOPs
//! (criterion reports them as elements: `Gelem/s` reads as GFLOP/s).
//!
//! `cargo bench -p benches` runs them all; `cargo bench -p benches -- train_step` one group.
//! Single-threaded unless the name says otherwise: run with `RAYON_NUM_THREADS=1` for the
//! one-thread figures.

use std::time::Duration;

use benches::SHAPES;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use kernels::adam::{adam_update, AdamConfig, AdamStep};
use kernels::dense::{dense_forward, dense_room};
use kernels::gemm::{gemm_via, room_for, GemmPath, Mat, MatMut};
use kernels::lstm::{
    lstm_backward, lstm_forward, InputKind, LstmDims, LstmGrads, LstmInput, LstmScratch, LstmTape,
    LstmWeights, OutputGrad,
};
use kernels::packed::{gemm_packed, packing_room, PackedMat};
use kernels::softmax::softmax_xent;
use runtime::train::Trainer;

fn filled(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32
                - 0.5
        })
        .collect()
}

fn gemm_square(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for n in [64, 256, 1024] {
        let (a, b, mut out) = (filled(n * n, 1), filled(n * n, 2), vec![0.0; n * n]);
        let mut room = vec![0.0; room_for(n, n, n, true)];
        group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| {
                kernels::gemm::gemm(
                    &mut MatMut::new(&mut out, n, n),
                    Mat::new(&a, n, n),
                    Mat::new(&b, n, n),
                    false,
                    &mut room,
                )
            })
        });
    }
    group.finish();
}

/// The two paths side by side at the sizes where `SMALL_MAX_MACS` switches between them.
fn gemm_crossover(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm_crossover");
    for (m, k, n) in [
        (1, 32, 128),
        (7, 20, 80),
        (21, 150, 600),
        (32, 128, 512),
        (64, 64, 64),
        (64, 128, 128),
        (64, 256, 256),
    ] {
        let (a, b, mut out) = (filled(m * k, 1), filled(k * n, 2), vec![0.0; m * n]);
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        for path in [GemmPath::Small, GemmPath::Packed] {
            let id = BenchmarkId::new(format!("{path:?}"), format!("{m}x{k}x{n}"));
            bench_path(&mut group, id, path, (&a, &b, &mut out), (m, k, n));
        }
    }
    group.finish();
}

/// `C += A·B` through one GEMM path.
fn bench_path(
    group: &mut BenchmarkGroup<WallTime>,
    id: BenchmarkId,
    path: GemmPath,
    (a, b, out): (&[f32], &[f32], &mut [f32]),
    (m, k, n): (usize, usize, usize),
) {
    let mut room = vec![0.0; packing_room(k, n)];
    group.bench_function(id, |bench| {
        bench.iter(|| {
            gemm_via(
                path,
                &mut MatMut::new(out, m, n),
                Mat::new(a, m, k),
                Mat::new(b, k, n),
                true,
                &mut room,
            )
        })
    });
}

/// Packing `W_hh` (forward) and `W_hhᵀ` (backward), once per pass; elements are floats.
fn pack(c: &mut Criterion) {
    let mut group = c.benchmark_group("pack");
    for shape in SHAPES.iter().filter(|s| s.hidden >= 128) {
        let (k, n) = (shape.hidden, 4 * shape.hidden);
        let w_hh = filled(k * n, 1);
        group.throughput(Throughput::Elements((k * n) as u64));
        let mut packed = PackedMat::new(k, n);
        group.bench_function(BenchmarkId::new("W_hh", shape.name), |bench| {
            bench.iter(|| packed.pack(Mat::new(&w_hh, k, n)))
        });
        let mut packed_t = PackedMat::new(n, k);
        group.bench_function(BenchmarkId::new("W_hh_t", shape.name), |bench| {
            bench.iter(|| packed_t.pack(Mat::new(&w_hh, k, n).t()))
        });
    }
    group.finish();
}

/// The recurrent product `h_{t-1}·W_hh` at each workload's shape, through the three paths.
fn recurrent_product(c: &mut Criterion) {
    let mut group = c.benchmark_group("recurrent_product");
    for shape in SHAPES {
        let (m, k, n) = (shape.batch, shape.hidden, 4 * shape.hidden);
        let (a, b, mut out) = (filled(m * k, 1), filled(k * n, 2), vec![0.0; m * n]);
        let mut packed = PackedMat::new(k, n);
        packed.pack(Mat::new(&b, k, n));
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        let id = |path: &str| BenchmarkId::new(path, format!("{}_{m}x{k}x{n}", shape.name));
        group.bench_function(id("PackedB"), |bench| {
            bench.iter(|| {
                gemm_packed(
                    &mut MatMut::new(&mut out, m, n),
                    Mat::new(&a, m, k),
                    packed.with(Mat::new(&b, k, n)),
                    true,
                )
            })
        });
        for path in [GemmPath::Small, GemmPath::Packed] {
            bench_path(
                &mut group,
                id(&format!("{path:?}")),
                path,
                (&a, &b, &mut out),
                (m, k, n),
            );
        }
    }
    group.finish();
}

fn lstm_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("lstm");
    for shape in SHAPES {
        let dims = LstmDims {
            steps: shape.steps,
            batch: shape.batch,
            input: shape.input,
            hidden: shape.hidden,
        };
        let g4 = 4 * dims.hidden;
        let (w_ih, w_hh, bias) = (
            filled(dims.input * g4, 1),
            filled(dims.hidden * g4, 2),
            filled(g4, 3),
        );
        let x = filled(dims.steps * dims.batch * dims.input, 4);
        let w = LstmWeights {
            w_ih: &w_ih,
            w_hh: &w_hh,
            bias: &bias,
        };
        let mut tape = LstmTape::new(dims, InputKind::Dense, false);
        let flops = 2 * dims.batch * dims.steps * g4 * (dims.input + dims.hidden);
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(BenchmarkId::new("forward", shape.name), |bench| {
            bench.iter(|| lstm_forward(LstmInput::Dense(&x), None, None, &w, &mut tape))
        });
        let (mut scratch, dh) = (
            LstmScratch::new(dims, InputKind::Dense),
            filled(dims.steps * dims.batch * dims.hidden, 5),
        );
        let (mut dw_ih, mut dw_hh, mut dbias) =
            (vec![0.0; w_ih.len()], vec![0.0; w_hh.len()], vec![0.0; g4]);
        group.throughput(Throughput::Elements(3 * flops as u64));
        group.bench_function(BenchmarkId::new("forward_backward", shape.name), |bench| {
            bench.iter(|| {
                lstm_forward(LstmInput::Dense(&x), None, None, &w, &mut tape);
                let grads = LstmGrads {
                    w_ih: &mut dw_ih,
                    w_hh: &mut dw_hh,
                    bias: &mut dbias,
                };
                lstm_backward(
                    LstmInput::Dense(&x),
                    None,
                    None,
                    &w,
                    &tape,
                    OutputGrad::Sequence(&dh),
                    &mut scratch,
                    grads,
                    None,
                );
            })
        });
    }
    group.finish();
}

fn dense_softmax(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense_softmax_xent");
    for (rows, k, o) in [(1, 32, 26), (35, 20, 100), (42, 150, 100), (64, 512, 256)] {
        let (x, w, b) = (filled(rows * k, 1), filled(k * o, 2), filled(o, 3));
        let targets: Vec<u32> = (0..rows).map(|r| (r % o) as u32).collect();
        let mut room = vec![0.0; dense_room(rows, k, o)];
        let (mut y, mut probs, mut d) = (
            vec![0.0; rows * o],
            vec![0.0; rows * o],
            vec![0.0; rows * o],
        );
        group.throughput(Throughput::Elements(2 * (rows * k * o) as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{rows}x{k}x{o}")),
            |bench| {
                bench.iter(|| {
                    dense_forward(&x, &w, &b, (k, o), &mut y, &mut room);
                    softmax_xent(&y, o, &targets, 1.0 / rows as f32, &mut probs, &mut d)
                })
            },
        );
    }
    group.finish();
}

fn adam(c: &mut Criterion) {
    let mut group = c.benchmark_group("adam");
    let len = 1 << 20;
    let (mut p, g, mut m, mut v) = (
        filled(len, 1),
        filled(len, 2),
        vec![0.0; len],
        vec![0.0; len],
    );
    let config = AdamConfig {
        lr: 0.001,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    group.throughput(Throughput::Elements(len as u64));
    group.bench_function("1M_params", |bench| {
        bench.iter(|| adam_update(&mut p, &g, &mut m, &mut v, AdamStep::new(config, 10)))
    });
    group.finish();
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    for shape in SHAPES {
        let mut trainer = Trainer::new(&shape.plan());
        let first_batch: Vec<usize> = (0..shape.batch).collect();
        group.throughput(Throughput::Elements(shape.train_flops()));
        if shape.name == "large" {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(20));
        }
        group.bench_function(shape.name, |bench| {
            bench.iter(|| trainer.step(&first_batch))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    gemm_square,
    gemm_crossover,
    recurrent_product,
    pack,
    lstm_layer,
    dense_softmax,
    adam,
    train_step
);
criterion_main!(benches);
