//! The plan: what the compiler hands the runtime, a checked experiment with every size known.
//!
//! No spans and no source text: by the time a plan exists, every check has passed, and the
//! runtime trusts its shapes.

pub use kernels::adam::AdamConfig;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerPlan {
    Lstm {
        units: usize,
        stateful: bool,
        sequences: bool,
    },
    Repeat {
        times: usize,
    },
    /// The last dense layer carries the softmax that the cross-entropy loss reads.
    Dense {
        units: usize,
        softmax: bool,
        per_step: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataPlan {
    pub source: SourcePlan,
    pub frame: FramePlan,
    pub one_hot: bool,
    /// A sample's symbols side by side in one step rather than one step each.
    pub as_features: bool,
    /// Draw new data before every epoch.
    pub fresh: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourcePlan {
    Alphabet { letters: Vec<char> },
    RandomInts { lo: i64, hi: i64, length: usize },
}

impl SourcePlan {
    pub fn classes(&self) -> usize {
        match self {
            SourcePlan::Alphabet { letters } => letters.len(),
            SourcePlan::RandomInts { lo, hi, .. } => hi.abs_diff(*lo) as usize,
        }
    }

    pub fn length(&self) -> usize {
        match self {
            SourcePlan::Alphabet { letters } => letters.len(),
            SourcePlan::RandomInts { length, .. } => *length,
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
    },
    Lag {
        steps_in: usize,
        steps_out: usize,
    },
    Pick {
        index: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainPlan {
    pub epochs: usize,
    pub batch: usize,
    pub shuffle: bool,
    pub reset_each_epoch: bool,
    pub seed: u64,
    pub adam: AdamConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalPlan {
    Train,
    Fresh { draws: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowPlan {
    Accuracy,
    Predictions { count: Option<usize>, random: bool },
    Generate { from: u32, steps: usize },
}
