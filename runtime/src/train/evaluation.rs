//! What an evaluation gives back: the score (accuracy, a regression's errors, a language
//! model's losses) on each part, and every evaluated sample with its prediction.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::SHOW_STREAM;
use crate::data::Dataset;

/// The score on the evaluation data, and every evaluated sample of a classification with
/// its prediction.
pub struct Evaluation {
    pub score: Score,
    /// Each draw evaluated, in order: one for the training data, `draws` for fresh data;
    /// none for a regression.
    pub draws: Vec<EvaluatedDraw>,
}

pub enum Score {
    /// Categorical accuracy over every evaluated target.
    Accuracy(f64),
    /// A regression's errors on each part of its series, in the data's units.
    Errors(Vec<PartErrors>),
    /// A language model's loss (nats per character) and accuracy on each part of its text.
    Language(Vec<PartLoss>),
}

impl Score {
    /// The figure `--seeds` compares: accuracy, or the last part's root mean squared error.
    pub fn headline(&self) -> f64 {
        match self {
            Score::Accuracy(accuracy) => *accuracy,
            Score::Errors(parts) => parts.last().map_or(f64::NAN, |part| part.rmse),
            Score::Language(parts) => parts.last().map_or(f64::NAN, |part| part.loss),
        }
    }
}

/// Where a sample of a series comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Train,
    Validation,
    Test,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "val",
            Part::Test => "test",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartLoss {
    pub part: Part,
    /// The mean cross-entropy of the next character, in nats.
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartErrors {
    pub part: Part,
    pub rmse: f64,
    pub mae: f64,
}

/// One draw of evaluation data and the classes the model predicted for it.
pub struct EvaluatedDraw {
    pub data: Dataset,
    /// `[N, target_steps]` predicted classes; empty for a series.
    pub predicted: Vec<u32>,
    /// A series' part and its `[N, outputs]` predicted values, scaled as its samples are.
    pub series: Option<(Part, Vec<f32>)>,
}

/// One evaluated sample of a series, every figure scaled as training scaled it: its input
/// rows `[window, inputs]`, target vector and predicted vector.
pub struct SeriesSample<'a> {
    pub part: Part,
    /// Its first target row in the series.
    pub row: usize,
    pub input: &'a [f32],
    pub target: &'a [f32],
    pub predicted: &'a [f32],
}

/// One evaluated sample: its input symbols (padding included), targets and predictions.
pub struct EvaluatedSample<'a> {
    pub input: &'a [u32],
    pub target: &'a [u32],
    pub predicted: &'a [u32],
}

impl Evaluation {
    /// The samples evaluated, over all draws.
    pub fn samples(&self) -> usize {
        self.draws.iter().map(|draw| draw.data.samples()).sum()
    }

    /// Sample `index`, counting through the draws in order.
    pub fn sample(&self, mut index: usize) -> EvaluatedSample<'_> {
        for draw in &self.draws {
            let samples = draw.data.samples();
            if index < samples {
                let steps = draw.data.target_steps;
                return EvaluatedSample {
                    input: draw.data.input(index),
                    target: draw.data.target(index),
                    predicted: &draw.predicted[index * steps..(index + 1) * steps],
                };
            }
            index -= samples;
        }
        panic!("sample {index} past the evaluated samples")
    }

    /// Sample `index` of a series, counting through its parts in order.
    pub fn series_sample(&self, mut index: usize) -> SeriesSample<'_> {
        for draw in &self.draws {
            let samples = draw.data.samples();
            let Some((part, values)) = &draw.series else {
                unreachable!("a series' evaluation holds its parts")
            };
            if index < samples {
                let (input, target) = draw.data.values(index);
                let width = target.len();
                return SeriesSample {
                    part: *part,
                    row: draw.data.target_row(index),
                    input,
                    target,
                    predicted: &values[index * width..(index + 1) * width],
                };
            }
            index -= samples;
        }
        panic!("sample {index} past the evaluated samples")
    }

    /// The samples to show: the first `count` (all when `None`), or `count` drawn at random
    /// with replacement, as the variable-length tutorial draws them.
    pub fn shown_samples(&self, count: Option<usize>, random: bool, seed: u64) -> Vec<usize> {
        let samples = self.samples();
        let count = count.unwrap_or(samples);
        if !random {
            return (0..count.min(samples)).collect();
        }
        let mut rng = Pcg64Mcg::seed_from_u64(seed ^ SHOW_STREAM);
        (0..count).map(|_| rng.random_range(0..samples)).collect()
    }
}
