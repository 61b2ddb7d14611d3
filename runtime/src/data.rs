//! Data: the symbol sequence a source draws, the samples a framing cuts from it, and their
//! encoding into time-major batches.
//!
//! Samples are kept as symbol indices (`Dataset`) and encoded only when a batch is filled
//! (`Batch`), so that one buffer serves every batch and a fresh draw reuses the same memory.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::plan::{DataPlan, FramePlan, SourcePlan};

/// A padding position in a sample: encoded as an all-zero feature vector (Keras pads the
/// integer sequence with 0, which normalizes to 0.0 as well).
pub const PAD: u32 = u32::MAX;

/// The samples of one draw: `[N, symbols]` inputs and `[N, target_steps]` targets.
#[derive(Clone)]
pub struct Dataset {
    pub symbols: usize,
    pub target_steps: usize,
    inputs: Vec<u32>,
    targets: Vec<u32>,
    sequence: Vec<u32>,
}

impl Dataset {
    /// Room for the samples `plan` frames. Allocates; `draw` does not.
    pub fn new(plan: &DataPlan) -> Dataset {
        let samples = sample_count(plan);
        let (symbols, target_steps) = match plan.frame {
            FramePlan::Windows { size } => (size, 1),
            FramePlan::Runs { max_len, .. } => (max_len, 1),
            FramePlan::Lag {
                steps_in,
                steps_out,
            } => (steps_in, steps_out),
            FramePlan::Pick { .. } => (plan.source.length(), 1),
        };
        Dataset {
            symbols,
            target_steps,
            inputs: vec![PAD; samples * symbols],
            targets: vec![0; samples * target_steps],
            sequence: vec![0; plan.source.length()],
        }
    }

    pub fn samples(&self) -> usize {
        self.targets.len() / self.target_steps
    }

    pub fn input(&self, sample: usize) -> &[u32] {
        &self.inputs[sample * self.symbols..(sample + 1) * self.symbols]
    }

    pub fn target(&self, sample: usize) -> &[u32] {
        &self.targets[sample * self.target_steps..(sample + 1) * self.target_steps]
    }

    /// Draws the source's sequence and frames it into samples, as the tutorials do.
    pub fn draw(&mut self, plan: &DataPlan, rng: &mut Pcg64Mcg) {
        draw_sequence(&plan.source, rng, &mut self.sequence);
        let (symbols, target_steps) = (self.symbols, self.target_steps);
        let sequence = &self.sequence;
        let samples = self
            .inputs
            .chunks_exact_mut(symbols)
            .zip(self.targets.chunks_exact_mut(target_steps));
        match plan.frame {
            FramePlan::Windows { size } => {
                for (start, (input, target)) in samples.enumerate() {
                    input.copy_from_slice(&sequence[start..start + size]);
                    target[0] = sequence[start + size];
                }
            }
            FramePlan::Lag {
                steps_in,
                steps_out,
            } => {
                for (start, (input, target)) in samples.enumerate() {
                    input.copy_from_slice(&sequence[start..start + steps_in]);
                    target.copy_from_slice(&sequence[start..start + steps_out]);
                }
            }
            FramePlan::Pick { index } => {
                for (input, target) in samples {
                    input.copy_from_slice(sequence);
                    target[0] = sequence[index];
                }
            }
            FramePlan::Runs {
                max_len,
                pad_before,
                ..
            } => {
                for (input, target) in samples {
                    draw_run(sequence, max_len, pad_before, rng, input, target);
                }
            }
        }
    }
}

pub fn sample_count(plan: &DataPlan) -> usize {
    let length = plan.source.length();
    match plan.frame {
        FramePlan::Windows { size } => length - size,
        FramePlan::Runs { count, .. } => count,
        FramePlan::Lag { steps_in, .. } => length - steps_in + 1,
        FramePlan::Pick { .. } => 1,
    }
}

fn draw_sequence(source: &SourcePlan, rng: &mut Pcg64Mcg, out: &mut [u32]) {
    match source {
        SourcePlan::Alphabet { .. } => {
            for (index, symbol) in out.iter_mut().enumerate() {
                *symbol = index as u32;
            }
        }
        SourcePlan::RandomInts { .. } => {
            let classes = source.classes() as u32;
            for symbol in out.iter_mut() {
                *symbol = rng.random_range(0..classes);
            }
        }
    }
}

