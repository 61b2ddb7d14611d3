//! The update after backward, through `Trainer::step`: each optimizer's step is its kernel
//! reference (`kernels::generic`) applied to the gradients the step computed, clipping does
//! to the gradients what Keras' does, and a schedule's learning rate is its formula's.

use kernels::generic;
use runtime::controls::{LearningRate, Plateau, PlateauState};
use runtime::plan::{
    self, AdamConfig, AdamWConfig, Clip, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss,
    OptimizerPlan, Plan, RmspropConfig, Scale, Schedule, SgdConfig, SourcePlan, TrainPlan,
};
use runtime::train::Trainer;

/// A small model of the alphabet, three windows a batch, updated as `optimizer` says.
fn plan(optimizer: OptimizerPlan, clip: Option<Clip>, schedule: Option<Schedule>) -> Plan {
    Plan {
        name: "optimizers".into(),
        steps: 3,
        features: 1,
        layers: vec![
            LayerPlan::Lstm(plan::Recurrent {
                units: 6,
                stateful: false,
                sequences: false,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 26,
                per_step: false,
                activation: plan::Activation::Linear,
            }),
        ],
        data: DataPlan {
            source: SourcePlan::Alphabet {
                letters: "ABCDEFGHIJKLMNOPQRSTUVWXYZ".chars().collect(),
            },
            frame: FramePlan::Windows { size: 3 },
            one_hot: false,
            ids: false,
            as_features: false,
            fresh: false,
            scale: Scale::None,
            split: None,
        },
        train: TrainPlan {
            epochs: 1,
            batch: 3,
            shuffle: false,
            reset_each_epoch: true,
            seed: 3,
            optimizer,
            clip,
            schedule,
            loss: Loss::CrossEntropy,
            early_stop: None,
        },
        eval: EvalPlan::Train,
        show: Vec::new(),
    }
}

fn values(trainer: &Trainer) -> Vec<Vec<f32>> {
    trainer.state().params
}

fn grads(trainer: &Trainer) -> Vec<Vec<f32>> {
    let tensors = &trainer.model.tensors;
    tensors.iter().map(|t| t.grad().to_vec()).collect()
}

/// The batches of the first steps: samples 0-2, 3-5, ...
fn batch(index: usize) -> [usize; 3] {
    [3 * index, 3 * index + 1, 3 * index + 2]
}

/// The kernels' f64 references, their state in three buffers per tensor: Adam's and AdamW's
/// moments in the first two, SGD's momentum in the first, RMSprop's velocity, average
/// gradient and momentum in that order.
struct Reference {
    optimizer: OptimizerPlan,
    state: Vec<[Vec<f32>; 3]>,
    step: u64,
}

impl Reference {
    fn new(optimizer: OptimizerPlan, params: &[Vec<f32>]) -> Reference {
        let zeros = |p: &Vec<f32>| [(); 3].map(|_| vec![0.0; p.len()]);
        Reference {
            optimizer,
            state: params.iter().map(zeros).collect(),
            step: 0,
        }
    }

    fn update(&mut self, params: &mut [Vec<f32>], grads: &[Vec<f32>], lr: f64) {
        self.step += 1;
        for ((p, g), [a, b, c]) in params.iter_mut().zip(grads).zip(&mut self.state) {
            match self.optimizer {
                OptimizerPlan::Adam(config) => {
                    let AdamConfig {
                        beta1,
                        beta2,
                        epsilon,
                        ..
                    } = config;
                    generic::adam(p, g, a, b, lr, beta1, beta2, epsilon, self.step);
                }
                OptimizerPlan::AdamW(config) => {
                    generic::adamw(p, g, a, b, AdamWConfig { lr, ..config }, self.step)
                }
                OptimizerPlan::Sgd(config) => generic::sgd(p, g, a, SgdConfig { lr, ..config }),
                OptimizerPlan::Rmsprop(config) => {
                    generic::rmsprop(p, g, a, b, c, RmspropConfig { lr, ..config })
                }
            }
        }
    }
}

/// The largest difference between two sets of tensors, relative to 1 or the value.
fn largest_difference(got: &[Vec<f32>], want: &[Vec<f32>]) -> f64 {
    let pairs = got.iter().flatten().zip(want.iter().flatten());
    pairs
        .map(|(&g, &w)| (f64::from(g) - f64::from(w)).abs() / f64::from(w.abs()).max(1.0))
        .fold(0.0, f64::max)
}

