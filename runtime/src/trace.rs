//! The recurrent layers' state as evaluation runs: every step's hidden state, cell state
//! and gates for a few batch rows, for a run report to draw. Nothing is recorded unless a
//! caller asks for it (`Trainer::record_state`), and training never records.

use crate::data::Dataset;
use crate::model::Workspace;

/// Batch rows recorded: each its own strip.
const STRIPS: usize = 3;

/// Steps a strip runs to at most, counted in its longest layer's steps, so that a report
/// stays small.
const STRIP_STEPS: usize = 40;

/// One signal of a layer at one batch row: `[steps, units]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// `h`, `c`, or a gate's letter (`i f g o` for an LSTM, `r z n` for a GRU); a
    /// bidirectional layer's are prefixed `forward ` and `backward `.
    pub name: String,
    pub steps: usize,
    pub units: usize,
    pub values: Vec<f32>,
}

/// A recurrent layer's signals at one batch row, the backward direction's in the input's
/// time order.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerState {
    /// Its index in the plan's layers.
    pub layer: usize,
    pub signals: Vec<Signal>,
}

impl LayerState {
    /// Steps the layer ran.
    pub fn steps(&self) -> usize {
        self.signals.first().map_or(0, |signal| signal.steps)
    }
}

/// One batch row's pass: what it read and the state of every recurrent layer over it.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The sample of the evaluated data; none for a generated step.
    pub sample: Option<usize>,
    /// Its input symbols (padding included) and target classes; empty for a series.
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub layers: Vec<LayerState>,
}

impl Segment {
    /// Batch row `row`, which evaluated `sample` of `data`.
    fn of(workspace: &Workspace, data: &Dataset, row: usize, sample: usize) -> Segment {
        let (inputs, targets) = match data.is_series() {
            true => (Vec::new(), Vec::new()),
            false => (data.input(sample).to_vec(), data.target(sample).to_vec()),
        };
        Segment {
            sample: Some(sample),
            inputs,
            targets,
            layers: workspace.state(row),
        }
    }
}

/// A batch row's passes in the order they ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Strip {
    /// Whether each segment started from the state the one before ended in (a stateful
    /// model's carry-over, or generation), so that the strip reads as one run.
    pub carried: bool,
    pub segments: Vec<Segment>,
}

impl Strip {
    fn steps(&self) -> usize {
        let longest = |segment: &Segment| segment.layers.iter().map(LayerState::steps).max();
        self.segments.iter().filter_map(longest).sum()
    }

    fn is_full(&self) -> bool {
        self.steps() >= STRIP_STEPS || (!self.carried && !self.segments.is_empty())
    }
}

/// What a trace followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceOf {
    /// The first evaluated draw (or part) of the evaluation data.
    Evaluation,
    /// A `generate` demonstration from this symbol.
    Generation { from: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    pub of: TraceOf,
    pub strips: Vec<Strip>,
}

impl Trace {
    fn new(of: TraceOf) -> Trace {
        Trace {
            of,
            strips: Vec::new(),
        }
    }

    /// Records a batch that evaluated `ids` of `data`, whose first sample is the evaluation's
    /// sample `first`. A stateful model's rows carry their state from batch to batch, so
    /// each of the first rows' strips follows its row on; a stateless model's first samples
    /// get a strip each, whatever their rows and draws.
    fn record(
        &mut self,
        workspace: &Workspace,
        data: &Dataset,
        ids: &[usize],
        stateful: bool,
        first: usize,
    ) {
        for (row, &sample) in ids.iter().enumerate() {
            let strip = match stateful {
                true if row < STRIPS => row,
                false if self.strips.len() < STRIPS => self.strips.len(),
                _ => break,
            };
            if self.strips.len() == strip {
                self.strips.push(Strip {
                    carried: stateful,
                    segments: Vec::new(),
                });
            }
            if self.strips[strip].is_full() {
                continue;
            }
            let mut segment = Segment::of(workspace, data, row, sample);
            segment.sample = Some(first + sample);
            self.strips[strip].segments.push(segment);
        }
    }

    /// Records one generated step: the symbol read and the one predicted; `carried` when the
    /// model is stateful, so that each step starts from the state the one before ended in.
    pub(crate) fn record_step(
        &mut self,
        workspace: &Workspace,
        read: u32,
        predicted: u32,
        carried: bool,
    ) {
        if self.strips.is_empty() {
            self.strips.push(Strip {
                carried,
                segments: Vec::new(),
            });
        }
        self.strips[0].segments.push(Segment {
            sample: None,
            inputs: vec![read],
            targets: vec![predicted],
            layers: workspace.state(0),
        });
    }
}

/// The traces a trainer records when asked: the first evaluation's and every generation's.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub traces: Vec<Trace>,
    /// The evaluation trace's index in `traces`, once it began.
    evaluation: Option<usize>,
    /// Samples of the draws (or parts) evaluated so far.
    seen: usize,
    /// Whether the first evaluation ended: later ones record nothing.
    evaluated: bool,
}

/// Where a draw (or part) of an evaluation records its batches.
pub(crate) struct Recording<'a> {
    trace: &'a mut Trace,
    stateful: bool,
    first: usize,
}

impl Recording<'_> {
    /// Records a batch that evaluated `ids` of `data` (`Trace::record`).
    pub fn batch(&mut self, workspace: &Workspace, data: &Dataset, ids: &[usize]) {
        self.trace
            .record(workspace, data, ids, self.stateful, self.first);
    }
}

impl Recorder {
    /// Where the next draw (or part) of the first evaluation records: a stateful model's
    /// first draw only, as its state starts afresh in the next; a stateless model's draws
    /// until three samples are recorded.
    pub fn evaluation(&mut self, stateful: bool) -> Option<Recording<'_>> {
        if self.evaluated {
            return None;
        }
        let index = match self.evaluation {
            None => {
                self.traces.push(Trace::new(TraceOf::Evaluation));
                self.traces.len() - 1
            }
            Some(index) if !stateful && self.traces[index].strips.len() < STRIPS => index,
            Some(_) => return None,
        };
        self.evaluation = Some(index);
        Some(Recording {
            trace: &mut self.traces[index],
            stateful,
            first: self.seen,
        })
    }

    /// A draw (or part) of `samples` was evaluated.
    pub fn passed(&mut self, samples: usize) {
        self.seen += samples;
    }

    /// The evaluation ended.
    pub fn finish_evaluation(&mut self) {
        self.evaluated = true;
    }

    pub fn generation(&mut self, from: u32) -> &mut Trace {
        self.traces.push(Trace::new(TraceOf::Generation { from }));
        self.traces.last_mut().expect("just pushed")
    }
}
