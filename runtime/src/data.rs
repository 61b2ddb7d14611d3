//! Data: the samples a framing cuts from a source (a drawn symbol sequence, a text's
//! characters in streams, or a series' scaled rows) and their encoding into time-major
//! batches.
//!
//! Symbol samples are kept as symbol indices, a series' as scaled values (`Dataset`), and
//! encoded only when a batch is filled (`Batch`), so that one buffer serves every batch and a
//! fresh draw reuses the same memory.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::plan::{Column, DataPlan, FramePlan, Scale, SourcePlan};

/// A padding position in a sample: encoded as an all-zero feature vector (Keras pads the
/// integer sequence with 0, which normalizes to 0.0 as well).
pub const PAD: u32 = kernels::softmax::IGNORE;

/// A lines source's start and end of an item: symbol 0, the vocabulary's `'\n'`.
pub const MARKER: u32 = 0;

/// The samples of one draw, or of one part of a series: `symbols` input positions and
/// `target_steps` target steps each.
#[derive(Clone)]
pub struct Dataset {
    pub symbols: usize,
    pub target_steps: usize,
    samples: Samples,
}

#[derive(Clone)]
enum Samples {
    /// `[N, symbols]` symbol inputs (`PAD` for padding), `[N, target_steps]` classes, and the
    /// source's sequence they are cut from.
    Symbols {
        inputs: Vec<u32>,
        targets: Vec<u32>,
        sequence: Vec<u32>,
    },
    /// `[N, symbols, features]` scaled input values and `[N, target_steps, outputs]` scaled
    /// target values.
    Values {
        inputs: Vec<f32>,
        targets: Vec<f32>,
        features: usize,
        outputs: usize,
        /// Each sample's first target row in the series.
        target_rows: Vec<usize>,
    },
}

