//! The composed backward pass against finite differences: an encoder, `repeat`, a decoder
//! returning sequences and a per-step dense layer, as the encoder-decoder experiment chains
//! them, from a non-zero carried state; with LSTM and with GRU layers.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{Batch, Dataset, Encoding};
use runtime::model::{Model, Workspace};
use runtime::plan::{
    self, AdamConfig, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss, Merge, OptimizerPlan, Plan,
    Scale, SourcePlan, TrainPlan,
};

/// The encoder-decoder with `cell` (`LayerPlan::Lstm` or `LayerPlan::Gru`) as both
/// recurrent layers.
pub(crate) fn encoder_decoder(one_hot: bool, cell: fn(plan::Recurrent) -> LayerPlan) -> Plan {
    let data = DataPlan {
        source: SourcePlan::RandomInts {
            lo: 0,
            hi: 6,
            length: 8,
        },
        frame: FramePlan::Lag {
            steps_in: 3,
            steps_out: 2,
        },
        one_hot,
        ids: false,
        as_features: false,
        fresh: false,
        scale: Scale::None,
        split: None,
    };
    Plan {
        name: "gradients".into(),
        steps: 3,
        features: if one_hot { 6 } else { 1 },
        layers: vec![
            cell(plan::Recurrent {
                units: 5,
                stateful: true,
                sequences: false,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Repeat(plan::Repeat { times: 2 }),
            cell(plan::Recurrent {
                units: 4,
                stateful: false,
                sequences: true,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 6,
                per_step: true,
                activation: plan::Activation::Linear,
            }),
        ],
        data,
        train: TrainPlan {
            epochs: 1,
            batch: 3,
            shuffle: false,
            reset_each_epoch: true,
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

/// Central differences of an f32 loss: at eps 1e-2 its rounding leaves about 1e-6 in each
/// difference, and the truncation error is smaller still; at 3e-3 the rounding doubles the
/// worst tensor's error, at 3e-2 the truncation grows it. A relu's kink is the exception: a
/// step of 1e-2 carries pre-activations near zero across it (3.6 % of a norm off here), so
/// a model with a relu steps by 3e-3 and allows 5 % (2.2 % measured; a relu gradient that
/// ignored the outputs' mask is off by over 100 %). Returns the step and the allowed error.
fn eps_for(plan: &Plan) -> (f32, f64) {
    let relu = |layer: &LayerPlan| matches!(layer, LayerPlan::Dense(dense) if dense.activation == plan::Activation::Relu);
    if plan.layers.iter().any(relu) {
        (3e-3, 5e-2)
    } else {
        (1e-2, 2e-2)
    }
}

const NOISE: u64 = 7;

fn check(plan: &Plan) {
    let mut model = Model::new(plan, &mut Pcg64Mcg::seed_from_u64(3));
    let mut data = Dataset::new(&plan.data);
    data.draw(&plan.data, &mut Pcg64Mcg::seed_from_u64(4));
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let mut batch = Batch::new(3, encoding, data.target_steps);
    let mut workspace = Workspace::new(&model, 3, encoding);
    // A first batch leaves the stateful encoder a non-zero state to start the checked one.
    // Training's forward pass, with one noise seed throughout: dropout's masks stay the same
    // for every difference.
    batch.fill(&data, &[0, 1, 2], encoding);
    workspace.forward_training(&model, &batch, NOISE);
    workspace.carry_state();
    batch.fill(&data, &[3, 4, 5], encoding);
    workspace.forward_training(&model, &batch, NOISE);
    workspace.backward(&mut model, &batch);
    let analytic: Vec<Vec<f32>> = model.tensors.iter().map(|t| t.grad().to_vec()).collect();
    // The loss `forward` returns is summed over rows; its gradient is the mean's, so scale.
    let rows = batch.targets.len() as f64;
    let (eps, allowed) = eps_for(plan);
    for (tensor, grads) in analytic.iter().enumerate() {
        let numeric: Vec<f64> = (0..grads.len())
            .map(|index| {
                let mut loss_at = |delta: f32| {
                    let saved = model.tensors[tensor].value[index];
                    model.tensors[tensor].value[index] = saved + delta;
                    let loss = workspace.forward_training(&model, &batch, NOISE);
                    model.tensors[tensor].value[index] = saved;
                    loss / rows
                };
                (loss_at(eps) - loss_at(-eps)) / (2.0 * f64::from(eps))
            })
            .collect();
        // Over the whole tensor, not entry by entry: most entries are smaller than any
        // absolute tolerance an f32 difference allows, so a gradient of zeros would pass
        // entry-wise checks, and here it is off by 100 %.
        let norm = numeric.iter().map(|n| n * n).sum::<f64>().sqrt();
        let error = grads
            .iter()
            .zip(&numeric)
            .map(|(&got, n)| (f64::from(got) - n).powi(2))
            .sum::<f64>()
            .sqrt();
        // Ten times what the rounding leaves over a tensor of 100 entries, so that the
        // differences measure a gradient, not noise; the smallest here is 7.7e-4.
        assert!(
            norm > 1e-4,
            "tensor {tensor}: finite differences of norm {norm:.2e} are too small to check"
        );
        // The worst tensor measured is off by 0.9 %: the forward W_hh of a bidirectional
        // layer whose `mul` (or the LSTM after it) shrinks its gradients to near 7e-4.
        assert!(
            error / norm < allowed,
            "tensor {tensor}: backward is off by {:.2} % of the norm of finite differences {norm:.2e}; \
             first entries {:?} against {:?}",
            100.0 * error / norm,
            &grads[..grads.len().min(5)],
            &numeric[..numeric.len().min(5)]
        );
    }
}

#[test]
fn encoder_decoder_gradients_match_finite_differences() {
    check(&encoder_decoder(true, LayerPlan::Lstm));
    check(&encoder_decoder(false, LayerPlan::Lstm));
}

#[test]
fn gru_encoder_decoder_gradients_match_finite_differences() {
    check(&encoder_decoder(true, LayerPlan::Gru));
    check(&encoder_decoder(false, LayerPlan::Gru));
}

/// Two LSTMs returning sequences, then two per-step dense layers: the input gradient of an
/// LSTM fed a sequence, and of a dense layer fed a dense layer.
#[test]
fn stacked_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(false, LayerPlan::Lstm);
    plan.layers = vec![
        LayerPlan::Lstm(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Lstm(plan::Recurrent {
            units: 4,
            stateful: true,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 7,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

/// An embedding reading ids, a GRU returning sequences, then an LSTM and a dense layer: the
/// table's scatter-add gradient through both recurrent kinds.
#[test]
fn embedded_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    plan.data.one_hot = false;
    plan.data.ids = true;
    plan.layers = vec![
        LayerPlan::Embedding(plan::Embedding { units: 4 }),
        LayerPlan::Gru(plan::Recurrent {
            units: 5,
            stateful: true,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Lstm(plan::Recurrent {
            units: 4,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

/// Dense layers with each activation between an LSTM and the output: each activation's
/// gradient taken from its outputs. The input is one-hot: a normalized symbol 0 from a zero
/// state gives an LSTM output of exactly 0, which with the dense layer's zero bias puts the
/// relu exactly on its kink, where finite differences see half a slope.
#[test]
fn dense_activation_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    let dense = |units, activation| {
        LayerPlan::Dense(plan::Dense {
            units,
            per_step: true,
            activation,
        })
    };
    plan.layers = vec![
        LayerPlan::Lstm(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        dense(7, plan::Activation::Tanh),
        dense(8, plan::Activation::Relu),
        dense(7, plan::Activation::Sigmoid),
        dense(6, plan::Activation::Linear),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

/// Binary cross-entropy on one sigmoid output a step, for symbols of two classes: the loss
/// kernel's fused gradient through the encoder-decoder.
#[test]
fn binary_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Gru);
    plan.data.source = SourcePlan::RandomInts {
        lo: 0,
        hi: 2,
        length: 8,
    };
    plan.features = 2;
    plan.train.loss = Loss::BinaryCrossEntropy;
    plan.layers[3] = LayerPlan::Dense(plan::Dense {
        units: 1,
        per_step: true,
        activation: plan::Activation::Linear,
    });
    check(&plan);
}

/// Dropout between an LSTM and a GRU returning sequences, and after the GRU's last state:
/// the gradient flows through the mask the forward pass drew.
#[test]
fn dropout_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    plan.layers = vec![
        LayerPlan::Lstm(plan::Recurrent {
            units: 6,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dropout(plan::Dropout { rate: 0.3 }),
        LayerPlan::Gru(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dropout(plan::Dropout { rate: 0.5 }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: false,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 1,
    };
    check(&plan);
}

/// A bidirectional LSTM of each merge mode, returning sequences and returning its last
/// states, on one-hot input (reversed indices) and, returning sequences, on normalized input
/// (reversed features). Normalized input without sequences is left out: its `mul` gradients
/// are small enough (6e-4) for f32 rounding to leave 1.8 % in the differences.
#[test]
fn bidirectional_gradients_match_finite_differences() {
    for merge in [Merge::Concat, Merge::Sum, Merge::Mul, Merge::Ave] {
        for (one_hot, sequences) in [(true, true), (true, false), (false, true)] {
            check(&one_bidirectional(one_hot, sequences, merge));
        }
    }
}

/// A bidirectional LSTM and a dense layer: per step with `sequences`, else on the last
/// states, which read two batches of three windows, each targeting the symbol after it.
pub(crate) fn one_bidirectional(one_hot: bool, sequences: bool, merge: Merge) -> Plan {
    let mut plan = encoder_decoder(one_hot, LayerPlan::Lstm);
    plan.layers = vec![
        bidirectional(plan::Cell::Lstm, 5, sequences, merge),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: sequences,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    if !sequences {
        plan.data.frame = FramePlan::Windows { size: 3 };
        plan.data.source = SourcePlan::RandomInts {
            lo: 0,
            hi: 6,
            length: 9,
        };
    }
    plan
}

/// Bidirectional LSTMs as an encoder and as a decoder reading the repeated vector: the
/// gradient of a repeated input, summed over both directions.
#[test]
fn bidirectional_encoder_decoder_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    plan.layers = vec![
        bidirectional(plan::Cell::Lstm, 5, false, Merge::Concat),
        LayerPlan::Repeat(plan::Repeat { times: 2 }),
        bidirectional(plan::Cell::Lstm, 4, true, Merge::Ave),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    check(&plan);
}

/// An embedding, a bidirectional GRU returning sequences, an LSTM and a dense layer: the
/// input gradient of a bidirectional layer fed a sequence, its backward half reversed back.
#[test]
fn bidirectional_embedded_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    plan.data.one_hot = false;
    plan.data.ids = true;
    plan.layers = vec![
        LayerPlan::Embedding(plan::Embedding { units: 4 }),
        bidirectional(plan::Cell::Gru, 5, true, Merge::Concat),
        LayerPlan::Lstm(plan::Recurrent {
            units: 4,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

pub(crate) fn bidirectional(
    cell: plan::Cell,
    units: usize,
    sequences: bool,
    merge: Merge,
) -> LayerPlan {
    LayerPlan::Bidirectional(plan::Bidirectional {
        cell,
        layer: plan::Recurrent {
            units,
            stateful: false,
            sequences,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        },
        merge,
    })
}

/// A per-step dense layer first, on one-hot input fed as hot indices: its forward pass
/// gathers rows of W and its gradient scatters into them.
#[test]
fn dense_on_hot_input_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(true, LayerPlan::Lstm);
    plan.layers = vec![
        LayerPlan::Dense(plan::Dense {
            units: 7,
            per_step: true,
            activation: plan::Activation::Tanh,
        }),
        LayerPlan::Lstm(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

/// Masked, post-padded runs through an LSTM returning sequences, a per-step dense layer and a
/// GRU returning its last state: a padded step passes the state's gradient straight back.
#[test]
fn masked_gradients_match_finite_differences() {
    check(&masked_runs());
}

/// The plan `masked_gradients_match_finite_differences` checks.
fn masked_runs() -> Plan {
    let mut plan = encoder_decoder(false, LayerPlan::Lstm);
    plan.data.source = SourcePlan::Alphabet {
        letters: "ABCDEFGH".chars().collect(),
    };
    plan.data.frame = FramePlan::Runs {
        count: 6,
        max_len: 4,
        pad_before: false,
        mask: true,
    };
    plan.steps = 4;
    plan.layers = vec![
        LayerPlan::Lstm(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Tanh,
        }),
        LayerPlan::Gru(plan::Recurrent {
            units: 4,
            stateful: false,
            sequences: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 8,
            per_step: false,
            activation: plan::Activation::Linear,
        }),
    ];
    plan
}

/// Keras' `dropout=` on recurrent layers: a one-hot LSTM encoder (its hot indices expanded
/// into a masked dense input) and, stacked, an LSTM and a GRU whose input gradients pass
/// back through their masks. The fixed noise seed keeps the masks fixed.
#[test]
fn input_dropout_gradients_match_finite_differences() {
    for cell in [LayerPlan::Lstm, LayerPlan::Gru] {
        let mut plan = encoder_decoder(true, cell);
        for layer in &mut plan.layers {
            if let LayerPlan::Lstm(r) | LayerPlan::Gru(r) = layer {
                r.dropout = 0.3;
            }
        }
        check(&plan);
    }
    let mut plan = encoder_decoder(false, LayerPlan::Lstm);
    let recurrent = |sequences, dropout| plan::Recurrent {
        units: 5,
        stateful: false,
        sequences,
        dropout,
        recurrent_dropout: 0.0,
    };
    plan.layers = vec![
        LayerPlan::Lstm(recurrent(true, 0.2)),
        LayerPlan::Lstm(recurrent(true, 0.4)),
        LayerPlan::Gru(recurrent(true, 0.5)),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
            activation: plan::Activation::Linear,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}

/// Keras' `recurrent_dropout=`: the encoder-decoder's LSTMs and GRUs (the stateful encoder
/// from a non-zero carried state, which the mask scales where `W_hh` reads it), a
/// bidirectional LSTM and GRU (a mask for each direction), and masked runs, where a padded
/// step's carry meets the recurrent mask. The fixed noise seed keeps the masks fixed.
#[test]
fn recurrent_dropout_gradients_match_finite_differences() {
    for cell in [LayerPlan::Lstm, LayerPlan::Gru] {
        let mut plan = encoder_decoder(true, cell);
        set_recurrent_dropout(&mut plan, 0.3);
        check(&plan);
    }
    for cell in [plan::Cell::Lstm, plan::Cell::Gru] {
        let mut plan = one_bidirectional(true, true, Merge::Concat);
        plan.layers[0] = bidirectional(cell, 5, true, Merge::Concat);
        set_recurrent_dropout(&mut plan, 0.4);
        check(&plan);
    }
    let mut plan = masked_runs();
    set_recurrent_dropout(&mut plan, 0.3);
    check(&plan);
}

/// Sets every recurrent layer's `recurrent_dropout=`, each direction's of a bidirectional one.
fn set_recurrent_dropout(plan: &mut Plan, rate: f64) {
    for layer in &mut plan.layers {
        match layer {
            LayerPlan::Lstm(r) | LayerPlan::Gru(r) => r.recurrent_dropout = rate,
            LayerPlan::Bidirectional(b) => b.layer.recurrent_dropout = rate,
            _ => {}
        }
    }
}

/// Evaluation (`Workspace::forward`) drops nothing: a model with `dropout=` or
/// `recurrent_dropout=` predicts as the same weights without it, and training's forward pass
/// differs, by the noise seed it is given (each batch's, for a stateful layer too).
#[test]
fn recurrent_layer_dropout_is_off_at_evaluation() {
    let input = |r: &mut plan::Recurrent| r.dropout = 0.5;
    let recurrent = |r: &mut plan::Recurrent| r.recurrent_dropout = 0.5;
    for (one_hot, cell, drop) in [
        (
            true,
            LayerPlan::Lstm as fn(plan::Recurrent) -> LayerPlan,
            input as fn(&mut plan::Recurrent),
        ),
        (false, LayerPlan::Gru, input),
        (true, LayerPlan::Lstm, recurrent),
        (false, LayerPlan::Gru, recurrent),
    ] {
        let plain = encoder_decoder(one_hot, cell);
        let mut dropped = plain.clone();
        for layer in &mut dropped.layers {
            if let LayerPlan::Lstm(r) | LayerPlan::Gru(r) = layer {
                drop(r);
            }
        }
        let model = Model::new(&plain, &mut Pcg64Mcg::seed_from_u64(3));
        let mut data = Dataset::new(&plain.data);
        data.draw(&plain.data, &mut Pcg64Mcg::seed_from_u64(4));
        let encoding = Encoding::new(&plain.data, plain.steps, plain.features);
        let mut batch = Batch::new(3, encoding, data.target_steps);
        batch.fill(&data, &[0, 1, 2], encoding);
        let loss = |plan: &Plan, noise: Option<u64>| {
            let mut model_for = Model::new(plan, &mut Pcg64Mcg::seed_from_u64(3));
            for (to, from) in model_for.tensors.iter_mut().zip(&model.tensors) {
                to.value.copy_from_slice(&from.value);
            }
            let mut workspace = Workspace::new(&model_for, 3, encoding);
            match noise {
                Some(noise) => workspace.forward_training(&model_for, &batch, noise),
                None => workspace.forward(&model_for, &batch),
            }
        };
        assert_eq!(loss(&plain, None), loss(&dropped, None));
        assert_eq!(loss(&plain, Some(NOISE)), loss(&plain, None));
        assert_ne!(loss(&dropped, Some(NOISE)), loss(&plain, None));
        assert_ne!(loss(&dropped, Some(NOISE)), loss(&dropped, Some(NOISE + 1)));
        let same = loss(&dropped, Some(NOISE)).to_bits();
        assert_eq!(same, loss(&dropped, Some(NOISE)).to_bits());
    }
}

/// Masked, post-padded runs through a bidirectional GRU returning sequences (zeros at masked
/// steps, its backward copy reading the mask reversed) and a bidirectional LSTM returning its
/// last states, under the merges whose gradients stay large enough for f32 differences
/// (`mul` of two such small normalized-input layers leaves a norm of 3e-5; it is checked on
/// one-hot input above).
#[test]
fn masked_bidirectional_gradients_match_finite_differences() {
    for merge in [Merge::Concat, Merge::Sum, Merge::Ave] {
        let mut plan = encoder_decoder(false, LayerPlan::Lstm);
        plan.data.source = SourcePlan::Alphabet {
            letters: "ABCDEFGH".chars().collect(),
        };
        plan.data.frame = FramePlan::Runs {
            count: 6,
            max_len: 4,
            pad_before: false,
            mask: true,
        };
        plan.steps = 4;
        plan.layers = vec![
            bidirectional(plan::Cell::Gru, 5, true, merge),
            bidirectional(plan::Cell::Lstm, 4, false, merge),
            LayerPlan::Dense(plan::Dense {
                units: 8,
                per_step: false,
                activation: plan::Activation::Linear,
            }),
        ];
        check(&plan);
    }
}
