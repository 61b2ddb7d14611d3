//! The plan: what the compiler hands the runtime, a checked experiment with every size known.
//!
//! No spans and no source text: by the time a plan exists, every check has passed, and the
//! runtime trusts its shapes.

pub use kernels::activation::Activation;
pub use kernels::adam::{AdamConfig, AdamWConfig};
pub use kernels::rmsprop::RmspropConfig;
pub use kernels::sgd::SgdConfig;

pub use crate::controls::{Clip, Plateau, Schedule};
pub use crate::optimizer::OptimizerPlan;

pub use crate::train::SampleRequest;

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub name: String,
    /// Steps and features of one input sample.
    pub steps: usize,
    pub features: usize,
    pub layers: Vec<LayerPlan>,
    pub data: DataPlan,
    pub train: TrainPlan,
    pub eval: EvalPlan,
    pub show: Vec<ShowPlan>,
}

/// A layer: each kind's settings are its own struct, which `layers` implements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerPlan {
    Embedding(Embedding),
    Dropout(Dropout),
    Lstm(Recurrent),
    /// Keras' `GRU(reset_after=True)`, PyTorch's `nn.GRU`: gates r, z, n.
    Gru(Recurrent),
    /// Keras' `Bidirectional(layer, merge_mode=)` over an LSTM or a GRU.
    Bidirectional(Bidirectional),
    Repeat(Repeat),
    Dense(Dense),
}

/// A recurrent layer's settings, whichever its cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recurrent {
    pub units: usize,
    pub stateful: bool,
    pub sequences: bool,
    /// Keras' `dropout=`: while training, each input feature of a sample is dropped with
    /// this probability, the same features at every step, the rest scaled by
    /// `1 / (1 - rate)`; 0 for none.
    pub dropout: f64,
    /// Keras' `recurrent_dropout=`: the same for `h_{t-1}` where the recurrent product reads
    /// it, one mask a sample for every step and gate; 0 for none.
    pub recurrent_dropout: f64,
}

/// Two copies of a recurrent layer, each with its own weights: one reads the sequence in
/// order, the other reversed (Keras' `go_backwards`); with `sequences` the second's outputs
/// are reversed back to align with time, and the two are merged step by step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bidirectional {
    pub cell: Cell,
    /// Each copy's settings; never stateful.
    pub layer: Recurrent,
    pub merge: Merge,
}

/// The cell a recurrent layer runs at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Gru,
}

/// How a bidirectional layer merges its two directions' outputs, as Keras' `merge_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The forward direction's outputs, then the backward's: twice the units.
    Concat,
    Sum,
    Mul,
    /// Their mean.
    Ave,
}

/// Keras' `Embedding`: each symbol id looked up in a table of `units`-wide rows; it reads
/// the batch's ids (`DataPlan::ids`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embedding {
    pub units: usize,
}

/// Keras' `Dropout(rate)`: while training, each value of what it reads is zeroed with
/// probability `rate` and the rest scaled by `1 / (1 - rate)`; evaluation passes it through.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    pub rate: f64,
}

/// Keras' `RepeatVector`: the vector before it read at each of `times` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repeat {
    pub times: usize,
}

/// The last dense layer's outputs are what the loss reads: logits that cross-entropy
/// turns into probabilities, or the predicted values of a regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    pub units: usize,
    pub per_step: bool,
    /// Applied to its outputs; linear on the last layer under cross-entropy or binary
    /// cross-entropy, whose loss applies the softmax or the sigmoid itself.
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataPlan {
    pub source: SourcePlan,
    pub frame: FramePlan,
    pub one_hot: bool,
    /// Symbols as their ids, for an embedding; padded steps hold `PAD`.
    pub ids: bool,
    /// A sample's symbols side by side in one step rather than one step each.
    pub as_features: bool,
    /// Draw new data before every epoch.
    pub fresh: bool,
    /// How a series' columns are scaled, fitted on its training rows.
    pub scale: Scale,
    /// How a series' rows are split into training, validation and test parts.
    pub split: Option<Split>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    None,
    /// To [0, 1] by each column's training minimum and maximum.
    MinMax,
    /// To mean 0 and standard deviation 1 by each column's training rows.
    Standard,
}