impl Dataset {
    /// Room for the samples a symbol source's `plan` frames. Allocates; `draw` does not.
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
            FramePlan::Forecast { .. } => unreachable!("a series is framed by `Dataset::series`"),
            FramePlan::Streams { .. } => unreachable!("a text is framed by `Dataset::streams`"),
            FramePlan::Items { .. } => unreachable!("lines are framed by `Dataset::items`"),
        };
        Dataset {
            symbols,
            target_steps,
            samples: Samples::Symbols {
                inputs: vec![PAD; samples * symbols],
                targets: vec![0; samples * target_steps],
                sequence: vec![0; plan.source.length()],
            },
        }
    }

    /// The characters `range` of a text in `streams` parallel streams of `steps`-character
    /// samples: sample `k * streams + b` continues stream `b` where sample
    /// `(k - 1) * streams + b` left off, so that a stateful layer's batch slot `b` reads
    /// stream `b` from batch to batch.
    pub fn streams(plan: &DataPlan, range: std::ops::Range<usize>, streams: usize) -> Dataset {
        let (SourcePlan::Text { ids, .. }, FramePlan::Streams { steps }) =
            (&plan.source, plan.frame)
        else {
            unreachable!("the compiler frames a text by streams")
        };
        let text = &ids[range];
        // Each stream's share of the characters but the last, whose successor is the last
        // target; the share is cut into whole steps.
        let share = text.len().saturating_sub(1) / streams;
        let chunks = share / steps;
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        for chunk in 0..chunks {
            for stream in 0..streams {
                let start = stream * share + chunk * steps;
                inputs.extend_from_slice(&text[start..start + steps]);
                targets.extend_from_slice(&text[start + 1..start + steps + 1]);
            }
        }
        Dataset {
            symbols: steps,
            target_steps: steps,
            samples: Samples::Symbols {
                inputs,
                targets,
                sequence: Vec::new(),
            },
        }
    }

    /// The items `ids` of a lines source, each padded at the end to the frame's steps.
    pub fn items(plan: &DataPlan, ids: &[usize]) -> Dataset {
        let (SourcePlan::Lines { items, .. }, FramePlan::Items { steps }) =
            (&plan.source, plan.frame)
        else {
            unreachable!("the compiler frames lines as items")
        };
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        for &id in ids {
            let item = &items[id];
            let padding = steps - item.len() - 1;
            inputs.push(MARKER);
            inputs.extend_from_slice(item);
            inputs.extend(std::iter::repeat_n(PAD, padding));
            targets.extend_from_slice(item);
            targets.push(MARKER);
            targets.extend(std::iter::repeat_n(PAD, padding));
        }
        Dataset {
            symbols: steps,
            target_steps: steps,
            samples: Samples::Symbols {
                inputs,
                targets,
                sequence: Vec::new(),
            },
        }
    }

    /// The samples of a series whose windows start at the rows `starts`, scaled by
    /// `scaler`.
    pub fn series(plan: &DataPlan, starts: &[usize], scaler: &Scaler) -> Dataset {
        let (SourcePlan::Series { inputs, targets }, FramePlan::Forecast { window, out, .. }) =
            (&plan.source, plan.frame)
        else {
            unreachable!("the compiler frames a series by forecast windows")
        };
        let samples = starts.len();
        let mut x = Vec::with_capacity(samples * window * inputs.len());
        let mut y = Vec::with_capacity(samples * out * targets.len());
        let mut rows = Vec::with_capacity(samples);
        for &start in starts {
            push_rows(&mut x, inputs, &scaler.inputs, start..start + window);
            let (first, _) = target_rows(plan.frame, start);
            push_rows(&mut y, targets, &scaler.targets, first..first + out);
            rows.push(first);
        }
        // The `out` future rows form one target vector, as Keras' multi-step `Dense(out)`.
        Dataset {
            symbols: window,
            target_steps: 1,
            samples: Samples::Values {
                inputs: x,
                targets: y,
                features: inputs.len(),
                outputs: out * targets.len(),
                target_rows: rows,
            },
        }
    }

    pub fn samples(&self) -> usize {
        match &self.samples {
            Samples::Symbols { targets, .. } => targets.len() / self.target_steps,
            Samples::Values {
                targets, outputs, ..
            } => targets.len() / (self.target_steps * outputs),
        }
    }

    /// A symbol sample's input symbols.
    pub fn input(&self, sample: usize) -> &[u32] {
        match &self.samples {
            Samples::Symbols { inputs, .. } => {
                &inputs[sample * self.symbols..(sample + 1) * self.symbols]
            }
            Samples::Values { .. } => unreachable!("a series has values, not symbols"),
        }
    }

    /// A symbol sample's target classes.
    pub fn target(&self, sample: usize) -> &[u32] {
        match &self.samples {
            Samples::Symbols { targets, .. } => {
                &targets[sample * self.target_steps..(sample + 1) * self.target_steps]
            }
            Samples::Values { .. } => unreachable!("a series has values, not classes"),
        }
    }

    /// The targets of symbol samples that count: all but padding.
    pub fn counted_targets(&self) -> usize {
        match &self.samples {
            Samples::Symbols { targets, .. } => targets.iter().filter(|&&t| t != PAD).count(),
            Samples::Values { targets, .. } => targets.len(),
        }
    }

    /// A series sample's scaled inputs `[steps, features]` and targets `[steps, outputs]`.
    pub fn values(&self, sample: usize) -> (&[f32], &[f32]) {
        match &self.samples {
            Samples::Values {
                inputs,
                targets,
                features,
                outputs,
                ..
            } => {
                let (x, y) = (self.symbols * features, self.target_steps * outputs);
                (
                    &inputs[sample * x..(sample + 1) * x],
                    &targets[sample * y..(sample + 1) * y],
                )
            }
            Samples::Symbols { .. } => unreachable!("symbols have no values"),
        }
    }

    /// A series sample's first target row in the series: where it sits in time.
    pub fn target_row(&self, sample: usize) -> usize {
        match &self.samples {
            Samples::Values { target_rows, .. } => target_rows[sample],
            Samples::Symbols { .. } => unreachable!("symbols have no rows"),
        }
    }

    /// Whether the samples are a series' values rather than symbols.
    pub fn is_series(&self) -> bool {
        matches!(self.samples, Samples::Values { .. })
    }

    /// Draws the source's sequence and frames it into samples, as the tutorials do.
    pub fn draw(&mut self, plan: &DataPlan, rng: &mut Pcg64Mcg) {
        let (symbols, target_steps) = (self.symbols, self.target_steps);
        let Samples::Symbols {
            inputs,
            targets,
            sequence,
        } = &mut self.samples
        else {
            unreachable!("a series is read, not drawn")
        };
        draw_sequence(&plan.source, rng, sequence);
        let samples = inputs
            .chunks_exact_mut(symbols)
            .zip(targets.chunks_exact_mut(target_steps));
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
            FramePlan::Forecast { .. } => unreachable!("a series is read, not drawn"),
            FramePlan::Streams { .. } => unreachable!("a text is read, not drawn"),
            FramePlan::Items { .. } => unreachable!("lines are read, not drawn"),
        }
    }
}

