//! Batches checked against the same samples run one at a time: a stateless run's last
//! partial batch, and a stateful layer's slots at batch 3, each against its own stream.
//!
//! Samples in a batch do not interact, so a batch's loss is the sum of its samples' losses
//! and its gradient the mean of theirs; a batch-1 workspace gives the reference without going
//! through the code under test.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{Batch, Dataset, Encoding, PAD};
use runtime::model::{Model, Workspace};
use runtime::optimizer::Optimizer;
use runtime::plan::{
    self, AdamConfig, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss, OptimizerPlan, Plan, Scale,
    SourcePlan, TrainPlan,
};
use runtime::train::{argmax, Score, Trainer};

fn plan(letters: &str, frame: FramePlan, steps: usize, layers: Vec<LayerPlan>) -> Plan {
    let data = DataPlan {
        source: SourcePlan::Alphabet {
            letters: letters.chars().collect(),
        },
        frame,
        one_hot: false,
        ids: false,
        as_features: false,
        fresh: false,
        scale: Scale::None,
        split: None,
    };
    Plan {
        name: "training".into(),
        steps,
        features: 1,
        layers,
        data,
        train: TrainPlan {
            epochs: 1,
            batch: 3,
            shuffle: false,
            reset_each_epoch: true,
            seed: 5,
            optimizer: OptimizerPlan::Adam(AdamConfig {
                // Large steps, so that each batch's update moves the next one's numbers.
                lr: 0.05,
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

/// The alphabet's data: the same for every seed, so a reference can draw it too.
fn data_of(plan: &Plan) -> (Dataset, Encoding) {
    let mut data = Dataset::new(&plan.data);
    data.draw(&plan.data, &mut Pcg64Mcg::seed_from_u64(0));
    (data, Encoding::new(&plan.data, plan.steps, plan.features))
}

fn grads(model: &Model) -> Vec<Vec<f32>> {
    model.tensors.iter().map(|t| t.grad().to_vec()).collect()
}

/// `||got - want|| / ||want||` over every tensor: a gradient from a batch's rows summed in
/// another order differs in the last bits only.
fn relative_error(got: &[Vec<f32>], want: &[Vec<f32>]) -> f64 {
    let (mut diff, mut norm) = (0.0, 0.0);
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        diff += (f64::from(*g) - f64::from(*w)).powi(2);
        norm += f64::from(*w).powi(2);
    }
    assert!(norm > 1e-6, "the reference gradient is all but zero");
    (diff / norm).sqrt()
}

/// One sample through a fresh batch-1 workspace: its loss, gradients and class probabilities.
fn one_sample(model: &mut Model, data: &Dataset, encoding: Encoding, id: usize) -> Sample {
    let mut workspace = Workspace::new(model, 1, encoding);
    let mut batch = Batch::new(1, encoding, data.target_steps);
    batch.fill(data, &[id], encoding);
    let loss = workspace.forward(model, &batch);
    workspace.backward(model, &batch);
    Sample {
        loss,
        grads: grads(model),
        probs: workspace.probs.clone(),
        targets: batch.targets.clone(),
    }
}

struct Sample {
    loss: f64,
    grads: Vec<Vec<f32>>,
    probs: Vec<f32>,
    targets: Vec<u32>,
}

/// 8 samples at batch 3: two full batches, then a partial one of samples 6 and 7, in training
/// and in evaluation. An encoder, `repeat` and a per-step decoder, so each sample has two
/// targets and the rows of a batch are interleaved step by step.
#[test]
fn a_partial_last_batch_trains_and_predicts_its_own_samples() {
    let plan = plan(
        "ABCDEFGHIJ",
        FramePlan::Lag {
            steps_in: 3,
            steps_out: 2,
        },
        3,
        vec![
            LayerPlan::Lstm(plan::Recurrent {
                units: 6,
                stateful: false,
                sequences: false,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Repeat(plan::Repeat { times: 2 }),
            LayerPlan::Lstm(plan::Recurrent {
                units: 5,
                stateful: false,
                sequences: true,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 10,
                per_step: true,
                activation: plan::Activation::Linear,
            }),
        ],
    );
    let (data, encoding) = data_of(&plan);
    assert_eq!(data.samples(), 8);
    let mut trainer = Trainer::new(&Plan {
        train: TrainPlan {
            epochs: 40,
            ..plan.train
        },
        ..plan.clone()
    });

    // The reference: the full batches as the trainer runs them, then the last two samples
    // one at a time from the weights those batches left.
    let mut model = Model::new(&plan, &mut Pcg64Mcg::seed_from_u64(0));
    model.set_values(trainer.state().params).unwrap();
    let mut optimizer = Optimizer::new(plan.train.optimizer, &model.tensors);
    let mut full = Workspace::new(&model, 3, encoding);
    let mut batch = Batch::new(3, encoding, 2);
    let (mut loss, mut correct) = (0.0, 0);
    for ids in [[0, 1, 2], [3, 4, 5]] {
        batch.fill(&data, &ids, encoding);
        loss += full.forward(&model, &batch);
        full.backward(&mut model, &batch);
        optimizer.update(&mut model.tensors, plan.train.optimizer.lr());
        correct += full
            .probs
            .chunks(10)
            .zip(&batch.targets)
            .filter(|(probs, &target)| argmax(probs) == target as usize)
            .count();
    }
    let last: Vec<Sample> = [6, 7]
        .iter()
        .map(|&id| one_sample(&mut model, &data, encoding, id))
        .collect();
    let mean_grads: Vec<Vec<f32>> = (0..last[0].grads.len())
        .map(|k| {
            let (a, b) = (&last[0].grads[k], &last[1].grads[k]);
            a.iter().zip(b).map(|(a, b)| (a + b) / 2.0).collect()
        })
        .collect();
    for sample in &last {
        loss += sample.loss;
        correct += sample
            .probs
            .chunks(10)
            .zip(&sample.targets)
            .filter(|(probs, &target)| argmax(probs) == target as usize)
            .count();
    }

    let stats = trainer.next_epoch().unwrap().unwrap();
    let error = relative_error(&grads(&trainer.model), &mean_grads);
    assert!(
        error < 1e-5,
        "the partial batch's gradient is off by {error} from its two samples' mean"
    );
    let want_loss = loss / 16.0;
    assert!(
        (stats.loss - want_loss).abs() < 1e-5 * want_loss,
        "epoch loss {} against {want_loss} recomputed",
        stats.loss
    );
    assert_eq!(stats.accuracy, Some(correct as f64 / 16.0));

    // Evaluation runs the same chunks, the last one partial: each sample's predictions must
    // be its own, as one sample from a zero state predicts them. Trained on until the
    // model tells the samples apart, so that rows swapped would show.
    trainer.train(|_| {}).unwrap();
    let evaluation = trainer.evaluate();
    let mut want = Vec::new();
    for id in 0..8 {
        let probs = trainer.predict_one(data.input(id));
        want.extend(probs.chunks(10).map(|probs| argmax(probs) as u32));
    }
    assert_eq!(evaluation.draws[0].predicted, want);
    assert_ne!(
        want[12..14],
        want[14..16],
        "samples 6 and 7 predicted alike"
    );
    let right = (0..8)
        .flat_map(|id| data.target(id).iter().zip(&want[id * 2..id * 2 + 2]))
        .filter(|(target, class)| target == class)
        .count();
    assert!(matches!(evaluation.score, Score::Accuracy(a) if a == right as f64 / 16.0));
}

/// A stateful stack at batch 3 over three batches: slot i of every batch must carry on from
/// slot i of the one before, so each slot's probabilities, carried state and gradients are
/// those of its own stream run at batch 1.
#[test]
fn stateful_slots_carry_their_own_streams() {
    let plan = plan(
        "ABCDEFGHIJKLMNOP",
        FramePlan::Windows { size: 3 },
        3,
        vec![
            LayerPlan::Lstm(plan::Recurrent {
                units: 6,
                stateful: true,
                sequences: true,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Lstm(plan::Recurrent {
                units: 5,
                stateful: true,
                sequences: false,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 16,
                per_step: false,
                activation: plan::Activation::Linear,
            }),
        ],
    );
    let (data, encoding) = data_of(&plan);
    let mut model = Model::new(&plan, &mut Pcg64Mcg::seed_from_u64(8));
    let batches = [[0, 1, 2], [3, 4, 5], [6, 7, 8]];

    let mut together = Workspace::new(&model, 3, encoding);
    let mut batch = Batch::new(3, encoding, 1);
    let mut probs = Vec::new();
    let mut batch_grads = Vec::new();
    for (index, ids) in batches.iter().enumerate() {
        batch.fill(&data, ids, encoding);
        together.forward(&model, &batch);
        probs.push(together.probs.clone());
        if index == 2 {
            // The last batch's gradients, from the state the first two left; backward reads
            // the batch's initial state, so before the carry.
            together.backward(&mut model, &batch);
            batch_grads = grads(&model);
        }
        together.carry_state();
    }
    let carried = together.carried_state();

    let mut slot_grads = Vec::new();
    for slot in 0..3 {
        let mut alone = Workspace::new(&model, 1, encoding);
        let mut one = Batch::new(1, encoding, 1);
        for (index, ids) in batches.iter().enumerate() {
            one.fill(&data, &[ids[slot]], encoding);
            alone.forward(&model, &one);
            let want = &alone.probs;
            let got = &probs[index][slot * 16..(slot + 1) * 16];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 1e-6,
                    "batch {index}, slot {slot}: {got:?} against {want:?} alone"
                );
            }
            if index == 2 {
                alone.backward(&mut model, &one);
                slot_grads.push(grads(&model));
            }
            alone.carry_state();
        }
        for ((name, state), (_, state1)) in carried.iter().zip(alone.carried_state()) {
            let units = state1.len();
            let slice = &state[slot * units..(slot + 1) * units];
            let near = slice.iter().zip(&state1).all(|(a, b)| (a - b).abs() < 1e-6);
            assert!(
                near,
                "{name}, slot {slot}: carried state differs from its stream alone"
            );
        }
    }
    let mean_grads: Vec<Vec<f32>> = (0..batch_grads.len())
        .map(|k| {
            (0..batch_grads[k].len())
                .map(|j| slot_grads.iter().map(|g| g[k][j]).sum::<f32>() / 3.0)
                .collect()
        })
        .collect();
    let error = relative_error(&batch_grads, &mean_grads);
    assert!(
        error < 1e-5,
        "batch-3 gradients are off by {error} from the mean of each slot's alone"
    );
}

/// Binary cross-entropy on random bits, each sample echoing its one input bit, one sigmoid
/// output its probability of 1: the accuracy reads the two probabilities `(1 - p, p)` the
/// loss leaves, and a trained model gets every bit right.
#[test]
fn binary_crossentropy_learns_two_classes() {
    let mut plan = plan(
        "",
        FramePlan::Lag {
            steps_in: 1,
            steps_out: 1,
        },
        1,
        vec![
            LayerPlan::Lstm(plan::Recurrent {
                units: 4,
                stateful: false,
                sequences: false,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 1,
                per_step: false,
                activation: plan::Activation::Linear,
            }),
        ],
    );
    plan.data.source = SourcePlan::RandomInts {
        lo: 0,
        hi: 2,
        length: 30,
    };
    plan.train.loss = Loss::BinaryCrossEntropy;
    plan.train.epochs = 40;
    let mut trainer = Trainer::new(&plan);
    let mut last = None;
    trainer.train(|stats| last = Some(stats)).unwrap();
    let stats = last.unwrap();
    assert_eq!(stats.accuracy, Some(1.0), "{stats:?}");
    assert!((0.0..0.2).contains(&stats.loss), "{stats:?}");
    let evaluation = trainer.evaluate();
    assert!(matches!(evaluation.score, Score::Accuracy(a) if a == 1.0));
}

/// Dropout passes its input through unchanged when evaluating (the same model without it
/// gives the same bits), and drops values while training.
#[test]
fn dropout_is_off_when_evaluating() {
    let lstm = LayerPlan::Lstm(plan::Recurrent {
        units: 6,
        stateful: false,
        sequences: false,
        dropout: 0.0,
        recurrent_dropout: 0.0,
    });
    let dense = LayerPlan::Dense(plan::Dense {
        units: 26,
        per_step: false,
        activation: plan::Activation::Linear,
    });
    let dropout = LayerPlan::Dropout(plan::Dropout { rate: 0.5 });
    let letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let frame = FramePlan::Windows { size: 3 };
    let with = plan(letters, frame, 3, vec![lstm, dropout, dense]);
    let without = plan(letters, frame, 3, vec![lstm, dense]);
    let (data, encoding) = data_of(&with);
    let mut batch = Batch::new(3, encoding, 1);
    batch.fill(&data, &[0, 1, 2], encoding);
    let probs = |plan: &Plan, noise: Option<u64>| {
        let model = Model::new(plan, &mut Pcg64Mcg::seed_from_u64(0));
        let mut workspace = Workspace::new(&model, 3, encoding);
        match noise {
            Some(noise) => workspace.forward_training(&model, &batch, noise),
            None => workspace.forward(&model, &batch),
        };
        workspace.probs
    };
    assert_eq!(probs(&with, None), probs(&without, None));
    assert_ne!(probs(&with, Some(1)), probs(&without, None));
    assert_eq!(probs(&with, Some(1)), probs(&with, Some(1)));
}

/// Masking: each row of a masked, post-padded batch predicts what its run alone, unpadded,
/// predicts, with a recurrent layer returning sequences under a GRU returning its last state.
#[test]
fn a_masked_row_predicts_as_its_run_alone() {
    masked_rows_predict_as_runs_alone(vec![
        LayerPlan::Lstm(recurrent(6, true)),
        LayerPlan::Gru(recurrent(5, false)),
        output(),
    ]);
}

/// The same through bidirectional layers: a bidirectional GRU returning sequences (zeros at
/// masked steps) under a bidirectional LSTM returning its last states.
#[test]
fn a_masked_row_predicts_as_its_run_alone_both_ways() {
    let both = |cell, layer| {
        LayerPlan::Bidirectional(plan::Bidirectional {
            cell,
            layer,
            merge: plan::Merge::Concat,
        })
    };
    masked_rows_predict_as_runs_alone(vec![
        both(plan::Cell::Gru, recurrent(5, true)),
        both(plan::Cell::Lstm, recurrent(4, false)),
        output(),
    ]);
}

fn recurrent(units: usize, sequences: bool) -> plan::Recurrent {
    plan::Recurrent {
        units,
        stateful: false,
        sequences,
        dropout: 0.0,
        recurrent_dropout: 0.0,
    }
}

fn output() -> LayerPlan {
    LayerPlan::Dense(plan::Dense {
        units: 26,
        per_step: false,
        activation: plan::Activation::Linear,
    })
}

fn masked_rows_predict_as_runs_alone(layers: Vec<LayerPlan>) {
    let runs = FramePlan::Runs {
        count: 12,
        max_len: 5,
        pad_before: false,
        mask: true,
    };
    let plan = plan("ABCDEFGHIJKLMNOPQRSTUVWXYZ", runs, 5, layers);
    let mut data = Dataset::new(&plan.data);
    data.draw(&plan.data, &mut Pcg64Mcg::seed_from_u64(3));
    let mut model = Model::new(&plan, &mut Pcg64Mcg::seed_from_u64(0));
    // Keras' zero biases keep a zero state at zero under zero inputs, which would hide a
    // padded step that was read: shift every parameter off its initial value.
    for (k, tensor) in model.tensors.iter_mut().enumerate() {
        for (i, value) in tensor.value.iter_mut().enumerate() {
            *value += 0.1 * ((k * 31 + i) as f32).sin();
        }
    }
    let encoding = Encoding::new(&plan.data, 5, 1);
    let ids: Vec<usize> = (0..4).collect();
    let mut batch = Batch::new(4, encoding, 1);
    batch.fill(&data, &ids, encoding);
    let mut together = Workspace::new(&model, 4, encoding);
    together.forward(&model, &batch);
    let lengths: Vec<usize> = ids
        .iter()
        .map(|&id| data.input(id).iter().filter(|&&s| s != PAD).count())
        .collect();
    assert!(
        lengths.iter().any(|&len| len < 5),
        "{lengths:?}: no padding"
    );
    for (row, &id) in ids.iter().enumerate() {
        let run: Vec<u32> = data.input(id)[..lengths[row]].to_vec();
        let alone_encoding = Encoding {
            steps: run.len(),
            mask: false,
            ..encoding
        };
        let mut one = Batch::new(1, alone_encoding, 1);
        one.fill_one(&run, alone_encoding);
        let mut alone = Workspace::new(&model, 1, alone_encoding);
        alone.forward(&model, &one);
        let got = &together.probs[row * 26..(row + 1) * 26];
        for (g, w) in got.iter().zip(&alone.probs) {
            assert!(
                (g - w).abs() < 1e-6,
                "row {row}: {got:?} against {:?}",
                alone.probs
            );
        }
    }
}
