//! The composed backward pass against finite differences: an encoder, `repeat`, a decoder
//! returning sequences and a per-step dense layer, as the encoder-decoder experiment chains
//! them, from a non-zero carried state.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{Batch, Dataset, Encoding};
use runtime::model::{Model, Workspace};
use runtime::plan::{
    self, AdamConfig, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss, OptimizerPlan, Plan, Scale,
    SourcePlan, TrainPlan,
};

fn encoder_decoder(one_hot: bool) -> Plan {
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
            LayerPlan::Lstm(plan::Lstm {
                units: 5,
                stateful: true,
                sequences: false,
            }),
            LayerPlan::Repeat(plan::Repeat { times: 2 }),
            LayerPlan::Lstm(plan::Lstm {
                units: 4,
                stateful: false,
                sequences: true,
            }),
            LayerPlan::Dense(plan::Dense {
                units: 6,
                per_step: true,
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

fn check(plan: &Plan) {
    let mut model = Model::new(plan, &mut Pcg64Mcg::seed_from_u64(3));
    let mut data = Dataset::new(&plan.data);
    data.draw(&plan.data, &mut Pcg64Mcg::seed_from_u64(4));
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let mut batch = Batch::new(3, encoding, data.target_steps);
    let mut workspace = Workspace::new(&model, 3, encoding);
    // A first batch leaves the stateful encoder a non-zero state to start the checked one.
    batch.fill(&data, &[0, 1, 2], encoding);
    workspace.forward(&model, &batch);
    workspace.carry_state();
    batch.fill(&data, &[3, 4, 5], encoding);
    workspace.forward(&model, &batch);
    workspace.backward(&mut model, &batch);
    let analytic: Vec<Vec<f32>> = model.tensors.iter().map(|t| t.grad().to_vec()).collect();
    // The loss `forward` returns is summed over rows; its gradient is the mean's, so scale.
    let rows = batch.targets.len() as f64;
    // Central differences of an f32 loss: at eps 1e-2 its rounding leaves about 1e-6 in each
    // difference, and the truncation error is smaller still; at 3e-3 the rounding doubles
    // the worst tensor's error, at 3e-2 the truncation grows it.
    let eps = 1e-2f32;
    for (tensor, grads) in analytic.iter().enumerate() {
        let numeric: Vec<f64> = (0..grads.len())
            .map(|index| {
                let mut loss_at = |delta: f32| {
                    let saved = model.tensors[tensor].value[index];
                    model.tensors[tensor].value[index] = saved + delta;
                    let loss = workspace.forward(&model, &batch);
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
        // The worst tensor measured is off by 0.7 %.
        assert!(
            error / norm < 2e-2,
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
    check(&encoder_decoder(true));
    check(&encoder_decoder(false));
}

/// Two LSTMs returning sequences, then two per-step dense layers: the input gradient of an
/// LSTM fed a sequence, and of a dense layer fed a dense layer.
#[test]
fn stacked_gradients_match_finite_differences() {
    let mut plan = encoder_decoder(false);
    plan.layers = vec![
        LayerPlan::Lstm(plan::Lstm {
            units: 5,
            stateful: false,
            sequences: true,
        }),
        LayerPlan::Lstm(plan::Lstm {
            units: 4,
            stateful: true,
            sequences: true,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 7,
            per_step: true,
        }),
        LayerPlan::Dense(plan::Dense {
            units: 6,
            per_step: true,
        }),
    ];
    plan.data.frame = FramePlan::Lag {
        steps_in: 3,
        steps_out: 3,
    };
    check(&plan);
}
