//! The typed spec: what a `.lstm` file means, with the span of everything a later check may
//! point at.
//!
//! `resolve` builds it from the syntax tree and reports unknown sections, layers and options,
//! duplicates, missing pieces and values out of range. Shapes are not checked here; that is
//! `graph`'s job.

pub(crate) mod args;
mod controls;
mod data;
mod model;
mod resolve;
mod train;

pub use resolve::resolve;

use runtime::plan::{Clip, OptimizerPlan, Schedule};

use crate::span::{Span, Spanned};

#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub model: Model,
    pub data: Data,
    pub train: Train,
    pub eval: Eval,
    pub show: Show,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: Spanned<String>,
    pub input: Input,
    pub layers: Vec<Layer>,
}

/// `input steps=T features=I`: the shape of one sample, `[T, I]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub steps: Spanned<u64>,
    pub features: Spanned<u64>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub kind: LayerKind,
    /// The whole statement.
    pub span: Span,
}

/// A flag written on a layer, with where it was written.
pub type Flag = Option<Span>;

#[derive(Clone, Debug, PartialEq)]
pub enum LayerKind {
    /// Keras `LSTM(units, stateful=, return_sequences=)` or `GRU(...)`, by `cell`; wrapped
    /// in Keras' `Bidirectional(merge_mode=)` when `bidirectional` is set, with the span of
    /// the `bidirectional` flag.
    Recurrent {
        cell: Cell,
        units: Spanned<u64>,
        stateful: Flag,
        sequences: Flag,
        bidirectional: Option<Spanned<Merge>>,
        /// Keras' `dropout=` and `recurrent_dropout=`, each in `[0, 1)`; 0 when not given.
        dropout: f64,
        recurrent_dropout: f64,
    },
    /// Keras `Embedding(input_dim, units)`: the input's symbols looked up in a table.
    Embedding { units: Spanned<u64> },
    /// Keras `Dropout(rate)`: while training, zeroes each value with probability `rate`.
    Dropout { rate: Spanned<f64> },
    /// Keras `RepeatVector(times)`.
    Repeat { times: Spanned<u64> },
    /// Keras `Dense(units, activation=)`, wrapped in `TimeDistributed` when `per_step`.
    Dense {
        units: Spanned<u64>,
        activation: Option<Spanned<Activation>>,
        per_step: Flag,
    },
}

/// A dense layer's activation; none is linear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Probabilities over the classes, for crossentropy: the last layer only.
    Softmax,
    Relu,
    Tanh,
    Sigmoid,
}

impl Activation {
    pub const ALL: [(&'static str, Activation); 4] = [
        ("softmax", Activation::Softmax),
        ("relu", Activation::Relu),
        ("tanh", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
    ];

    pub fn keyword(self) -> &'static str {
        let found = Activation::ALL.iter().find(|(_, a)| *a == self);
        found.expect("every activation is listed").0
    }
}

impl LayerKind {
    /// Where a dense layer says `softmax`.
    pub fn softmax(&self) -> Flag {
        match self {
            LayerKind::Dense {
                activation: Some(activation),
                ..
            } if activation.value == Activation::Softmax => Some(activation.span),
            _ => None,
        }
    }
}

/// The cell a recurrent layer runs at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    /// Keras' `GRU(reset_after=True)`, PyTorch's `nn.GRU`.
    Gru,
}

impl Cell {
    pub fn keyword(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }

