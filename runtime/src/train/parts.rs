//! The parts of a source that is read rather than drawn: a text's and a series' training,
//! validation and test samples.

use rand::seq::SliceRandom;

use super::{stream, Part, SPLIT_STREAM};
use crate::data::{window_starts, Dataset, Scaler};
use crate::plan::{DataPlan, Split};

/// A text's training part and its held-out parts, each in `streams` streams.
pub(super) fn text_parts(
    plan: &DataPlan,
    streams: usize,
) -> (Dataset, Vec<(Part, Dataset)>, Scaler) {
    let characters = plan.source.length();
    let (train, val) = match plan.split {
        Some(Split::Ordered {
            train_rows,
            val_rows,
        }) => (train_rows, val_rows),
        Some(Split::Random { .. }) => unreachable!("the checker splits a text in order"),
        None => (characters, 0),
    };
    let data = Dataset::streams(plan, 0..train, streams);
    let held_out = [
        (Part::Validation, train..train + val),
        (Part::Test, train + val..characters),
    ]
    .into_iter()
    .filter(|(_, range)| !range.is_empty())
    .map(|(part, range)| (part, Dataset::streams(plan, range, streams)))
    .collect();
    (data, held_out, Scaler::fit(plan, &[]))
}

/// Lines' training part and held-out parts: the items in order, or shuffled by the seed's
/// split stream before they are parted, as a random split says.
pub(super) fn lines_parts(plan: &DataPlan, seed: u64) -> (Dataset, Vec<(Part, Dataset)>, Scaler) {
    let total = plan.source.length();
    let mut ids: Vec<usize> = (0..total).collect();
    let (train, val) = match plan.split {
        None => (total, 0),
        Some(Split::Ordered {
            train_rows,
            val_rows,
        }) => (train_rows, val_rows),
        Some(Split::Random {
            train_samples,
            val_samples,
        }) => {
            ids.shuffle(&mut stream(seed, SPLIT_STREAM, 0));
            (train_samples, val_samples)
        }
    };
    let data = Dataset::items(plan, &ids[..train]);
    let held_out = [
        (Part::Validation, &ids[train..train + val]),
        (Part::Test, &ids[train + val..]),
    ]
    .into_iter()
    .filter(|(_, ids)| !ids.is_empty())
    .map(|(part, ids)| (part, Dataset::items(plan, ids)))
    .collect();
    (data, held_out, Scaler::fit(plan, &[]))
}

/// A series' training part and its held-out parts, scaled by a scaler fitted on the rows
/// the training samples read, and on no other.
pub(super) fn series_parts(plan: &DataPlan, seed: u64) -> (Dataset, Vec<(Part, Dataset)>, Scaler) {
    let [train, val, test] = part_starts(plan, seed);
    let scaler = Scaler::fit(plan, &train);
    let data = Dataset::series(plan, &train, &scaler);
    let held_out = [(Part::Validation, val), (Part::Test, test)]
        .into_iter()
        .filter(|(_, starts)| !starts.is_empty())
        .map(|(part, starts)| (part, Dataset::series(plan, &starts, &scaler)))
        .collect();
    (data, held_out, scaler)
}

/// The first row of each training, validation and test sample.
pub(super) fn part_starts(plan: &DataPlan, seed: u64) -> [Vec<usize>; 3] {
    let rows = plan.source.length();
    let windows = |range: std::ops::Range<usize>| window_starts(plan.frame, range).collect();
    match plan.split {
        None => [windows(0..rows), Vec::new(), Vec::new()],
        Some(Split::Ordered {
            train_rows,
            val_rows,
        }) => {
            let val_end = train_rows + val_rows;
            [
                windows(0..train_rows),
                windows(train_rows..val_end),
                windows(val_end..rows),
            ]
        }
        Some(Split::Random {
            train_samples,
            val_samples,
        }) => {
            let mut starts: Vec<usize> = windows(0..rows);
            starts.shuffle(&mut stream(seed, SPLIT_STREAM, 0));
            let test = starts.split_off(train_samples + val_samples);
            let val = starts.split_off(train_samples);
            [starts, val, test]
        }
    }
}
