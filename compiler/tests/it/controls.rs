//! Optimizers, clipping and schedules end to end: each optimizer the language names trains a
//! small spec, a plateau schedule lowers the rate by Keras' rule over the run's own
//! validation losses, and `lstmc` reports both (`check --plan`, `run`'s progress).

use compiler::{compile, lower};
use runtime::train::{EpochStats, Trainer};

use crate::{compile_spec, lstmc, lstmc_stdout, repo_root};

/// Experiment 1's model for 15 epochs, with `optimizer`.
fn alphabet(optimizer: &str) -> String {
    format!(
        "model m {{\n  input steps=1 features=1\n  lstm 32\n  dense 26 softmax\n}}\n\
         data source=alphabet frame=windows(1) encode=normalize\n\
         train optimizer={optimizer} epochs=15 batch=1 seed=1\n"
    )
}

fn history(trainer: &mut Trainer) -> Vec<EpochStats> {
    let mut epochs = Vec::new();
    trainer.train(|stats| epochs.push(stats)).expect("finite");
    epochs
}

#[test]
fn each_optimizer_lowers_the_loss() {
    for optimizer in [
        "adam(lr=0.01)",
        "adamw(0.01, weight_decay=0.1)",
        "sgd(lr=1)",
        "sgd(lr=0.1, momentum=0.9, nesterov=true)",
        "rmsprop(lr=0.01)",
        "rmsprop(lr=0.01, rho=0.8, momentum=0.5, epsilon=1e-6, centered=true)",
    ] {
        let compiled = compile(alphabet(optimizer).as_bytes());
        let (spec, checked) = compiled.result.expect("a valid spec");
        let epochs = history(&mut Trainer::new(&lower::lower(&spec, &checked)));
        let (first, last) = (epochs[0].loss, epochs[epochs.len() - 1].loss);
        assert!(last < 0.9 * first, "{optimizer}: loss {first} to {last}");
    }
}

/// Written out, each argument left out is Keras' default: the same plan, the same bits.
#[test]
fn an_optimizer_written_with_keras_defaults_is_the_default() {
    let plan = |optimizer: &str| {
        let compiled = compile(alphabet(optimizer).as_bytes());
        let (spec, checked) = compiled.result.expect("a valid spec");
        lower::lower(&spec, &checked).train.optimizer
    };
    let pairs = [
        (
            "adam",
            "adam(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-7)",
        ),
        (
            "adamw",
            "adamw(lr=0.001, weight_decay=0.004, beta1=0.9, beta2=0.999, epsilon=1e-7)",
        ),
        ("sgd", "sgd(lr=0.01, momentum=0, nesterov=false)"),
        (
            "rmsprop",
            "rmsprop(lr=0.001, rho=0.9, momentum=0, epsilon=1e-7, centered=false)",
        ),
    ];
    for (short, written) in pairs {
        assert_eq!(plan(short), plan(written), "{written}");
    }
}

/// Keras' `ReduceLROnPlateau`, written out: the rate each epoch of the run ends with,
/// replayed from the run's own validation losses (factor 0.5, patience 2, min_delta 1e-4,
/// min_lr 0, from the rate of 0.01).
fn replayed_rates(epochs: &[EpochStats]) -> Vec<f64> {
    let (mut lr, mut best, mut wait) = (0.01, f64::INFINITY, 0);
    let mut rates = Vec::new();
    for stats in epochs {
        let val_loss = stats.val_loss.expect("a validation part");
        if val_loss < best - 1e-4 {
            (best, wait) = (val_loss, 0);
        } else {
            wait += 1;
            if wait >= 2 && lr > 0.0 {
                (lr, wait) = (lr * 0.5, 0);
            }
        }
        rates.push(lr);
    }
    rates
}

#[test]
fn a_plateau_schedule_follows_the_validation_loss() {
    let path = repo_root().join("compiler/test_data/run/plateau_series.lstm");
    let (spec, checked) = compile_spec(&path).result.unwrap();
    let mut trainer = Trainer::new(&lower::lower(&spec, &checked));
    let mut epochs = Vec::new();
    let mut rates = Vec::new();
    while let Some(stats) = trainer.next_epoch() {
        epochs.push(stats.expect("finite"));
        rates.push(trainer.learning_rate());
    }
    assert_eq!(rates, replayed_rates(&epochs));
    let lowered: Vec<Option<f64>> = epochs.iter().map(|stats| stats.reduced_lr).collect();
    let changes: Vec<Option<f64>> = rates
        .iter()
        .scan(0.01, |before, &lr| {
            let changed = (lr != *before).then_some(lr);
            *before = lr;
            Some(changed)
        })
        .collect();
    assert_eq!(lowered, changes);
    assert!(
        lowered[..12].iter().flatten().count() >= 2 && lowered[12..].iter().flatten().count() >= 2,
        "the rate is lowered before and after the resume tests' checkpoint: {lowered:?}"
    );
}

#[test]
fn run_prints_each_lowered_rate() {
    let out = lstmc(&[
        "run",
        "compiler/test_data/run/plateau_series.lstm",
        "--epochs",
        "6",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let progress = String::from_utf8(out.stderr).unwrap();
    let lowered: Vec<&str> = progress
        .lines()
        .filter(|line| line.contains("learning rate"))
        .collect();
    assert_eq!(
        lowered,
        [
            "epoch 3: learning rate reduced to 0.005",
            "epoch 6: learning rate reduced to 0.0025"
        ]
    );
}

/// `check --plan` names the state the optimizer keeps beside the parameters.
#[test]
fn the_plan_names_the_optimizers_state() {
    let specs = [
        (
            "plateau_series",
            "and RMSprop velocity, average gradient and momentum:",
        ),
        ("sgd_step_decay", "and SGD momentum:"),
        ("adamw_exponential", "and AdamW moments:"),
    ];
    for (name, state) in specs {
        let path = format!("compiler/test_data/run/{name}.lstm");
        let report = lstmc_stdout(&["check", "--plan", &path]);
        let line = format!("parameters with gradients {state}");
        assert!(report.contains(&line), "{name}:\n{report}");
    }
    let plain_sgd = std::env::temp_dir().join(format!("lstmc_{}_sgd.lstm", std::process::id()));
    std::fs::write(&plain_sgd, alphabet("sgd(lr=0.1)")).unwrap();
    let report = lstmc_stdout(&["check", "--plan", plain_sgd.to_str().unwrap()]);
    std::fs::remove_file(&plain_sgd).unwrap();
    assert!(report.contains("parameters with gradients: "), "{report}");
}
