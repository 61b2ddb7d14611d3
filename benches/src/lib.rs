//! The benchmark shapes, each as the runtime `Plan` of an experiment at that shape, so that
//! the training step the benchmarks time is the runtime's own `Trainer::step`: the step
//! `lstmc run` runs for every batch (encoding the batch, forward, backward, Adam, stateful
//! carry-over), not a copy of it.
//!
//! The layers are those `pytorch_train_step.py` times: an LSTM (for encdec, an encoder whose
//! last state is repeated into a decoder), a dense softmax layer on the last step or on every
//! step, cross-entropy, Adam.

use runtime::plan::{
    self, AdamConfig, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss, OptimizerPlan, Plan, Scale,
    SourcePlan, TrainPlan,
};

/// A benchmark shape: the table, named after the workload it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub batch: usize,
    pub steps: usize,
    pub input: usize,
    pub hidden: usize,
    /// Classes of the softmax, which are the source's symbols.
    pub out: usize,
    pub feed: Feed,
    /// Every LSTM carries its state from batch to batch, as the tutorial's do.
    pub stateful: bool,
    /// The dense layer runs on every step rather than the last.
    pub per_step: bool,
    /// `(repeat, hidden)` of a decoder fed the encoder's last state.
    pub decoder: Option<(usize, usize)>,
}

/// The data of a shape's plan, which decides how the first LSTM projects its input.
#[derive(Clone, Copy, Debug)]
pub enum Feed {
    /// The letters A..Z in windows of `steps`, each letter normalised into [0, 1): `input`
    /// is 1 and `out` is 26, as in the alphabet tutorials.
    Letters,
    /// `length` random integers below `input`, one-hot, framed by `frame`. With one symbol a
    /// step and no padding (lag, pick), the input projection is a row gather; padded runs
    /// make it a GEMM over the one-hot rows, the product PyTorch runs over its random inputs.
    OneHot { length: usize, frame: FramePlan },
}

pub const SHAPES: [Shape; 7] = [
    Shape {
        name: "alphabet",
        batch: 1,
        steps: 1,
        input: 1,
        hidden: 32,
        out: 26,
        feed: Feed::Letters,
        stateful: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "stateful",
        batch: 1,
        steps: 1,
        input: 1,
        hidden: 50,
        out: 26,
        feed: Feed::Letters,
        stateful: true,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "index",
        batch: 1,
        steps: 5,
        input: 10,
        hidden: 25,
        out: 10,
        feed: Feed::OneHot {
            length: 5,
            frame: FramePlan::Pick { index: 2 },
        },
        stateful: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "echo",
        batch: 7,
        steps: 5,
        input: 100,
        hidden: 20,
        out: 100,
        feed: Feed::OneHot {
            length: 25,
            frame: FramePlan::Lag {
                steps_in: 5,
                steps_out: 5,
            },
        },
        stateful: true,
        per_step: true,
        decoder: None,
    },
    Shape {
        name: "encdec",
        batch: 21,
        steps: 5,
        input: 100,
        hidden: 150,
        out: 100,
        feed: Feed::OneHot {
            length: 25,
            frame: FramePlan::Lag {
                steps_in: 5,
                steps_out: 2,
            },
        },
        stateful: true,
        per_step: true,
        decoder: Some((2, 150)),
    },
    Shape {
        name: "mid",
        batch: 32,
        steps: 50,
        input: 64,
        hidden: 128,
        out: 64,
        feed: Feed::OneHot {
            length: 1000,
            frame: FramePlan::Runs {
                count: 32,
                max_len: 50,
                pad_before: true,
                mask: false,
            },
        },
        stateful: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "large",
        batch: 64,
        steps: 100,
        input: 256,
        hidden: 512,
        out: 256,
        feed: Feed::OneHot {
            length: 1000,
            frame: FramePlan::Runs {
                count: 64,
                max_len: 100,
                pad_before: true,
                mask: false,
            },
        },
        stateful: false,
        per_step: false,
        decoder: None,
    },
];

/// Which recurrent layers a benchmark shape runs: the LSTM the shapes were measured with, a
/// GRU, or either bidirectional (concatenated, Keras' default; never stateful).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    Lstm,
    Gru,
    BidirectionalLstm,
    BidirectionalGru,
}

impl Layers {
    pub const NAMES: [(&'static str, Layers); 4] = [
        ("lstm", Layers::Lstm),
        ("gru", Layers::Gru),
        ("bilstm", Layers::BidirectionalLstm),
        ("bigru", Layers::BidirectionalGru),
    ];

    fn layer(self, units: usize, stateful: bool, sequences: bool) -> LayerPlan {
        let recurrent = |stateful| plan::Recurrent {
            units,
            stateful,
            sequences,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        };
        let bidirectional = |cell| {
            LayerPlan::Bidirectional(plan::Bidirectional {
                cell,
                layer: recurrent(false),
                merge: plan::Merge::Concat,
            })
        };
        match self {
            Layers::Lstm => LayerPlan::Lstm(recurrent(stateful)),
            Layers::Gru => LayerPlan::Gru(recurrent(stateful)),
            Layers::BidirectionalLstm => bidirectional(plan::Cell::Lstm),
            Layers::BidirectionalGru => bidirectional(plan::Cell::Gru),
        }
    }
}

impl Shape {
    /// FLOPs of one forward pass as ANCHORS.md counts them: `2·B·T·4H·(I+H)` per LSTM layer
    /// plus `2·N·H·O` for the dense layer.
    pub fn forward_flops(&self) -> u64 {
        let lstm = |t: usize, i: usize, h: usize| 2 * self.batch * t * 4 * h * (i + h);
        let mut flops = lstm(self.steps, self.input, self.hidden);
        let (dense_steps, dense_in) = match self.decoder {
            Some((repeat, hidden)) => {
                flops += lstm(repeat, self.hidden, hidden);
                (repeat, hidden)
            }
            None if self.per_step => (self.steps, self.hidden),
            None => (1, self.hidden),
        };
        flops += 2 * self.batch * dense_steps * dense_in * self.out;
        flops as u64
    }