/// Steps `trainer` `steps` times, checking each update against the reference applied to the
/// gradients the step computed (clipped, when the plan clips), at the rate `lr` gives.
fn check_updates(trainer: &mut Trainer, optimizer: OptimizerPlan, steps: usize) {
    let mut params = values(trainer);
    let mut reference = Reference::new(optimizer, &params);
    for index in 0..steps {
        let lr = trainer.learning_rate();
        trainer.step(&batch(index));
        reference.update(&mut params, &grads(trainer), lr);
        let difference = largest_difference(&values(trainer), &params);
        assert!(
            difference < 1e-6,
            "{optimizer:?}, step {}: off the reference by {difference}",
            index + 1
        );
        // The next step starts from the trainer's values, so differences do not pile up.
        params = values(trainer);
    }
}

fn optimizers() -> [OptimizerPlan; 6] {
    [
        OptimizerPlan::Adam(AdamConfig {
            lr: 0.05,
            ..AdamConfig::default()
        }),
        OptimizerPlan::AdamW(AdamWConfig {
            lr: 0.05,
            weight_decay: 0.1,
            ..AdamWConfig::default()
        }),
        OptimizerPlan::Sgd(SgdConfig {
            lr: 0.5,
            ..SgdConfig::default()
        }),
        OptimizerPlan::Sgd(SgdConfig {
            lr: 0.5,
            momentum: 0.9,
            nesterov: true,
        }),
        OptimizerPlan::Rmsprop(RmspropConfig::default()),
        OptimizerPlan::Rmsprop(RmspropConfig {
            lr: 0.01,
            momentum: 0.5,
            centered: true,
            ..RmspropConfig::default()
        }),
    ]
}

/// Four steps, so that each rule's state (moments, momentum, averages) carries into the
/// next update; each slot the rule keeps is allocated, and no other.
#[test]
fn each_optimizer_steps_as_its_reference() {
    for optimizer in optimizers() {
        let mut trainer = Trainer::new(&plan(optimizer, None, None));
        check_updates(&mut trainer, optimizer, 4);
        let slots: Vec<String> = trainer
            .state()
            .optimizer
            .slots
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(slots, optimizer.slot_names(), "{optimizer:?}");
    }
}

/// A twin trainer without the clip gives the unclipped gradients of the same step.
fn clipped_and_unclipped(clip: Clip) -> (Trainer, Vec<Vec<f32>>) {
    let sgd = OptimizerPlan::Sgd(SgdConfig::default());
    let mut clipped = Trainer::new(&plan(sgd, Some(clip), None));
    let mut unclipped = Trainer::new(&plan(sgd, None, None));
    clipped.step(&batch(0));
    unclipped.step(&batch(0));
    (clipped, grads(&unclipped))
}

#[test]
fn each_clip_changes_the_gradients_as_keras_does() {
    let tiny = 1e-3;
    let (trainer, raw) = clipped_and_unclipped(Clip::Norm(tiny));
    let want: Vec<Vec<f32>> = raw.iter().map(|g| generic::clip_by_norm(g, tiny)).collect();
    assert!(largest_difference(&grads(&trainer), &want) < 1e-9);

    let (trainer, raw) = clipped_and_unclipped(Clip::GlobalNorm(tiny));
    let want = generic::clip_by_global_norm(&raw, tiny);
    assert!(largest_difference(&grads(&trainer), &want) < 1e-9);
    let norm = grads(&trainer)
        .iter()
        .map(|g| generic::sum_squares(g))
        .sum::<f64>()
        .sqrt();
    assert!((norm - tiny).abs() < 1e-6 * tiny, "global norm {norm}");

    let (trainer, raw) = clipped_and_unclipped(Clip::Value(1e-4));
    let want: Vec<Vec<f32>> = raw
        .iter()
        .map(|g| generic::clip_by_value(g, 1e-4))
        .collect();
    assert_eq!(grads(&trainer), want);
    assert!(
        raw.iter().flatten().any(|g| g.abs() > 1e-4),
        "nothing to clamp"
    );
}

