//! Times the runtime's training step (`Trainer::step`, what `lstmc run` runs per batch) at the
//! named shapes, on the shape's first batch again and again, printing one line per shape:
//! `name median_seconds repetitions`.
//!
//! `pytorch_train_step.py` runs it shape by shape beside PyTorch's step, so that both sides of
//! its table come from the same minutes of a machine whose speed drifts. Each shape repeats
//! for about `--seconds` after a warm-up; the median of the single-step times is reported, as
//! the PyTorch side does. Threads: rayon's default, or `RAYON_NUM_THREADS`, in the pool
//! `lstmc run` trains in (`runtime::threads::pool`).
//!
//! `--layers gru` (or `bilstm`, `bigru`) runs the shapes with those recurrent layers in place
//! of the LSTM.
//!
//! Usage: `cargo run --release -p benches --bin train_step -- [--seconds S] [--layers L] SHAPE...`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use benches::{Layers, SHAPES};
use runtime::train::Trainer;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    let mut seconds = 2.0;
    if args.peek().map(String::as_str) == Some("--seconds") {
        args.next();
        match args.next().and_then(|s| s.parse::<f64>().ok()) {
            Some(s) if s > 0.0 => seconds = s,
            _ => return usage("--seconds needs a positive number"),
        }
    }
    let mut layers = Layers::Lstm;
    if args.peek().map(String::as_str) == Some("--layers") {
        args.next();
        let name = args.next().unwrap_or_default();
        match Layers::NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, found)) => layers = *found,
            None => return usage("--layers takes lstm, gru, bilstm or bigru"),
        }
    }
    let names: Vec<String> = args.collect();
    if names.is_empty() {
        return usage("name at least one shape");
    }
    for name in &names {
        let Some(shape) = SHAPES.iter().find(|s| s.name == name) else {
            return usage(&format!("no shape named {name}"));
        };
        let mut trainer = Trainer::new(&shape.plan_with(layers));
        let first_batch: Vec<usize> = (0..shape.batch).collect();
        let pool = runtime::threads::pool(0).expect("rayon's threads start");
        let (median, reps) = pool.install(|| {
            median_step(
                || trainer.step(&first_batch),
                Duration::from_secs_f64(seconds),
            )
        });
        println!("{name} {median:e} {reps}");
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    let names: Vec<&str> = SHAPES.iter().map(|s| s.name).collect();
    eprintln!("train_step: {problem}");
    eprintln!(
        "usage: train_step [--seconds S] [--layers lstm|gru|bilstm|bigru] SHAPE...   (shapes: {})",
        names.join(", ")
    );
    ExitCode::from(2)
}

/// The median time of one step, over as many steps as fit in `budget` (at least five), after
/// a warm-up of a tenth of it.
fn median_step(mut step: impl FnMut() -> f64, budget: Duration) -> (f64, usize) {
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        step();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        std::hint::black_box(step());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len())
}
