//! The optimizer: which update rule a plan trains with (`OptimizerPlan`), and the state it
//! keeps beside the model's parameters (`Optimizer`): its step count and, for every parameter
//! tensor, its slots (Adam's two moments, SGD's momentum, RMSprop's averages).
//!
//! The parameters and their gradients belong to the `Model`; the optimizer reads the
//! gradients and writes the values, one fused kernel pass per tensor. What sits around the
//! update (clipping, the learning rate's schedule) is `controls`'.

use kernels::adam::{adam_update, AdamConfig, AdamStep, AdamWConfig};
use kernels::rmsprop::{rmsprop_update, RmspropConfig, RmspropStep};
use kernels::sgd::{sgd_update, SgdConfig, SgdStep};

use rayon::prelude::*;

use crate::model::Tensor;

/// An update rule and its settings, with Keras' formulas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerPlan {
    Adam(AdamConfig),
    AdamW(AdamWConfig),
    Sgd(SgdConfig),
    Rmsprop(RmspropConfig),
}

impl OptimizerPlan {
    /// The learning rate its settings give, before any schedule.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerPlan::Adam(config) => config.lr,
            OptimizerPlan::AdamW(config) => config.lr,
            OptimizerPlan::Sgd(config) => config.lr,
            OptimizerPlan::Rmsprop(config) => config.lr,
        }
    }

    fn with_lr(self, lr: f64) -> OptimizerPlan {
        match self {
            OptimizerPlan::Adam(config) => OptimizerPlan::Adam(AdamConfig { lr, ..config }),
            OptimizerPlan::AdamW(config) => OptimizerPlan::AdamW(AdamWConfig { lr, ..config }),
            OptimizerPlan::Sgd(config) => OptimizerPlan::Sgd(SgdConfig { lr, ..config }),
            OptimizerPlan::Rmsprop(config) => {
                OptimizerPlan::Rmsprop(RmspropConfig { lr, ..config })
            }
        }
    }

    /// The names of the buffers it keeps per parameter tensor, in the order `slots` holds
    /// them; each names its optimizer, so that no state loads into another's. As in Keras,
    /// SGD keeps a momentum only above 0, RMSprop an average gradient only when centered.
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerPlan::Adam(_) => &["adam.m", "adam.v"],
            OptimizerPlan::AdamW(_) => &["adamw.m", "adamw.v"],
            OptimizerPlan::Sgd(config) if config.momentum > 0.0 => &["sgd.momentum"],
            OptimizerPlan::Sgd(_) => &[],
            OptimizerPlan::Rmsprop(config) => match (config.centered, config.momentum > 0.0) {
                (false, false) => &["rmsprop.velocity"],
                (true, false) => &["rmsprop.velocity", "rmsprop.average_grad"],
                (false, true) => &["rmsprop.velocity", "rmsprop.momentum"],
                (true, true) => &[
                    "rmsprop.velocity",
                    "rmsprop.average_grad",
                    "rmsprop.momentum",
                ],
            },
        }
    }
}

/// The step count and the named slots: `slots[s].1[k]` is slot `s` of tensor `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    pub step: u64,
    pub slots: Vec<(String, Vec<Vec<f32>>)>,
}

type Slot = (String, Vec<Vec<f32>>);

pub struct Optimizer {
    plan: OptimizerPlan,
    state: OptimizerState,
}

impl Optimizer {
    /// Zeroed slots for `tensors`, at step 0.
    pub fn new(plan: OptimizerPlan, tensors: &[Tensor]) -> Optimizer {
        let zeros = || tensors.iter().map(|t| vec![0.0; t.value.len()]).collect();
        Optimizer {
            plan,
            state: OptimizerState {
                step: 0,
                slots: plan
                    .slot_names()
                    .iter()
                    .map(|name| (name.to_string(), zeros()))
                    .collect(),
            },
        }
    }

    /// Floats held per parameter float.
    pub fn floats_per_parameter(plan: OptimizerPlan) -> usize {
        plan.slot_names().len()
    }

    /// Floats held, read from the slots themselves.
    pub fn floats(&self) -> usize {
        let slots = self.state.slots.iter().flat_map(|(_, tensors)| tensors);
        slots.map(Vec::len).sum()
    }

