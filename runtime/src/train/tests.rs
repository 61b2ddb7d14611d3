//! The parts of a series: which samples each split gives each part, and which rows the
//! scaling sees.

use super::parts::part_starts;
use super::*;
use crate::data::{window_starts, Affine};
use crate::plan::{Column, DataPlan, FramePlan, Scale, Split};

/// A series of `rows` rows whose values are their row numbers, framed one row in and that
/// row's own target out, so a sample's start is its only row.
fn numbered(rows: usize, split: Split) -> DataPlan {
    let column = |name: &str| Column {
        name: name.into(),
        values: (0..rows).map(|row| row as f32).collect(),
    };
    DataPlan {
        source: SourcePlan::Series {
            inputs: vec![column("x")],
            targets: vec![column("y")],
        },
        frame: FramePlan::Forecast {
            window: 1,
            ahead: 0,
            out: 1,
        },
        one_hot: false,
        ids: false,
        as_features: false,
        fresh: false,
        scale: Scale::MinMax,
        split: Some(split),
    }
}

#[test]
fn a_random_split_parts_every_sample_once_by_the_seed() {
    let split = Split::Random {
        train_samples: 70,
        val_samples: 15,
    };
    let plan = numbered(100, split);
    let parts = part_starts(&plan, 7);
    assert_eq!(parts.each_ref().map(Vec::len), [70, 15, 15]);
    let mut all: Vec<usize> = parts.concat();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>(), "each sample in one part");
    assert_eq!(
        part_starts(&plan, 7),
        parts,
        "the same seed, the same parts"
    );
    assert_ne!(
        part_starts(&plan, 8)[0],
        parts[0],
        "another seed, other parts"
    );
    assert!(
        parts[0].windows(2).any(|pair| pair[1] < pair[0]),
        "shuffled, not in row order"
    );
}

#[test]
fn an_ordered_split_frames_each_part_on_its_own() {
    let split = Split::Ordered {
        train_rows: 60,
        val_rows: 20,
    };
    let mut plan = numbered(100, split);
    plan.frame = FramePlan::Forecast {
        window: 3,
        ahead: 1,
        out: 2,
    };
    let [train, val, test] = part_starts(&plan, 0);
    // A sample reads 5 rows: 3 in, then 2 targets from the row after the window.
    assert_eq!(train, (0..56).collect::<Vec<_>>());
    assert_eq!(val, (60..76).collect::<Vec<_>>());
    assert_eq!(test, (80..96).collect::<Vec<_>>());
    assert_eq!(
        window_starts(plan.frame, 0..4),
        0..0,
        "too few rows for one sample"
    );
}

/// Min-max over the rows the training samples read: their row numbers' minimum and maximum,
/// whatever the other rows hold.
#[test]
fn the_scaling_sees_only_the_training_samples_rows() {
    let split = Split::Random {
        train_samples: 50,
        val_samples: 25,
    };
    let plan = numbered(100, split);
    let [train, _, _] = part_starts(&plan, 3);
    let (min, max) = (*train.iter().min().unwrap(), *train.iter().max().unwrap());
    let scaler = Scaler::fit(&plan, &train);
    let want = Affine {
        offset: min as f32,
        scale: (max - min) as f32,
    };
    assert_eq!(scaler.inputs, vec![want]);
    assert_eq!(scaler.targets, vec![want]);
}