/// A random run and the symbol after it, as the variable-length tutorial draws them:
/// `start` in `0..L-2`, `end` in `start..min(start + max_len, L - 1)`.
fn draw_run(
    sequence: &[u32],
    max_len: usize,
    pad_before: bool,
    rng: &mut Pcg64Mcg,
    input: &mut [u32],
    target: &mut [u32],
) {
    let length = sequence.len();
    let start = rng.random_range(0..length - 2);
    let end = rng.random_range(start..(start + max_len).min(length - 1));
    let run = &sequence[start..=end];
    input.fill(PAD);
    let at = if pad_before { max_len - run.len() } else { 0 };
    input[at..at + run.len()].copy_from_slice(run);
    target[0] = sequence[end + 1];
}

/// One batch, encoded for the kernels: time-major `[T, B, F]` features (or `[T, B]` hot
/// indices for a one-hot input), and `[T_target, B]` target classes.
pub struct Batch {
    pub rows: usize,
    pub x: Vec<f32>,
    pub hot: Vec<u32>,
    pub targets: Vec<u32>,
}

/// How a sample's symbols become the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub steps: usize,
    pub features: usize,
    pub classes: usize,
    pub one_hot: bool,
    pub as_features: bool,
    /// One-hot, one symbol a step, never padded: fed as hot indices and projected by a row
    /// gather rather than a matrix multiply.
    pub gather: bool,
}

impl Encoding {
    pub fn new(plan: &DataPlan, steps: usize, features: usize) -> Encoding {
        let padded = matches!(plan.frame, FramePlan::Runs { .. });
        Encoding {
            steps,
            features,
            classes: plan.source.classes(),
            one_hot: plan.one_hot,
            as_features: plan.as_features,
            gather: plan.one_hot && !plan.as_features && !padded,
        }
    }
}

impl Batch {
    pub fn new(rows: usize, encoding: Encoding, target_steps: usize) -> Batch {
        let (x, hot) = match encoding.gather {
            true => (Vec::new(), vec![0; encoding.steps * rows]),
            false => (
                vec![0.0; encoding.steps * rows * encoding.features],
                Vec::new(),
            ),
        };
        Batch {
            rows,
            x,
            hot,
            targets: vec![0; target_steps * rows],
        }
    }

    /// Encodes the samples `ids` (as many as the batch has rows) of `data`.
    pub fn fill(&mut self, data: &Dataset, ids: &[usize], encoding: Encoding) {
        assert_eq!(ids.len(), self.rows, "a batch of {} rows", self.rows);
        self.x.fill(0.0);
        for (row, &id) in ids.iter().enumerate() {
            self.fill_row(row, data.input(id), data.target(id), encoding);
        }
    }

    /// Encodes one input with no target into a batch of one row.
    pub fn fill_one(&mut self, input: &[u32], encoding: Encoding) {
        assert_eq!(self.rows, 1, "fill_one fills a batch of one row");
        self.x.fill(0.0);
        self.targets.fill(0);
        self.fill_row(0, input, &[], encoding);
    }

    fn fill_row(&mut self, row: usize, input: &[u32], target: &[u32], encoding: Encoding) {
        let rows = self.rows;
        for (step, &symbol) in target.iter().enumerate() {
            self.targets[step * rows + row] = symbol;
        }
        for (position, &symbol) in input.iter().enumerate() {
            if encoding.gather {
                self.hot[position * rows + row] = symbol;
                continue;
            }
            let (step, first) = match encoding.as_features {
                true => (
                    0,
                    position
                        * if encoding.one_hot {
                            encoding.classes
                        } else {
                            1
                        },
                ),
                false => (position, 0),
            };
            let at = (step * rows + row) * encoding.features + first;
            match (symbol, encoding.one_hot) {
                (PAD, _) => {}
                (symbol, true) => self.x[at + symbol as usize] = 1.0,
                (symbol, false) => self.x[at] = symbol as f32 / encoding.classes as f32,
            }
        }
    }
}
