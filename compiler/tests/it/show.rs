//! What `lstmc run` shows after training: the prediction printouts in one form for every
//! framing, predictions from every evaluated draw, evaluation's starting state, and short
//! runs of mutated specs that never panic.

use compiler::{compile, lower, report};
use proptest::prelude::*;
use runtime::train::{Score, Trainer};

use crate::{lstm_files, lstmc_stdout, repo_root};

/// One spec per framing, trained briefly: the printouts are snapshots, so a change of form
/// shows in review.
#[test]
fn prediction_printouts_of_every_framing() {
    let framings = [
        ("windows_steps", "specs/alphabet_steps.lstm", "3"),
        ("windows_features", "specs/alphabet_window.lstm", "3"),
        ("runs", "specs/alphabet_varlen.lstm", "1"),
        ("lag", "specs/echo_whole.lstm", "3"),
        ("pick", "specs/index_recall.lstm", "3"),
        ("forecast", "specs/airline.lstm", "3"),
    ];
    for (name, spec, epochs) in framings {
        let stdout = lstmc_stdout(&["run", spec, "--epochs", epochs]);
        insta::assert_snapshot!(format!("predictions_{name}"), stdout);
    }
}

/// A spec trained for one epoch and evaluated on 200 fresh draws, showing `show`.
fn fresh_spec(show: &str) -> String {
    format!(
        "model recall {{\n  input steps=5 features=10\n  lstm 8\n  dense 10 softmax\n}}\n\
         data source=random_ints(0..10, length=5) frame=pick(2) encode=one_hot\n\
         train epochs=1 batch=1 seed=3\neval on=fresh draws=200\nshow {show}\n"
    )
}

/// The text `lstmc run` would print after training, from the library.
fn shown(text: &str) -> String {
    let compiled = compile(text.as_bytes());
    let (spec, checked) = compiled.result.expect("a valid spec");
    let plan = lower::lower(&spec, &checked);
    let mut trainer = Trainer::new(&plan);
    trainer.train(|_| {}).expect("finite");
    report::show(&plan, &mut trainer)
}

#[test]
fn predictions_come_from_every_fresh_draw() {
    let out = shown(&fresh_spec("predictions(count=200)"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 200, "{out}");
    let distinct: std::collections::HashSet<&&str> = lines.iter().collect();
    assert!(
        distinct.len() > 100,
        "{} distinct of 200:\n{out}",
        distinct.len()
    );
    let random = shown(&fresh_spec("predictions(count=200, order=random)"));
    let distinct: std::collections::HashSet<&str> = random.lines().collect();
    assert!(
        distinct.len() > 100,
        "{} distinct of 200:\n{random}",
        distinct.len()
    );
}

/// A stateful model that never resets is evaluated from the state training left it in, as
/// Keras evaluates: its final figure agrees with its last epochs rather than with a cold start.
#[test]
fn evaluation_continues_the_carried_state_when_never_reset() {
    let text = "model alphabet {\n  input steps=1 features=1\n  lstm 50 stateful\n  \
         dense 26 softmax\n}\ndata source=alphabet frame=windows(1) encode=normalize\n\
         train epochs=3000 batch=all shuffle=false reset=never seed=1\nshow accuracy\n";
    let compiled = compile(text.as_bytes());
    let (spec_never, checked) = compiled.result.unwrap();
    let plan = lower::lower(&spec_never, &checked);
    let mut trainer = Trainer::new(&plan);
    let mut last = 0.0;
    trainer
        .train(|stats| last = stats.accuracy.unwrap())
        .unwrap();
    let Score::Accuracy(accuracy) = trainer.evaluate().score else {
        panic!("a classification is scored by accuracy")
    };
    assert!(last >= 0.9, "the last epoch reached {last}");
    assert!(
        accuracy >= last - 0.05,
        "evaluated at {accuracy} after a last epoch at {last}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A spec that checks clean runs without panicking or aborting: the mutated specs that
    /// still compile are trained for one epoch, evaluated and shown.
    #[test]
    fn mutated_specs_that_check_clean_run(spec_index in 0usize..9, edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<u8>()), 1..4)) {
        let files = lstm_files(&repo_root().join("specs"));
        let mut bytes = std::fs::read(&files[spec_index]).unwrap();
        for (at, kind, byte) in edits {
            let at = at.index(bytes.len() + 1);
            crate::roundtrip::mutate(&mut bytes, at, kind, byte);
        }
        run_briefly(&bytes);
    }
}

/// Trains a spec that checks clean for one epoch and shows it, when it is small enough to do
/// so quickly.
fn run_briefly(bytes: &[u8]) {
    let compiled = compile(bytes);
    let Ok((spec, checked)) = &compiled.result else {
        return;
    };
    if checked.memory.total() > 16 << 20 || checked.framed.samples > 2000 {
        return;
    }
    let mut plan = lower::lower(spec, checked);
    plan.train.epochs = 1;
    let mut trainer = Trainer::new(&plan);
    if trainer.train(|_| {}).is_ok() {
        let _ = report::show(&plan, &mut trainer);
    }
}
