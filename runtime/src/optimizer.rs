//! The optimizer: which update rule a plan trains with (`OptimizerPlan`), and the state it
//! keeps beside the model's parameters (`Optimizer`): its step count and, for every parameter
//! tensor, its slots (Adam's two moments).
//!
//! The parameters and their gradients belong to the `Model`; the optimizer reads the
//! gradients and writes the values, one fused kernel pass per tensor.

use kernels::adam::{adam_update, AdamConfig, AdamStep};

use crate::model::Tensor;

/// An update rule and its settings, with Keras' formulas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerPlan {
    Adam(AdamConfig),
}

impl OptimizerPlan {
    /// The names of the buffers it keeps per parameter tensor, in the order `slots` holds
    /// them; each names its optimizer, so that no state loads into another's.
    pub fn slot_names(&self) -> &'static [&'static str] {
        match self {
            OptimizerPlan::Adam(_) => &["adam.m", "adam.v"],
        }
    }
}

/// The step count and the named slots: `slots[s].1[k]` is slot `s` of tensor `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    pub step: u64,
    pub slots: Vec<(String, Vec<Vec<f32>>)>,
}

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

    /// One update of every tensor with the gradients of the last `backward`.
    pub fn update(&mut self, tensors: &mut [Tensor]) {
        self.state.step += 1;
        match self.plan {
            OptimizerPlan::Adam(config) => {
                let step = AdamStep::new(config, self.state.step);
                let [(_, m), (_, v)] = &mut self.state.slots[..] else {
                    unreachable!("adam keeps two slots")
                };
                for ((tensor, m), v) in tensors.iter_mut().zip(m).zip(v) {
                    adam_update(&mut tensor.value, &tensor.grad, m, v, step);
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