    /// Gate blocks of `units` each: i, f, g, o; or r, z, n.
    pub fn gates(self) -> u128 {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// How a bidirectional layer merges its two directions' outputs: Keras' `merge_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// The forward direction's outputs, then the backward's: twice the units.
    Concat,
    Sum,
    Mul,
    /// Their mean.
    Ave,
}

impl Merge {
    pub const ALL: [(&'static str, Merge); 4] = [
        ("concat", Merge::Concat),
        ("sum", Merge::Sum),
        ("mul", Merge::Mul),
        ("ave", Merge::Ave),
    ];

    pub fn keyword(self) -> &'static str {
        let found = Merge::ALL.iter().find(|(_, m)| *m == self);
        found.expect("every merge mode is listed").0
    }
}

impl LayerKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            LayerKind::Recurrent { cell, .. } => cell.keyword(),
            LayerKind::Embedding { .. } => "embedding",
            LayerKind::Dropout { .. } => "dropout",
            LayerKind::Repeat { .. } => "repeat",
            LayerKind::Dense { .. } => "dense",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    pub source: Spanned<Source>,
    pub frame: Spanned<Frame>,
    /// How symbols become features; a series' values need none.
    pub encode: Option<Spanned<Encode>>,
    pub layout: Spanned<Layout>,
    /// `fresh=each_epoch`: draw new data from the source before every epoch.
    pub fresh: Flag,
    /// How a series' columns are scaled, fitted on the training rows.
    pub scale: Spanned<Scale>,
    /// Ordered training and validation fractions of a series' rows; the rest is the test.
    pub split: Option<Spanned<Split>>,
    /// A `split=` written wrong (and reported): the checks that ask whether there is a
    /// validation part do not take it for no split at all.
    pub split_wrong: bool,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    None,
    MinMax,
    Standard,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    /// `random`: the samples shuffled with the run's seed before they are parted, for rows
    /// that are independent samples; `ordered`: the rows in time order.
    pub random: bool,
    pub train: f64,
    pub val: f64,
}

/// Where the symbol sequence comes from. Symbols are class indices `0..classes`.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A fixed sequence of letters; symbol `k` is the `k`-th letter.
    Alphabet { letters: Vec<char> },
    /// `length` integers drawn uniformly from `lo..hi`; symbol `v - lo`.
    RandomInts { lo: i64, hi: i64, length: u64 },
    /// Numeric columns of a CSV file, one row a time step: a series, not symbols.
    Csv(Csv),
    /// The UTF-8 characters of a text file, each a symbol of its distinct characters.
    Text { path: Spanned<String> },
    /// The lines of a text file as items (names, words), each a sequence of characters.
    Lines { path: Spanned<String> },
}

/// `csv("file.csv", inputs=..., targets=..., missing=...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Csv {
    /// As written: relative to the spec's folder.
    pub path: Spanned<String>,
    pub inputs: Vec<Spanned<String>>,
    pub targets: Vec<Spanned<String>>,
    pub missing: Missing,
}

/// What to do with a missing cell (empty, `NA`, `NaN`) in a column the spec reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    Error,
    Drop,
    Previous,
    Interpolate,
}

impl Source {
    /// The classes of a symbol source; a series has none.
    pub fn classes(&self) -> u64 {
        match self {
            Source::Alphabet { letters } => letters.len() as u64,
            Source::RandomInts { lo, hi, .. } => hi.abs_diff(*lo),
            Source::Csv(_) | Source::Text { .. } | Source::Lines { .. } => 0,
        }
    }

    pub fn is_random(&self) -> bool {
        matches!(self, Source::RandomInts { .. })
    }
}

/// How samples (input steps, target) are cut from the sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// Every window of `size` symbols, target the symbol after it.
    Windows { size: u64 },
    /// `count` random runs of 1 to `max_len` symbols, padded to `max_len`, target the symbol
    /// after the run (Keras `pad_sequences`); with `mask`, padded steps are masked (Keras
    /// `Masking(mask_value=0)`).
    Runs {
        count: u64,
        max_len: u64,
        pad: Pad,
        mask: bool,
    },
    /// Every window of `steps_in` symbols; target its first `steps_out` symbols, per step
    /// (the tutorials' pandas `shift` framing).
    Lag { steps_in: u64, steps_out: u64 },
    /// The whole sequence is one sample; target the symbol at `index`.
    Pick { index: u64 },
    /// A series: every window of `window` rows; target the `out` rows from `ahead` rows
    /// after the window's last.
    Forecast { window: u64, ahead: u64, out: u64 },
    /// A text cut into as many parallel streams as the batch has rows, each training step
    /// `steps` characters further along every stream; target the next character at every
    /// step (char-rnn's truncated backpropagation through time).
    Streams { steps: u64 },
    /// Each line of a lines source a sample: a start marker and its characters in, its
    /// characters and an end marker out, padded at the end to the longest line.
    Items,
}