/// How a series' samples are parted into training, validation and test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The rows in order: training first, then validation, the rest for the test. Each part
    /// is framed on its own, so no sample crosses a boundary in time.
    Ordered { train_rows: usize, val_rows: usize },
    /// The samples of the whole series shuffled with the run's seed, then this many for
    /// training, this many for validation, the rest for the test: for rows that are
    /// independent samples.
    Random {
        train_samples: usize,
        val_samples: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourcePlan {
    Alphabet {
        letters: Vec<char>,
    },
    RandomInts {
        lo: i64,
        hi: i64,
        length: usize,
    },
    /// A text's characters as symbols: `ids` index `vocabulary`.
    Text {
        vocabulary: Vec<char>,
        ids: Vec<u32>,
    },
    /// A file's lines as items of symbols; symbol 0 (`'\n'` in `vocabulary`, which no line
    /// holds) marks an item's start and end.
    Lines {
        vocabulary: Vec<char>,
        items: Vec<Vec<u32>>,
    },
    /// Measured columns, one row a time step, missing values already handled: the columns
    /// the model reads and the columns it predicts (a column may be both).
    Series {
        inputs: Vec<Column>,
        targets: Vec<Column>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Vec<f32>,
}

impl SourcePlan {
    /// The classes of a symbol source; a series has none.
    pub fn classes(&self) -> usize {
        match self {
            SourcePlan::Alphabet { letters } => letters.len(),
            SourcePlan::RandomInts { lo, hi, .. } => hi.abs_diff(*lo) as usize,
            SourcePlan::Text { vocabulary, .. } | SourcePlan::Lines { vocabulary, .. } => {
                vocabulary.len()
            }
            SourcePlan::Series { .. } => 0,
        }
    }

    /// Symbols, or rows of a series.
    pub fn length(&self) -> usize {
        match self {
            SourcePlan::Alphabet { letters } => letters.len(),
            SourcePlan::RandomInts { length, .. } => *length,
            SourcePlan::Text { ids, .. } => ids.len(),
            SourcePlan::Lines { items, .. } => items.len(),
            SourcePlan::Series { inputs, .. } => inputs[0].values.len(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePlan {
    Windows {
        size: usize,
    },
    Runs {
        count: usize,
        max_len: usize,
        pad_before: bool,
        /// Padded steps masked: a recurrent layer carries its state over them (Keras'
        /// `Masking`); only with padding after the run.
        mask: bool,
    },
    Lag {
        steps_in: usize,
        steps_out: usize,
    },
    Pick {
        index: usize,
    },
    /// A text in as many parallel streams as a batch has rows: sample `k * streams + b` is
    /// `steps` characters of stream `b` from its `k * steps`-th, each with the next character
    /// as its target, so that consecutive batches continue every stream.
    Streams {
        steps: usize,
    },
    /// Each item a sample: the start marker and its symbols in, its symbols and the end marker
    /// out, padded at the end to `steps`; padding counts in neither the loss nor the metrics.
    Items {
        steps: usize,
    },
    /// A series: every window of `window` rows, target the `out` rows from `ahead` rows after
    /// the window's last.
    Forecast {
        window: usize,
        ahead: usize,
        out: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainPlan {
    pub epochs: usize,
    pub batch: usize,
    pub shuffle: bool,
    pub reset_each_epoch: bool,
    pub seed: u64,
    pub optimizer: OptimizerPlan,
    /// The gradients clipped before each update.
    pub clip: Option<Clip>,
    /// How the learning rate changes; fixed at the optimizer's without one.
    pub schedule: Option<Schedule>,
    pub loss: Loss,
    /// Stop when the validation loss has not improved for a while, as Keras'
    /// `EarlyStopping(monitor="val_loss", restore_best_weights=True)`.
    pub early_stop: Option<EarlyStop>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStop {
    /// Epochs without an improvement before training stops.
    pub patience: usize,
    /// How much lower than the best a validation loss must be to count as an improvement.
    pub min_delta: f64,
}

/// What training minimises, as Keras defines it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Categorical cross-entropy of the softmax of the last layer's outputs.
    CrossEntropy,
    /// Mean squared error of the last layer's outputs against the target values.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Binary cross-entropy of the sigmoid of the last layer's one output a target, for two
    /// classes (yes/no): the probability of class 1.
    BinaryCrossEntropy,
}

impl Loss {
    /// Whether it scores classes (accuracy, predicted symbols) rather than values.
    pub fn is_classes(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::BinaryCrossEntropy)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalPlan {
    Train,
    Fresh { draws: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ShowPlan {
    Accuracy,
    /// Root mean squared error of each part, in the data's units.
    Rmse,
    /// Mean absolute error of each part, in the data's units.
    Mae,
    Predictions {
        count: Option<usize>,
        random: bool,
    },
    Generate {
        from: u32,
        steps: usize,
    },
    /// A language model's loss on each part of its text.
    Loss,
    /// `count` whole items drawn from a model of lines (see `Trainer::sample_items`).
    Items {
        count: usize,
        request: SampleRequest,
    },
    /// Text drawn after reading `prime` (see `Trainer::sample`).
    Sample {
        prime: Vec<u32>,
        request: SampleRequest,
    },
}