/// A limit no gradient reaches changes no bit of training; a tiny one shrinks the update to
/// the clipped gradient's.
#[test]
fn a_global_norm_clip_scales_the_update_only_past_its_limit() {
    let adam = OptimizerPlan::Adam(AdamConfig::default());
    let mut free = Trainer::new(&plan(adam, None, None));
    let mut loose = Trainer::new(&plan(adam, Some(Clip::GlobalNorm(1e30)), None));
    for index in 0..6 {
        free.step(&batch(index));
        loose.step(&batch(index));
    }
    assert_eq!(
        values(&free),
        values(&loose),
        "a clip past every norm changed the bits"
    );

    let sgd = OptimizerPlan::Sgd(SgdConfig::default());
    let clip = Some(Clip::GlobalNorm(1e-3));
    check_updates(&mut Trainer::new(&plan(sgd, clip, None)), sgd, 3);
    let before = values(&Trainer::new(&plan(sgd, None, None)));
    let mut unclipped = Trainer::new(&plan(sgd, None, None));
    let mut tight = Trainer::new(&plan(sgd, clip, None));
    unclipped.step(&batch(0));
    tight.step(&batch(0));
    let moved = |trainer: &Trainer| {
        let pairs = values(trainer)
            .into_iter()
            .flatten()
            .zip(before.iter().flatten());
        pairs
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    // SGD moves by lr·g: 0.01 times a gradient of norm 1e-3.
    assert!(
        (moved(&tight) - 1e-5).abs() < 1e-3 * 1e-5,
        "moved {}",
        moved(&tight)
    );
    assert!(moved(&unclipped) > 10.0 * moved(&tight));
}

/// Step decay and exponential decay are evaluated at the updates done before each one, as
/// Keras' `LearningRateSchedule` is at `iterations`, and the update runs at that rate.
#[test]
fn step_and_exponential_schedules_follow_their_formulas() {
    let sgd = SgdConfig {
        lr: 0.2,
        momentum: 0.5,
        nesterov: false,
    };
    // The rate after `done` updates, as Keras' `ExponentialDecay` writes it.
    type Formula = fn(u64) -> f64;
    let schedules: [(Schedule, Formula); 2] = [
        (
            Schedule::Step {
                every: 2,
                rate: 0.5,
            },
            |done| 0.2 * 0.5f64.powi((done / 2) as i32),
        ),
        (
            Schedule::Exponential {
                every: 3,
                rate: 0.9,
            },
            |done| 0.2 * 0.9f64.powf(done as f64 / 3.0),
        ),
    ];
    for (schedule, formula) in schedules {
        let plan = plan(OptimizerPlan::Sgd(sgd), None, Some(schedule));
        let mut trainer = Trainer::new(&plan);
        for done in 0..7 {
            let lr = trainer.learning_rate();
            assert!(
                (lr - formula(done)).abs() < 1e-15,
                "{schedule:?} after {done}: {lr}"
            );
            trainer.step(&batch(done as usize));
        }
        let mut trainer = Trainer::new(&plan);
        check_updates(&mut trainer, OptimizerPlan::Sgd(sgd), 7);
    }
}

/// Keras' `ReduceLROnPlateau`: a loss that is not below the best by more than `min_delta`
/// counts towards `patience`; after `patience` of them the rate is multiplied by `factor`
/// and the count starts again, but the rate never goes below `min_lr`, and at `min_lr` the
/// count runs on.
#[test]
fn a_plateau_lowers_the_rate_after_patience_epochs_without_improvement() {
    let rule = Plateau {
        factor: 0.5,
        patience: 2,
        min_delta: 0.01,
        min_lr: 0.03,
    };
    let mut rate = LearningRate::new(0.1, Some(Schedule::Plateau(rule)));
    let losses = [
        1.0,
        0.9,
        0.895,
        f64::NAN,
        0.8,
        0.8,
        0.7,
        0.9,
        0.9,
        0.9,
        0.9,
        0.9,
    ];
    let (half, floor) = (Some(0.05), Some(0.03));
    let lowered = [
        None, None, None, half, None, None, None, None, floor, None, None, None,
    ];
    let waits = [0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 2, 3];
    let rates = [
        0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03,
    ];
    for (epoch, &loss) in losses.iter().enumerate() {
        assert_eq!(rate.end_epoch(loss), lowered[epoch], "epoch {}", epoch + 1);
        let state = rate.plateau().unwrap();
        assert_eq!(
            (state.wait, state.lr),
            (waits[epoch], rates[epoch]),
            "epoch {}",
            epoch + 1
        );
        assert_eq!(
            rate.at(1000),
            rates[epoch],
            "a plateau's rate does not depend on the step"
        );
    }
    assert_eq!(rate.plateau().unwrap().best, 0.7);

    let mut resumed = LearningRate::new(0.1, Some(Schedule::Plateau(rule)));
    resumed.restore(rate.plateau()).unwrap();
    assert_eq!(resumed, rate);
    let other = LearningRate::new(0.1, None);
    assert!(other.clone().restore(rate.plateau()).is_err());
    let made_up = PlateauState {
        lr: f64::NAN,
        wait: 0,
        best: 1.0,
    };
    assert!(resumed.restore(Some(made_up)).is_err());
}