/// The first row of a sample's targets and the rows `[start, end)` the sample reads, inputs
/// and targets together.
pub fn target_rows(frame: FramePlan, start: usize) -> (usize, usize) {
    let FramePlan::Forecast { window, ahead, out } = frame else {
        unreachable!("a series is framed by forecast windows")
    };
    // With `ahead=0` the target is the window's last row itself (its other columns).
    let first = start + window - 1 + ahead;
    (first, (first + out).max(start + window))
}

/// The windows a run of `rows` rows holds: the first row of each.
pub fn window_starts(frame: FramePlan, rows: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let (_, end) = target_rows(frame, 0);
    rows.start..(rows.end + 1).saturating_sub(end).max(rows.start)
}

/// `values[row]` of each column over `rows`, scaled, appended row by row.
fn push_rows(
    out: &mut Vec<f32>,
    columns: &[Column],
    scales: &[Affine],
    rows: std::ops::Range<usize>,
) {
    for row in rows {
        for (column, scale) in columns.iter().zip(scales) {
            out.push(scale.apply(column.values[row]));
        }
    }
}

/// `(x - offset) / scale`, fitted on the training rows of one column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub offset: f32,
    pub scale: f32,
}

impl Affine {
    const IDENTITY: Affine = Affine {
        offset: 0.0,
        scale: 1.0,
    };

    pub fn apply(&self, x: f32) -> f32 {
        (x - self.offset) / self.scale
    }

    /// Back to the data's units.
    pub fn undo(&self, x: f32) -> f32 {
        x * self.scale + self.offset
    }

    fn fit(values: &[f32], scale: Scale) -> Affine {
        let n = values.len() as f64;
        let (offset, spread) = match scale {
            Scale::None => return Affine::IDENTITY,
            Scale::MinMax => {
                let min = values.iter().copied().fold(f32::INFINITY, f32::min);
                let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                (f64::from(min), f64::from(max) - f64::from(min))
            }
            Scale::Standard => {
                let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = values
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                (mean, var.sqrt())
            }
        };
        // A constant column scales by 1, as scikit-learn's scalers do, rather than divide by 0.
        let spread = if spread > 0.0 { spread } else { 1.0 };
        Affine {
            offset: offset as f32,
            scale: spread as f32,
        }
    }
}

/// Each input and target column's scaling, fitted on the training rows only, so that no
/// figure of the validation or test rows leaks into training.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    pub inputs: Vec<Affine>,
    pub targets: Vec<Affine>,
}

impl Scaler {
    /// Fitted on the rows that some training sample reads, and on no other row.
    pub fn fit(plan: &DataPlan, training_starts: &[usize]) -> Scaler {
        let SourcePlan::Series { inputs, targets } = &plan.source else {
            return Scaler {
                inputs: Vec::new(),
                targets: Vec::new(),
            };
        };
        let mut read = vec![false; plan.source.length()];
        for &start in training_starts {
            let (_, end) = target_rows(plan.frame, start);
            read[start..end].fill(true);
        }
        let fit = |columns: &[Column]| {
            columns
                .iter()
                .map(|c| {
                    let rows: Vec<f32> = c
                        .values
                        .iter()
                        .zip(&read)
                        .filter(|(_, &read)| read)
                        .map(|(&value, _)| value)
                        .collect();
                    Affine::fit(&rows, plan.scale)
                })
                .collect()
        };
        Scaler {
            inputs: fit(inputs),
            targets: fit(targets),
        }
    }
}