    /// The updates done so far.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// One update of every tensor with its gradient (from the last `backward`, clipped or
    /// not), at learning rate `lr`.
    pub fn update(&mut self, tensors: &mut [Tensor], lr: f64) {
        self.state.step += 1;
        let step = self.state.step;
        let mut slots = &mut self.state.slots[..];
        match self.plan.with_lr(lr) {
            OptimizerPlan::Adam(config) => {
                let step = AdamStep::new(config, step);
                adam_pass(tensors, &mut slots, step);
            }
            OptimizerPlan::AdamW(config) => {
                let step = AdamStep::adamw(config, step);
                adam_pass(tensors, &mut slots, step);
            }
            OptimizerPlan::Sgd(config) => {
                let mut momentum = next_slot(&mut slots, config.momentum > 0.0);
                for (k, tensor) in tensors.iter_mut().enumerate() {
                    let momentum = buffer(&mut momentum, k);
                    sgd_update(
                        &mut tensor.value,
                        &tensor.grad,
                        momentum,
                        SgdStep::new(config),
                    );
                }
            }
            OptimizerPlan::Rmsprop(config) => {
                let step = RmspropStep::new(config);
                let mut velocity = next_slot(&mut slots, true);
                let mut average = next_slot(&mut slots, config.centered);
                let mut momentum = next_slot(&mut slots, config.momentum > 0.0);
                for (k, tensor) in tensors.iter_mut().enumerate() {
                    rmsprop_update(
                        &mut tensor.value,
                        &tensor.grad,
                        buffer(&mut velocity, k),
                        buffer(&mut average, k),
                        buffer(&mut momentum, k),
                        step,
                    );
                }
            }
        }
    }

    pub fn state(&self) -> &OptimizerState {
        &self.state
    }

    /// Restores what `state` gave, checking the names and sizes first.
    pub fn restore(&mut self, state: OptimizerState) -> Result<(), String> {
        let fits = state.slots.len() == self.state.slots.len()
            && state
                .slots
                .iter()
                .zip(&self.state.slots)
                .all(|(got, want)| {
                    got.0 == want.0
                        && got.1.len() == want.1.len()
                        && got.1.iter().zip(&want.1).all(|(g, w)| g.len() == w.len())
                });
        if !fits {
            return Err("the optimizer state does not fit this model".into());
        }
        self.state = state;
        Ok(())
    }
}

/// Above this many parameters, Adam updates the tensors on rayon's threads, in pieces of at
/// most `PARALLEL_PIECE`: each element's update is its own, so the bits do not depend on the
/// threads. Its division and square root make it a tenth of the encoder-decoder's step.
const PARALLEL_MIN_PARAMETERS: usize = 1 << 16;
/// Parameters an Adam task updates at most. One tensor a task left encdec's second thread
/// waiting while the first finished a tensor of 90k parameters.
const PARALLEL_PIECE: usize = 1 << 14;

/// Adam's or AdamW's update, as `step` says, with the first two slots as the moments.
fn adam_pass(tensors: &mut [Tensor], slots: &mut &mut [Slot], step: AdamStep) {
    let m = next_slot(slots, true).expect("Adam keeps its first moments");
    let v = next_slot(slots, true).expect("Adam keeps its second moments");
    assert!(
        m.len() == tensors.len() && v.len() == tensors.len(),
        "Adam keeps a moment for every tensor"
    );
    let parameters: usize = tensors.iter().map(|tensor| tensor.value.len()).sum();
    if parameters < PARALLEL_MIN_PARAMETERS {
        for ((tensor, m), v) in tensors.iter_mut().zip(m).zip(v) {
            adam_update(&mut tensor.value, &tensor.grad, m, v, step);
        }
        return;
    }
    let in_pieces = |((tensor, m), v): ((&mut Tensor, &mut Vec<f32>), &mut Vec<f32>)| {
        let len = tensor.value.len();
        // The zip below would stop at the shortest; `adam_update` sees one piece only.
        assert!(
            tensor.grad.len() == len && m.len() == len && v.len() == len,
            "adam buffers differ in length"
        );
        let p = PARALLEL_PIECE;
        let values = tensor
            .value
            .par_chunks_mut(p)
            .zip(tensor.grad.par_chunks(p));
        values
            .zip(m.par_chunks_mut(p).zip(v.par_chunks_mut(p)))
            .for_each(|((value, grad), (m, v))| adam_update(value, grad, m, v, step));
    };
    tensors.par_iter_mut().zip(m).zip(v).for_each(in_pieces);
}

/// The next of `slots`, taken off the front, when the rule keeps it (the slots are in
/// `slot_names`' order, which leaves out the ones not kept).
fn next_slot<'a>(slots: &mut &'a mut [Slot], kept: bool) -> Option<&'a mut [Vec<f32>]> {
    if !kept {
        return None;
    }
    let (first, rest) = std::mem::take(slots)
        .split_first_mut()
        .expect("the optimizer keeps a slot for each buffer its rule reads");
    *slots = rest;
    Some(&mut first.1)
}

/// Tensor `k`'s buffer of a slot, or an empty one that the kernels do not read.
fn buffer<'a>(slot: &'a mut Option<&mut [Vec<f32>]>, k: usize) -> &'a mut [f32] {
    match slot {
        Some(tensors) => &mut tensors[k],
        None => &mut [],
    }
}
