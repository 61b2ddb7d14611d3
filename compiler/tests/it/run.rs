//! `lstmc run`, end to end through the binary: every experiment reaches its tutorial's
//! accuracy with the spec's seed, the same seed gives the same numbers, and diverging
//! training stops with exit code 3.

use std::process::Output;

use crate::{lstmc, repo_root};

/// The `accuracy: 98.90%` line's figure.
fn accuracy(out: &Output) -> f64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("accuracy: "))
        .unwrap_or_else(|| panic!("no accuracy line in {stdout}"));
    line.trim_end_matches('%').parse().unwrap()
}

fn assert_reaches(spec: &str, extra: &[&str], at_least: f64) {
    let path = format!("specs/{spec}.lstm");
    let mut args = vec!["run", path.as_str()];
    args.extend_from_slice(extra);
    let out = lstmc(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reached = accuracy(&out);
    assert!(
        reached >= at_least,
        "{spec} {extra:?}: {reached}% < {at_least}%"
    );
}

/// The experiments that train in well under a second: full length, the tutorial's accuracy.
#[test]
fn tutorial_accuracy_at_full_length() {
    for (spec, tutorial) in [
        ("alphabet_naive", 84.00),
        ("alphabet_window", 86.96),
        ("alphabet_steps", 100.0),
        ("alphabet_batch_all", 100.0),
        ("alphabet_stateful", 100.0),
        ("echo_whole", 100.0),
        ("index_recall", 100.0),
    ] {
        assert_reaches(spec, &[], tutorial);
    }
}

/// The two long experiments, shortened: far above chance (1/26 and 1/100) already.
#[test]
fn long_experiments_shortened() {
    assert_reaches("alphabet_varlen", &["--epochs", "30"], 70.0);
    assert_reaches("encoder_decoder", &["--epochs", "600"], 50.0);
}

/// Full length, as the tutorials ran them: `RUN_SLOW_TESTS=1 cargo test`.
#[test]
fn long_experiments_full_length() {
    if std::env::var_os("RUN_SLOW_TESTS").is_none() {
        return;
    }
    assert_reaches("alphabet_varlen", &[], 98.90);
    assert_reaches("encoder_decoder", &[], 100.0);
}

#[test]
fn stateful_model_recites_the_alphabet() {
    let out = lstmc(&["run", "specs/alphabet_stateful.lstm"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let recital: Vec<String> = (b'A'..=b'Y')
        .map(|c| format!("{} -> {}", c as char, (c + 1) as char))
        .collect();
    assert!(stdout.contains(&recital.join("\n")), "{stdout}");
    assert!(
        stdout.contains("generate from K:\nK -> B\nB -> C"),
        "{stdout}"
    );
}

#[test]
fn same_seed_same_numbers() {
    let run = |seed: &str| {
        lstmc(&[
            "run",
            "specs/alphabet_steps.lstm",
            "--epochs",
            "50",
            "--seed",
            seed,
        ])
    };
    let (first, second, other) = (run("5"), run("5"), run("6"));
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(
        first.stderr, second.stderr,
        "epoch losses differ between runs"
    );
    assert_ne!(
        first.stderr, other.stderr,
        "another seed should give other numbers"
    );
}

#[test]
fn diverging_training_exits_3() {
    let spec = std::fs::read_to_string(repo_root().join("specs/alphabet_naive.lstm")).unwrap();
    // Updates near f32's largest value overflow the weights within a few batches.
    let spec = spec.replace("adam(lr=0.001)", "adam(lr=1e38)");
    let path = std::env::temp_dir().join(format!("lstmc_diverge_{}.lstm", std::process::id()));
    std::fs::write(&path, spec).unwrap();
    let out = lstmc(&["run", path.to_str().unwrap(), "--epochs", "5"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NaN or infinite in epoch") && stderr.contains("batch"),
        "{stderr}"
    );
}

#[test]
fn spec_errors_stop_before_running() {
    let out = lstmc(&["run", "compiler/test_data/err/zero_epochs.lstm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn log_has_a_row_per_epoch() {
    let path = std::env::temp_dir().join(format!("lstmc_log_{}.csv", std::process::id()));
    let out = lstmc(&[
        "run",
        "specs/alphabet_steps.lstm",
        "--epochs",
        "7",
        "--log",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "epoch,loss,accuracy,seconds");
    let epochs: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2", "3", "4", "5", "6", "7"]);
}

#[test]
fn seeds_run_in_parallel_and_match_single_runs() {
    let out = lstmc(&[
        "run",
        "specs/alphabet_naive.lstm",
        "--epochs",
        "60",
        "--seed",
        "3",
        "--seeds",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[3].starts_with("mean "), "{stdout}");
    for (line, seed) in lines.iter().zip(["3", "4", "5"]) {
        let single = lstmc(&[
            "run",
            "specs/alphabet_naive.lstm",
            "--epochs",
            "60",
            "--seed",
            seed,
        ]);
        assert_eq!(
            *line,
            format!("seed {seed}: accuracy: {:.2}%", accuracy(&single))
        );
    }
}