impl Frame {
    /// Whether samples are drawn at random from the sequence.
    pub fn is_random(&self) -> bool {
        matches!(self, Frame::Runs { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pad {
    /// Zeros before the run, as Keras `pad_sequences` by default.
    Pre,
    Post,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encode {
    /// One feature per step: symbol index divided by the number of classes.
    Normalize,
    /// `classes` features per step.
    OneHot,
    /// Each symbol as its integer id, for an `embedding` to look up: `classes` features per
    /// step, as one-hot, which it stands for.
    Ids,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One time step per symbol: `[T, F]`.
    Steps,
    /// All symbols of a sample side by side in one time step: `[1, T * F]`.
    Features,
}

/// The optimizer, clipping and schedule are held as the runtime's own settings, whose
/// defaults are Keras' (the kernels' `Default`s): nothing inside them needs a span of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct Train {
    pub loss: Spanned<Loss>,
    pub optimizer: Spanned<OptimizerPlan>,
    /// `clip=norm(..)`, `global_norm(..)` or `value(..)`: Keras' `clipnorm`,
    /// `global_clipnorm`, `clipvalue`.
    pub clip: Option<Spanned<Clip>>,
    /// `schedule=step(..)`, `exponential(..)` or `plateau(..)`.
    pub schedule: Option<Spanned<Schedule>>,
    pub epochs: Spanned<u64>,
    /// `None` when not written: Keras' default of 32, which a stateful run may not rely on.
    pub batch: Option<Spanned<Batch>>,
    pub shuffle: Spanned<bool>,
    pub reset: Spanned<Reset>,
    pub seed: Spanned<u64>,
    /// `stop=early(patience, min_delta)`: Keras' early stopping on the validation loss.
    pub stop: Option<Spanned<EarlyStop>>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStop {
    pub patience: u64,
    pub min_delta: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Categorical cross-entropy on softmax outputs.
    CrossEntropy,
    /// Mean squared error on linear outputs.
    Mse,
    /// Mean absolute error on linear outputs.
    Mae,
    /// Keras' `binary_crossentropy` on one sigmoid output, for two classes.
    BinaryCrossEntropy,
}

impl Loss {
    /// Whether it scores classes rather than values.
    pub fn is_classes(self) -> bool {
        matches!(self, Loss::CrossEntropy | Loss::BinaryCrossEntropy)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    Size(u64),
    /// The whole data set in one batch.
    All,
}

/// When stateful layers forget their state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    EachEpoch,
    Never,
}

/// The batch size Keras uses when none is given.
pub const DEFAULT_BATCH: u64 = 32;

#[derive(Clone, Debug, PartialEq)]
pub struct Eval {
    pub on: Spanned<EvalOn>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalOn {
    /// The training data (after the last epoch).
    Train,
    /// `draws` fresh draws from the data source.
    Fresh { draws: u64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Show {
    pub items: Vec<Spanned<ShowItem>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ShowItem {
    /// The `accuracy: 98.90%` line.
    Accuracy,
    /// A regression's root mean squared error on each part, in the data's units.
    Rmse,
    /// A regression's mean absolute error on each part, in the data's units.
    Mae,
    /// Input, expected and predicted symbols for evaluation samples.
    Predictions { count: Option<u64>, order: Order },
    /// Seed with one symbol and feed each prediction back as the next input, keeping state.
    Generate { from: char, steps: u64 },
    /// A language model's loss on each part of its text: nats and bits per character and
    /// perplexity.
    Loss,
    /// Whole items drawn from a model of lines, with how many are new.
    Items {
        count: u64,
        temperature: f64,
        top_k: u64,
        seed: u64,
    },
    /// Text sampled from a language model after reading `from`.
    Sample {
        from: String,
        length: u64,
        temperature: f64,
        top_k: u64,
        seed: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    First,
    Random,
}
