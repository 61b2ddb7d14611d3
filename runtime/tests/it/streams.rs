//! A text in parallel streams: stream b's characters, read chunk by chunk in batch slot b
//! with the state carried between batches, give what the same characters give read as one
//! long sequence from a zero state. And the items of a lines source, whose padding counts for
//! nothing.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{Batch, Dataset, Encoding};
use runtime::model::{Model, Workspace};
use runtime::plan::{
    self, AdamConfig, DataPlan, EvalPlan, FramePlan, LayerPlan, Loss, OptimizerPlan, Plan, Scale,
    SourcePlan, Split, TrainPlan,
};

const STREAMS: usize = 3;
const STEPS: usize = 4;
const CHUNKS: usize = 3;

/// A text of 7 characters over `3 * 3 * 4 + 1 + 5` positions, one-hot, in 3 streams of 4
/// steps: two stacked stateful LSTMs and a per-step softmax.
fn plan(steps: usize) -> Plan {
    let ids: Vec<u32> = (0..STREAMS * CHUNKS * STEPS + 1 + 5)
        .map(|i| ((i * 5 + i / 3) % 7) as u32)
        .collect();
    let lstm = |units| {
        LayerPlan::Lstm(plan::Recurrent {
            units,
            stateful: true,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        })
    };
    Plan {
        name: "streams".into(),
        steps,
        features: 7,
        layers: vec![
            lstm(6),
            lstm(5),
            LayerPlan::Dense(plan::Dense {
                units: 7,
                per_step: true,
                activation: plan::Activation::Linear,
            }),
        ],
        data: DataPlan {
            source: SourcePlan::Text {
                vocabulary: "abcdefg".chars().collect(),
                ids,
            },
            frame: FramePlan::Streams { steps },
            one_hot: true,
            ids: false,
            as_features: false,
            fresh: false,
            scale: Scale::None,
            split: None::<Split>,
        },
        train: TrainPlan {
            epochs: 1,
            batch: STREAMS,
            shuffle: false,
            reset_each_epoch: true,
            seed: 3,
            optimizer: OptimizerPlan::Adam(AdamConfig {
                lr: 0.01,
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

#[test]
fn each_stream_reads_as_one_long_sequence() {
    let chunked = plan(STEPS);
    let model = Model::new(&chunked, &mut Pcg64Mcg::seed_from_u64(11));
    let ids = match &chunked.data.source {
        SourcePlan::Text { ids, .. } => ids.clone(),
        _ => unreachable!(),
    };
    let data = Dataset::streams(&chunked.data, 0..ids.len(), STREAMS);
    assert_eq!(data.samples(), STREAMS * CHUNKS);
    let encoding = Encoding::new(&chunked.data, STEPS, 7);
    let mut workspace = Workspace::new(&model, STREAMS, encoding);
    let mut batch = Batch::new(STREAMS, encoding, STEPS);
    // probs[chunk][step][slot][class], time-major within each batch.
    let mut chunked_probs = Vec::new();
    for chunk in 0..CHUNKS {
        batch.fill_range(&data, chunk * STREAMS..(chunk + 1) * STREAMS, encoding);
        workspace.forward(&model, &batch);
        workspace.carry_state();
        chunked_probs.push(workspace.probs.clone());
    }
    // Each stream's share of the text, read whole from a zero state.
    let share = (ids.len() - 1) / STREAMS;
    let long = plan(STEPS * CHUNKS);
    let long_encoding = Encoding::new(&long.data, STEPS * CHUNKS, 7);
    for stream in 0..STREAMS {
        let text = &ids[stream * share..stream * share + STEPS * CHUNKS];
        let mut one = Workspace::new(&model, 1, long_encoding);
        let mut batch = Batch::new(1, long_encoding, STEPS * CHUNKS);
        batch.fill_one(text, long_encoding);
        one.forward(&model, &batch);
        for (chunk, probs) in chunked_probs.iter().enumerate() {
            for step in 0..STEPS {
                let at = ((step * STREAMS) + stream) * 7;
                let got = &probs[at..at + 7];
                let at = (chunk * STEPS + step) * 7;
                let want = &one.probs[at..at + 7];
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() < 1e-5,
                        "stream {stream}, chunk {chunk}, step {step}: {got:?} against {want:?}"
                    );
                }
            }
        }
    }
}

/// Sample `k * streams + b` is stream b's k-th chunk, and its targets are its inputs shifted
/// by one character.
#[test]
fn samples_continue_their_streams() {
    let plan = plan(STEPS);
    let SourcePlan::Text { ids, .. } = &plan.data.source else {
        unreachable!()
    };
    let data = Dataset::streams(&plan.data, 0..ids.len(), STREAMS);
    let share = (ids.len() - 1) / STREAMS;
    for chunk in 0..CHUNKS {
        for stream in 0..STREAMS {
            let sample = chunk * STREAMS + stream;
            let start = stream * share + chunk * STEPS;
            assert_eq!(data.input(sample), &ids[start..start + STEPS]);
            assert_eq!(data.target(sample), &ids[start + 1..start + STEPS + 1]);
        }
    }
}

/// Items of a lines source padded to more steps than the longest needs give the same loss:
/// padding counts in neither the loss nor its gradient.
#[test]
fn padding_after_an_item_counts_for_nothing() {
    let items: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![4], vec![2, 2, 5, 1]];
    let plan_with = |steps: usize| {
        let mut plan = plan(steps);
        plan.layers[0] = LayerPlan::Lstm(plan::Recurrent {
            units: 6,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        });
        plan.layers[1] = LayerPlan::Lstm(plan::Recurrent {
            units: 5,
            stateful: false,
            sequences: true,
            dropout: 0.0,
            recurrent_dropout: 0.0,
        });
        plan.data.source = SourcePlan::Lines {
            vocabulary: "\nabcdef".chars().collect(),
            items: items.clone(),
        };
        plan.data.frame = FramePlan::Items { steps };
        plan
    };
    let run = |steps: usize| {
        let plan = plan_with(steps);
        let mut model = Model::new(&plan, &mut Pcg64Mcg::seed_from_u64(2));
        let data = Dataset::items(&plan.data, &[0, 1, 2]);
        let encoding = Encoding::new(&plan.data, steps, 7);
        let mut workspace = Workspace::new(&model, 3, encoding);
        let mut batch = Batch::new(3, encoding, steps);
        batch.fill(&data, &[0, 1, 2], encoding);
        let loss = workspace.forward(&model, &batch);
        workspace.backward(&mut model, &batch);
        let grads: Vec<Vec<f32>> = model.tensors.iter().map(|t| t.grad().to_vec()).collect();
        (loss, grads)
    };
    let (tight, tight_grads) = run(5);
    let (padded, padded_grads) = run(9);
    assert!(
        (tight - padded).abs() < 1e-9 * tight.abs(),
        "{tight} against {padded}"
    );
    for (a, b) in tight_grads
        .iter()
        .flatten()
        .zip(padded_grads.iter().flatten())
    {
        assert!((a - b).abs() < 1e-6, "{a} against {b}");
    }
    assert!(tight > 0.0);
}
