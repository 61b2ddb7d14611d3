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

    /// Records the first rows of a batch that evaluated `ids` of `data`. A stateful model's
    /// rows carry their state from batch to batch, so each strip follows its row on; a
    /// stateless one's strips hold one sample each.
    pub(crate) fn record(
        &mut self,
        workspace: &Workspace,
        data: &Dataset,
        ids: &[usize],
        stateful: bool,
    ) {
        for (row, &sample) in ids.iter().enumerate().take(STRIPS) {
            if self.strips.len() <= row {
                self.strips.push(Strip {
                    carried: stateful,
                    segments: Vec::new(),
                });
            }
            if self.strips[row].is_full() {
                continue;
            }
            let (inputs, targets) = match data.is_series() {
                true => (Vec::new(), Vec::new()),
                false => (data.input(sample).to_vec(), data.target(sample).to_vec()),
            };
            self.strips[row].segments.push(Segment {
                sample: Some(sample),
                inputs,
                targets,
                layers: workspace.state(row),
            });
        }
    }

    /// Records one generated step: the symbol read and the one predicted.
    pub(crate) fn record_step(&mut self, workspace: &Workspace, read: u32, predicted: u32) {
        if self.strips.is_empty() {
            self.strips.push(Strip {
                carried: true,
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

/// The traces a trainer records when asked: the evaluation's, once, and every generation's.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub traces: Vec<Trace>,
    evaluated: bool,
}

impl Recorder {
    /// The evaluation's trace to record into, the first time only: later evaluations (fresh
    /// draws, held-out parts) run as before without recording.
    pub fn evaluation(&mut self) -> Option<&mut Trace> {
        if self.evaluated {
            return None;
        }
        self.evaluated = true;
        self.traces.push(Trace::new(TraceOf::Evaluation));
        self.traces.last_mut()
    }

    pub fn generation(&mut self, from: u32) -> &mut Trace {
        self.traces.push(Trace::new(TraceOf::Generation { from }));
        self.traces.last_mut().expect("just pushed")
    }
}
