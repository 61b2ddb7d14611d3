//! CSV series end to end: scaling fitted on the training rows alone, early stopping's
//! restored weights, and `--save` then `predict` giving what the run measured.

use std::path::Path;

use compiler::load::{Files, Unreadable};
use compiler::{compile_with, lower};
use runtime::train::{Score, Trainer};

use crate::{compile_spec, lstmc, lstmc_stdout, repo_root};

/// The files of one test: a CSV under a name, whatever the path.
struct OneFile(Vec<u8>);

impl Files for OneFile {
    fn read(&self, _path: &str, _limit: u64) -> Result<Vec<u8>, Unreadable> {
        Ok(self.0.clone())
    }
}

const SPEC: &str = "model m {\n  input steps=3 features=1\n  lstm 4\n  dense 1\n}\n\
    data source=csv(\"series.csv\", inputs=value, targets=value) frame=forecast(window=3) \
    scale=minmax split=ordered(train=0.5)\n\
    train loss=mse epochs=20 batch=2 seed=3\nshow rmse\n";

fn trained(csv: &str) -> Trainer {
    let compiled = compile_with(SPEC.as_bytes(), &OneFile(csv.as_bytes().to_vec()));
    let (spec, checked) = compiled.result.expect("a valid spec");
    let mut trainer = Trainer::new(&lower::lower(&spec, &checked));
    trainer.train(|_| {}).expect("finite");
    trainer
}

/// The test rows of two series differ wildly; the scaling, the training and the training
/// figures must not.
#[test]
fn test_rows_do_not_change_the_scaling_or_the_training() {
    let rows = |test_scale: f64| {
        let mut csv = String::from("value\n");
        for row in 0..40 {
            let value = (row as f64 * 0.7).sin() * 10.0 + 20.0;
            let value = if row >= 20 { value * test_scale } else { value };
            csv += &format!("{value}\n");
        }
        csv
    };
    let (mut plain, mut wild) = (trained(&rows(1.0)), trained(&rows(50.0)));
    assert_eq!(plain.scaler(), wild.scaler());
    let values = |trainer: &Trainer| -> Vec<Vec<f32>> {
        trainer
            .model
            .tensors
            .iter()
            .map(|t| t.value.clone())
            .collect()
    };
    assert_eq!(
        values(&plain),
        values(&wild),
        "the same training, bit for bit"
    );
    let (Score::Errors(a), Score::Errors(b)) = (plain.evaluate().score, wild.evaluate().score)
    else {
        panic!("a regression is scored by its errors")
    };
    assert_eq!(a[0], b[0], "the same training figures");
    assert!(
        b[1].rmse > 10.0 * a[1].rmse,
        "the test rows did change: {a:?} {b:?}"
    );
}

/// When patience runs out, the weights are those the best epoch ended with, to the bit.
#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    let path = repo_root().join("specs/airline_early.lstm");
    let (spec, checked) = compile_spec(&path).result.unwrap();
    let plan = lower::lower(&spec, &checked);
    let patience = plan.train.early_stop.unwrap().patience;
    let mut trainer = Trainer::new(&plan);
    let (mut best_loss, mut best_epoch, mut best_values) = (f64::INFINITY, 0, Vec::new());
    let mut last_epoch = 0;
    while let Some(stats) = trainer.next_epoch() {
        let stats = stats.unwrap();
        let val_loss = stats.val_loss.unwrap();
        if val_loss < best_loss {
            best_loss = val_loss;
            best_epoch = stats.epoch;
            best_values = trainer
                .model
                .tensors
                .iter()
                .map(|t| t.value.clone())
                .collect();
        }
        last_epoch = stats.epoch;
    }
    let best = trainer.best().unwrap();
    assert!(best.stopped, "the spec stops early at seed 1");
    assert_eq!(
        (best.epoch, last_epoch),
        (best_epoch, best_epoch + patience)
    );
    let restored: Vec<Vec<f32>> = trainer
        .model
        .tensors
        .iter()
        .map(|t| t.value.clone())
        .collect();
    assert_eq!(restored, best_values);
}

/// `predict` over the whole file, scored on the test part's windows, gives the test RMSE that
/// the run printed: the saved weights and scaling are the run's.
#[test]
fn saved_then_predicted_matches_the_run() {
    let dir = tempdir("series_round_trip");
    let weights = dir.join("airline.safetensors");
    let out = lstmc_stdout(&[
        "run",
        "specs/airline.lstm",
        "--save",
        weights.to_str().unwrap(),
    ]);
    let printed: f64 = out
        .lines()
        .find_map(|line| line.strip_prefix("rmse: "))
        .and_then(|line| line.split(", test ").nth(1))
        .unwrap()
        .parse()
        .unwrap();
    let predictions = dir.join("predictions.csv");
    let predicted = lstmc(&[
        "predict",
        "specs/airline.lstm",
        "--load",
        weights.to_str().unwrap(),
        "--input-file",
        "data/airline_passengers.csv",
        "--output",
        predictions.to_str().unwrap(),
    ]);
    assert_eq!(
        predicted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&predicted.stderr)
    );
    let actual = passengers(&repo_root().join("data/airline_passengers.csv"));
    // Test rows are the file's rows 96..144; a test window ends on row 96 or later and its
    // target, the next row, is in the file.
    let text = std::fs::read_to_string(&predictions).unwrap();
    let mut squared = Vec::new();
    for line in text.lines().skip(1) {
        let (file_line, value) = line.split_once(',').unwrap();
        let row = file_line.parse::<usize>().unwrap() - 2;
        if (96..143).contains(&row) {
            let error = value.parse::<f64>().unwrap() - actual[row + 1];
            squared.push(error * error);
        }
    }
    assert_eq!(squared.len(), 47);
    let rmse = (squared.iter().sum::<f64>() / 47.0).sqrt();
    assert!(
        (rmse - printed).abs() < 1e-3,
        "predict gives {rmse}, the run printed {printed}"
    );
    // A value past f32's range is refused as training refuses it, not read as infinity.
    let file = std::fs::read_to_string(repo_root().join("data/airline_passengers.csv")).unwrap();
    let mut lines: Vec<String> = file.lines().map(str::to_string).collect();
    lines[5] = format!("{},1e39", lines[5].split(',').next().unwrap());
    let huge = dir.join("huge.csv");
    std::fs::write(&huge, lines.join("\n")).unwrap();
    let refused = lstmc(&[
        "predict",
        "specs/airline.lstm",
        "--load",
        weights.to_str().unwrap(),
        "--input-file",
        huge.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("huge.csv: line 6, column 2: 1e39 is beyond the range"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

fn passengers(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lstmc_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A data file larger than the memory bound is refused from its size, before it is read: a
/// sparse file of 5 GiB takes no disk and would take minutes to read.
#[test]
fn a_file_over_the_memory_bound_is_refused_unread() {
    let dir = tempdir("huge_csv");
    let file = std::fs::File::create(dir.join("series.csv")).unwrap();
    file.set_len(5 << 30).unwrap();
    let spec_path = dir.join("huge.lstm");
    std::fs::write(&spec_path, SPEC).unwrap();
    let started = std::time::Instant::now();
    let compiled = compile_spec(&spec_path);
    let Err(diagnostics) = &compiled.result else {
        panic!("a 5 GiB file must be refused")
    };
    assert!(
        diagnostics[0]
            .message
            .contains("more than the 4.0 GiB limit"),
        "{:?}",
        diagnostics[0].message
    );
    assert!(started.elapsed().as_secs() < 5, "refused without reading");
    std::fs::remove_dir_all(dir).unwrap();
}