/// The samples a symbol source's framing cuts.
pub fn sample_count(plan: &DataPlan) -> usize {
    let length = plan.source.length();
    match plan.frame {
        FramePlan::Windows { size } => length - size,
        FramePlan::Runs { count, .. } => count,
        FramePlan::Lag { steps_in, .. } => length - steps_in + 1,
        FramePlan::Pick { .. } => 1,
        FramePlan::Forecast { .. } => unreachable!("a series' parts are framed on their own"),
        FramePlan::Streams { .. } => unreachable!("a text's parts are framed on their own"),
        FramePlan::Items { .. } => unreachable!("lines' parts are framed on their own"),
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
        SourcePlan::Series { .. } => unreachable!("a series is read, not drawn"),
        SourcePlan::Text { .. } => unreachable!("a text is read, not drawn"),
        SourcePlan::Lines { .. } => unreachable!("lines are read, not drawn"),
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
/// indices for a one-hot input), and `[T_target, B]` target classes or `[T_target, B, O]`
/// target values; with masking, `[T, B]` 1 for a real step and 0 for a padded one (empty
/// without).
pub struct Batch {
    pub rows: usize,
    pub x: Vec<f32>,
    pub hot: Vec<u32>,
    pub targets: Vec<u32>,
    pub values: Vec<f32>,
    pub mask: Vec<f32>,
}

/// How a sample's symbols become the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub steps: usize,
    pub features: usize,
    pub classes: usize,
    pub one_hot: bool,
    pub as_features: bool,
    /// Fed as hot indices: one-hot, one symbol a step, never padded, which the first layer
    /// projects by a row gather rather than a matrix multiply; or ids for an embedding,
    /// padded steps `PAD`.
    pub gather: bool,
    /// A series: each position is a row of `columns` values, and a target is one vector of
    /// `outputs` values (every target column at each forecast step); zero for symbols.
    pub columns: usize,
    pub outputs: usize,
    /// Padded steps masked (Keras' `Masking`): the batch carries a step mask.
    pub mask: bool,
}

impl Encoding {
    pub fn new(plan: &DataPlan, steps: usize, features: usize) -> Encoding {
        let padded = matches!(plan.frame, FramePlan::Runs { .. } | FramePlan::Items { .. });
        let (columns, outputs) = match (&plan.source, plan.frame) {
            (SourcePlan::Series { inputs, targets }, FramePlan::Forecast { out, .. }) => {
                (inputs.len(), out * targets.len())
            }
            _ => (0, 0),
        };
        Encoding {
            steps,
            features,
            classes: plan.source.classes(),
            one_hot: plan.one_hot,
            as_features: plan.as_features,
            gather: plan.ids || (plan.one_hot && !plan.as_features && !padded),
            columns,
            outputs,
            mask: matches!(plan.frame, FramePlan::Runs { mask: true, .. }),
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
        let series = encoding.columns > 0;
        Batch {
            rows,
            x,
            hot,
            targets: vec![0; if series { 0 } else { target_steps * rows }],
            values: vec![0.0; target_steps * rows * encoding.outputs],
            mask: vec![
                0.0;
                if encoding.mask {
                    encoding.steps * rows
                } else {
                    0
                }
            ],
        }
    }

    /// Encodes the samples `ids` (as many as the batch has rows) of `data`.
    pub fn fill(&mut self, data: &Dataset, ids: &[usize], encoding: Encoding) {
        self.fill_ids(data, ids.iter().copied(), encoding);
    }

    /// Encodes the samples `range` of `data`, in order, without a list of their ids.
    pub fn fill_range(
        &mut self,
        data: &Dataset,
        range: std::ops::Range<usize>,
        encoding: Encoding,
    ) {
        self.fill_ids(data, range, encoding);
    }

    fn fill_ids(
        &mut self,
        data: &Dataset,
        ids: impl ExactSizeIterator<Item = usize>,
        encoding: Encoding,
    ) {
        assert_eq!(ids.len(), self.rows, "a batch of {} rows", self.rows);
        self.x.fill(0.0);
        for (row, id) in ids.enumerate() {
            if data.is_series() {
                let (input, target) = data.values(id);
                self.fill_values_row(row, input, target, encoding);
            } else {
                self.fill_row(row, data.input(id), data.target(id), encoding);
            }
        }
    }

    /// Encodes one series input `[steps, columns]` with no target into a batch of one row.
    pub fn fill_one_values(&mut self, input: &[f32], encoding: Encoding) {
        assert_eq!(self.rows, 1, "fill_one_values fills a batch of one row");
        self.values.fill(0.0);
        self.fill_values_row(0, input, &[], encoding);
    }

    /// A series sample: its rows as steps, or side by side in one step, like symbols.
    fn fill_values_row(&mut self, row: usize, input: &[f32], target: &[f32], encoding: Encoding) {
        let (rows, columns, outputs) = (self.rows, encoding.columns, encoding.outputs);
        for (step, values) in target.chunks_exact(outputs).enumerate() {
            let at = (step * rows + row) * outputs;
            self.values[at..at + outputs].copy_from_slice(values);
        }
        for (position, values) in input.chunks_exact(columns).enumerate() {
            let (step, first) = match encoding.as_features {
                true => (0, position * columns),
                false => (position, 0),
            };
            let at = (step * rows + row) * encoding.features + first;
            self.x[at..at + columns].copy_from_slice(values);
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
            if encoding.mask {
                self.mask[position * rows + row] = f32::from(u8::from(symbol != PAD));
            }
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
