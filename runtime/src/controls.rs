//! What sits around the optimizer's update, with Keras 3's semantics: the gradients clipped
//! before it (`Clip`, Keras' `clipnorm`, `global_clipnorm`, `clipvalue`), and the learning
//! rate it runs at (`LearningRate`: fixed, a `LearningRateSchedule` of the step, or lowered by
//! `ReduceLROnPlateau` at the end of an epoch). `Update` applies both, in Keras' order.
//!
//! Nothing here allocates after it is made: a training step runs `Update::apply`.

use kernels::clip::{
    clip_value_in_place, clipnorm_scale, global_clipnorm_scale, scale_in_place, sum_squares,
};

use crate::model::Tensor;
use crate::optimizer::Optimizer;
use crate::plan::TrainPlan;

/// One kind of gradient clipping, its limit above 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// Keras' `clipnorm`: each tensor's gradient scaled to a norm of at most this.
    Norm(f64),
    /// Keras' `global_clipnorm`: every gradient scaled by one factor, so that their norm
    /// together is at most this.
    GlobalNorm(f64),
    /// Keras' `clipvalue`: each element clamped to `[-limit, limit]`.
    Value(f32),
}

impl Clip {
    /// Clips every tensor's gradient in place. A factor of exactly 1 (a norm within the
    /// limit) leaves the gradients untouched.
    pub fn apply(self, tensors: &mut [Tensor]) {
        match self {
            Clip::Norm(limit) => {
                for tensor in tensors {
                    let scale = clipnorm_scale(sum_squares(&tensor.grad), limit);
                    if scale != 1.0 {
                        scale_in_place(&mut tensor.grad, scale);
                    }
                }
            }
            Clip::GlobalNorm(limit) => {
                // Summed in the tensors' order, so the same gradients give the same bits.
                let total = tensors.iter().map(|t| sum_squares(&t.grad)).sum();
                let scale = global_clipnorm_scale(total, limit);
                if scale != 1.0 {
                    for tensor in tensors {
                        scale_in_place(&mut tensor.grad, scale);
                    }
                }
            }
            Clip::Value(limit) => {
                for tensor in tensors {
                    clip_value_in_place(&mut tensor.grad, limit);
                }
            }
        }
    }
}

/// How the learning rate changes during training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// `lr·rate^⌊step / every⌋`, `step` the updates done before this one: Keras'
    /// `ExponentialDecay(staircase=True)`.
    Step { every: u64, rate: f64 },
    /// `lr·rate^(step / every)`: Keras' `ExponentialDecay`.
    Exponential { every: u64, rate: f64 },
    /// Keras' `ReduceLROnPlateau(monitor="val_loss")`.
    Plateau(Plateau),
}

/// After `patience` epochs whose validation loss is not below the best by more than
/// `min_delta`, the learning rate is multiplied by `factor`, but not below `min_lr`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plateau {
    pub factor: f64,
    pub patience: usize,
    pub min_delta: f64,
    pub min_lr: f64,
}

/// A plateau schedule's record: the learning rate it has come to, the epochs since the best
/// validation loss (or since the last reduction), and that loss (infinite before the first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateauState {
    pub lr: f64,
    pub wait: usize,
    pub best: f64,
}

/// The learning rate of every update: the optimizer's, or its schedule's.
#[derive(Clone, Debug, PartialEq)]
pub struct LearningRate {
    base: f64,
    schedule: Option<Schedule>,
    /// Present exactly when the schedule is a plateau.
    plateau: Option<PlateauState>,
}

impl LearningRate {
    pub fn new(base: f64, schedule: Option<Schedule>) -> LearningRate {
        let plateau = matches!(schedule, Some(Schedule::Plateau(_))).then_some(PlateauState {
            lr: base,
            wait: 0,
            best: f64::INFINITY,
        });
        LearningRate {
            base,
            schedule,
            plateau,
        }
    }

    /// The learning rate of the update that follows `done` updates: Keras evaluates a
    /// schedule at `iterations`, the updates before this one, so the first runs at `lr`.
    pub fn at(&self, done: u64) -> f64 {
        match (self.schedule, self.plateau) {
            (Some(Schedule::Step { every, rate }), _) => {
                self.base * rate.powf((done / every) as f64)
            }
            (Some(Schedule::Exponential { every, rate }), _) => {
                self.base * rate.powf(done as f64 / every as f64)
            }
            (_, Some(plateau)) => plateau.lr,
            _ => self.base,
        }
    }

    /// `ReduceLROnPlateau.on_epoch_end` with the epoch's validation loss (a NaN never
    /// improves); returns the new learning rate when it was lowered.
    pub fn end_epoch(&mut self, val_loss: f64) -> Option<f64> {
        let (Some(Schedule::Plateau(rule)), Some(state)) = (self.schedule, &mut self.plateau)
        else {
            return None;
        };
        if val_loss < state.best - rule.min_delta {
            (state.best, state.wait) = (val_loss, 0);
            return None;
        }
        state.wait += 1;
        // As Keras, a learning rate already at `min_lr` stays there and its wait goes on.
        if state.wait < rule.patience || state.lr <= rule.min_lr {
            return None;
        }
        state.lr = (state.lr * rule.factor).max(rule.min_lr);
        state.wait = 0;
        Some(state.lr)
    }

    /// A plateau schedule's record, for a checkpoint; nothing for another schedule, whose
    /// rate follows from the optimizer's step.
    pub fn plateau(&self) -> Option<PlateauState> {
        self.plateau
    }

    /// Restores what `plateau` gave, which must be there exactly when the schedule is a
    /// plateau, and could have come from one.
    pub fn restore(&mut self, saved: Option<PlateauState>) -> Result<(), String> {
        match (self.plateau, saved) {
            (None, None) => Ok(()),
            (Some(_), Some(state))
                if state.lr.is_finite() && state.lr >= 0.0 && !state.best.is_nan() =>
            {
                self.plateau = Some(state);
                Ok(())
            }
            (Some(_), Some(state)) => Err(format!(
                "its plateau record (learning rate {}, best val loss {}) cannot come from a run",
                state.lr, state.best
            )),
            (Some(_), None) => {
                Err("it has no plateau record, which this spec's schedule needs".into())
            }
            (None, Some(_)) => {
                Err("it holds a plateau record, and this spec has no plateau schedule".into())
            }
        }
    }
}

/// What follows every backward: the gradients clipped, then the optimizer's update at the
/// learning rate of this step (Keras' `apply_gradients`: `_clip_gradients`, then AdamW's
/// weight decay and the update, both at the current learning rate).
pub struct Update {
    pub(crate) optimizer: Optimizer,
    pub(crate) rate: LearningRate,
    clip: Option<Clip>,
}

impl Update {
    pub fn new(train: &TrainPlan, tensors: &[Tensor]) -> Update {
        Update {
            optimizer: Optimizer::new(train.optimizer, tensors),
            rate: LearningRate::new(train.optimizer.lr(), train.schedule),
            clip: train.clip,
        }
    }

    pub fn apply(&mut self, tensors: &mut [Tensor]) {
        if let Some(clip) = self.clip {
            clip.apply(tensors);
        }
        let lr = self.rate.at(self.optimizer.step());
        self.optimizer.update(tensors, lr);
    }

    /// The learning rate of the next update.
    pub fn lr(&self) -> f64 {
        self.rate.at(self.optimizer.step())
    }
}
