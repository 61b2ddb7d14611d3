//! The runtime's data: each framing cuts the samples the tutorials cut, and batches encode
//! them time-major.

mod bidirectional;
mod gradients;
mod optimizers;
mod streams;
mod training;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{sample_count, Batch, Dataset, Encoding, PAD};
use runtime::plan::{DataPlan, FramePlan, Scale, SourcePlan};

fn alphabet(frame: FramePlan) -> DataPlan {
    let letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect();
    DataPlan {
        source: SourcePlan::Alphabet { letters },
        frame,
        one_hot: false,
        ids: false,
        as_features: false,
        fresh: false,
        scale: Scale::None,
        split: None,
    }
}

fn ints(frame: FramePlan) -> DataPlan {
    DataPlan {
        source: SourcePlan::RandomInts {
            lo: 0,
            hi: 100,
            length: 25,
        },
        frame,
        one_hot: true,
        ids: false,
        as_features: false,
        fresh: true,
        scale: Scale::None,
        split: None,
    }
}

fn drawn(plan: &DataPlan, seed: u64) -> Dataset {
    let mut data = Dataset::new(plan);
    data.draw(plan, &mut Pcg64Mcg::seed_from_u64(seed));
    data
}

#[test]
fn windows_predict_the_next_letter() {
    let plan = alphabet(FramePlan::Windows { size: 3 });
    let data = drawn(&plan, 1);
    assert_eq!(data.samples(), 23);
    assert_eq!((data.input(0), data.target(0)), (&[0, 1, 2][..], &[3][..]));
    assert_eq!(
        (data.input(22), data.target(22)),
        (&[22, 23, 24][..], &[25][..])
    );
}

#[test]
fn lag_targets_the_first_steps_of_each_window() {
    let plan = ints(FramePlan::Lag {
        steps_in: 5,
        steps_out: 2,
    });
    let data = drawn(&plan, 2);
    assert_eq!(data.samples(), 21);
    for sample in 0..21 {
        assert_eq!(data.target(sample), &data.input(sample)[..2]);
        if sample > 0 {
            assert_eq!(
                data.input(sample)[..4],
                data.input(sample - 1)[1..],
                "windows slide by one"
            );
        }
    }
    assert!((0..21).flat_map(|s| data.input(s)).all(|&v| v < 100));
}

#[test]
fn pick_targets_the_symbol_at_the_index() {
    let plan = DataPlan {
        source: SourcePlan::RandomInts {
            lo: 0,
            hi: 10,
            length: 5,
        },
        ..ints(FramePlan::Pick { index: 2 })
    };
    let data = drawn(&plan, 3);
    assert_eq!(data.samples(), 1);
    assert_eq!(data.target(0), &data.input(0)[2..3]);
}

#[test]
fn runs_are_pre_padded_consecutive_letters() {
    let plan = alphabet(FramePlan::Runs {
        count: 1000,
        max_len: 5,
        pad_before: true,
        mask: false,
    });
    let data = drawn(&plan, 4);
    assert_eq!(data.samples(), sample_count(&plan));
    for sample in 0..1000 {
        let input = data.input(sample);
        let run: Vec<u32> = input.iter().copied().filter(|&s| s != PAD).collect();
        assert!((1..=5).contains(&run.len()));
        assert!(
            input[..5 - run.len()].iter().all(|&s| s == PAD),
            "padding comes first: {input:?}"
        );
        assert!(
            run.windows(2).all(|w| w[1] == w[0] + 1),
            "a run of consecutive letters: {run:?}"
        );
        assert_eq!(data.target(sample), &[run[run.len() - 1] + 1]);
    }
}

#[test]
fn fresh_draws_differ_and_seeds_repeat() {
    let plan = ints(FramePlan::Lag {
        steps_in: 5,
        steps_out: 5,
    });
    let mut rng = Pcg64Mcg::seed_from_u64(9);
    let mut data = Dataset::new(&plan);
    data.draw(&plan, &mut rng);
    let first = data.input(0).to_vec();
    data.draw(&plan, &mut rng);
    assert_ne!(first, data.input(0));
    assert_eq!(first, drawn(&plan, 9).input(0));
}

#[test]
fn batches_are_time_major() {
    let plan = alphabet(FramePlan::Windows { size: 3 });
    let data = drawn(&plan, 1);
    let encoding = Encoding::new(&plan, 3, 1);
    let mut batch = Batch::new(2, encoding, 1);
    batch.fill(&data, &[0, 5], encoding);
    // x[t, b]: sample 0 is A B C, sample 5 is F G H, each letter index / 26.
    let want: Vec<f32> = [0, 5, 1, 6, 2, 7]
        .iter()
        .map(|&i| i as f32 / 26.0)
        .collect();
    assert_eq!(batch.x, want);
    assert_eq!(batch.targets, vec![3, 8]);
}

#[test]
fn windows_as_features_sit_side_by_side() {
    let plan = DataPlan {
        as_features: true,
        ..alphabet(FramePlan::Windows { size: 3 })
    };
    let data = drawn(&plan, 1);
    let encoding = Encoding::new(&plan, 1, 3);
    let mut batch = Batch::new(1, encoding, 1);
    batch.fill(&data, &[2], encoding);
    assert_eq!(batch.x, vec![2.0 / 26.0, 3.0 / 26.0, 4.0 / 26.0]);
}

#[test]
fn one_hot_steps_are_fed_as_hot_indices() {
    let plan = ints(FramePlan::Lag {
        steps_in: 5,
        steps_out: 2,
    });
    let data = drawn(&plan, 5);
    let encoding = Encoding::new(&plan, 5, 100);
    assert!(encoding.gather);
    let mut batch = Batch::new(3, encoding, 2);
    batch.fill(&data, &[0, 1, 2], encoding);
    for step in 0..5 {
        for row in 0..3 {
            assert_eq!(batch.hot[step * 3 + row], data.input(row)[step]);
        }
    }
    assert!(batch.x.is_empty());
}