    /// Forward, backward and update: three times the forward FLOPs, as ANCHORS.md counts.
    pub fn train_flops(&self) -> u64 {
        3 * self.forward_flops()
    }

    /// An experiment at this shape: Adam as Keras sets it up (lr 0.001, epsilon 1e-7), and no
    /// shuffle, fresh draws or resets, so that stepping through the batches in order is an
    /// epoch.
    pub fn plan(&self) -> Plan {
        self.plan_with(Layers::Lstm)
    }

    /// The experiment with `layers` as its recurrent layers.
    pub fn plan_with(&self, layers: Layers) -> Plan {
        Plan {
            name: self.name.to_string(),
            steps: self.steps,
            features: self.input,
            layers: self.layers(layers),
            data: self.data(),
            train: TrainPlan {
                epochs: 1,
                batch: self.batch,
                shuffle: false,
                reset_each_epoch: false,
                seed: 1,
                optimizer: OptimizerPlan::Adam(AdamConfig {
                    lr: 0.001,
                    beta1: 0.9,
                    beta2: 0.999,
                    epsilon: 1e-7,
                }),
                loss: Loss::CrossEntropy,
                early_stop: None,
                clip: None,
                schedule: None,
            },
            eval: EvalPlan::Train,
            show: Vec::new(),
        }
    }

    fn layers(&self, kind: Layers) -> Vec<LayerPlan> {
        let lstm = |units, sequences| kind.layer(units, self.stateful, sequences);
        let mut layers = vec![lstm(self.hidden, self.per_step && self.decoder.is_none())];
        if let Some((times, hidden)) = self.decoder {
            layers.extend([
                LayerPlan::Repeat(plan::Repeat { times }),
                lstm(hidden, true),
            ]);
        }
        layers.push(LayerPlan::Dense(plan::Dense {
            units: self.out,
            per_step: self.per_step,
            activation: plan::Activation::Linear,
        }));
        layers
    }

    fn data(&self) -> DataPlan {
        let (source, frame, one_hot) = match self.feed {
            Feed::Letters => (
                SourcePlan::Alphabet {
                    letters: ('A'..='Z').collect(),
                },
                FramePlan::Windows { size: self.steps },
                false,
            ),
            Feed::OneHot { length, frame } => (
                SourcePlan::RandomInts {
                    lo: 0,
                    hi: self.input as i64,
                    length,
                },
                frame,
                true,
            ),
        };
        DataPlan {
            source,
            frame,
            one_hot,
            ids: false,
            as_features: false,
            fresh: false,
            scale: Scale::None,
            split: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use runtime::data::{sample_count, Dataset};
    use runtime::train::Trainer;

    use super::*;

    /// The plan holds the shape's parameters: `4H(I + H + 1)` per LSTM (one bias, as Keras),
    /// `(K + 1)·O` for the dense layer.
    #[test]
    fn plans_have_the_shapes_sizes() {
        for shape in &SHAPES {
            let lstm = |i: usize, h: usize| 4 * h * (i + h + 1);
            let (mut params, mut features) = (lstm(shape.input, shape.hidden), shape.hidden);
            if let Some((_, hidden)) = shape.decoder {
                (params, features) = (params + lstm(shape.hidden, hidden), hidden);
            }
            params += (features + 1) * shape.out;
            let plan = shape.plan();
            assert_eq!(sample_count(&plan.data) % shape.batch, 0, "{}", shape.name);
            let trainer = Trainer::new(&plan);
            assert_eq!(trainer.model.parameters(), params, "{}", shape.name);
        }
    }

    /// Stepping through the batches with `Trainer::step`, as the benchmarks do, trains as
    /// `lstmc run` does: the same losses, and the same weights, moments and carried state, to
    /// the bit. mid and large are left out for time; their steps run the same code.
    #[test]
    fn steps_are_the_trainers_epochs() {
        for shape in &SHAPES[..5] {
            let mut plan = shape.plan();
            plan.train.epochs = 3;
            let mut trained = Trainer::new(&plan);
            let mut losses = Vec::new();
            trained.train(|stats| losses.push(stats.loss)).unwrap();

            let mut stepped = Trainer::new(&plan);
            let ids: Vec<usize> = (0..sample_count(&plan.data)).collect();
            let targets = ids.len() * Dataset::new(&plan.data).target_steps;
            for epoch_loss in losses {
                let summed: f64 = ids.chunks(shape.batch).map(|b| stepped.step(b)).sum();
                assert_eq!(summed / targets as f64, epoch_loss, "{}", shape.name);
            }
            let (want, got) = (trained.state(), stepped.state());
            assert_eq!(
                (want.params, want.optimizer, want.carried),
                (got.params, got.optimizer, got.carried),
                "{}",
                shape.name
            );
        }
    }
}
