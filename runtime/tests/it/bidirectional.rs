//! A bidirectional layer: its backward direction is the same layer run on the reversed
//! sequence, bit for bit, and its weights go out and come back in the names of PyTorch's
//! bidirectional `nn.LSTM` and `nn.GRU`.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use runtime::data::{Batch, Dataset, Encoding};
use runtime::model::{Model, NamedTensor, Workspace};
use runtime::plan::{self, Cell, LayerPlan, Merge, Plan};

use crate::gradients::{bidirectional, one_bidirectional};

fn rng(seed: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(seed)
}

/// `values`' `steps` steps in reverse order (none of an encoding that does not use them).
fn reversed<T: Copy>(values: &[T], steps: usize) -> Vec<T> {
    let step = (values.len() / steps).max(1);
    values.chunks(step).rev().flatten().copied().collect()
}

/// The probabilities of a batch of three samples (the first of `data`), or of the same
/// samples with their steps reversed.
fn probs(plan: &Plan, model: &Model, reverse: bool) -> Vec<f32> {
    let mut data = Dataset::new(&plan.data);
    data.draw(&plan.data, &mut rng(4));
    let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
    let mut batch = Batch::new(3, encoding, data.target_steps);
    batch.fill(&data, &[0, 1, 2], encoding);
    if reverse {
        batch.x = reversed(&batch.x, plan.steps);
        batch.hot = reversed(&batch.hot, plan.steps);
    }
    let mut workspace = Workspace::new(model, 3, encoding);
    workspace.forward(model, &batch);
    workspace.probs
}

/// A bidirectional layer whose forward direction has zero weights, and so outputs zeros,
/// merged by `sum`, gives the outputs of its backward direction alone; the same cell with
/// the backward direction's weights, run on the reversed samples, must give them too, step
/// `t` of one being step `T - 1 - t` of the other.
fn backward_direction_is_the_reversed_run(cell: Cell, one_hot: bool, sequences: bool) {
    let mut both = one_bidirectional(one_hot, sequences, Merge::Sum);
    both.layers[0] = bidirectional(cell, 5, sequences, Merge::Sum);
    let mut model = Model::new(&both, &mut rng(3));
    let mut tensors = model.export();
    let forward =
        |t: &NamedTensor| t.name.starts_with("layers.0.") && !t.name.ends_with("_reverse");
    for tensor in tensors.iter_mut().filter(|t| forward(t)) {
        tensor.data.fill(0.0);
    }
    model.import(&tensors).unwrap();

    let mut one = both.clone();
    let settings = plan::Recurrent {
        units: 5,
        stateful: false,
        sequences,
        dropout: 0.0,
        recurrent_dropout: 0.0,
    };
    one.layers[0] = match cell {
        Cell::Lstm => LayerPlan::Lstm(settings),
        Cell::Gru => LayerPlan::Gru(settings),
    };
    let mut single = Model::new(&one, &mut rng(5));
    let backward: Vec<NamedTensor> = tensors
        .iter()
        .filter(|t| !forward(t))
        .map(|t| NamedTensor {
            name: t.name.trim_end_matches("_reverse").to_string(),
            ..t.clone()
        })
        .collect();
    single.import(&backward).unwrap();

    let got = probs(&both, &model, false);
    let run = probs(&one, &single, true);
    let want = if sequences {
        reversed(&run, both.steps)
    } else {
        run
    };
    assert_eq!(
        got, want,
        "{cell:?}, one-hot {one_hot}, sequences {sequences}"
    );
}

#[test]
fn backward_direction_reads_the_sequence_reversed() {
    for cell in [Cell::Lstm, Cell::Gru] {
        for (one_hot, sequences) in [(true, true), (true, false), (false, true)] {
            backward_direction_is_the_reversed_run(cell, one_hot, sequences);
        }
    }
}

/// A bidirectional LSTM and a bidirectional GRU: what `torch.nn.LSTM(6, 5,
/// bidirectional=True)` and `torch.nn.GRU(10, 4, bidirectional=True)` hold, by name and
/// shape; the LSTM's one bias in `bias_ih`, zeros in `bias_hh`, in each direction.
#[test]
fn weights_take_pytorch_bidirectional_names() {
    let mut plan = one_bidirectional(true, true, Merge::Concat);
    plan.layers = vec![
        bidirectional(Cell::Lstm, 5, true, Merge::Concat),
        bidirectional(Cell::Gru, 4, true, Merge::Mul),
        plan.layers[1],
    ];
    let model = Model::new(&plan, &mut rng(1));
    let exported = model.export();
    let shapes: Vec<(&str, &[usize])> = exported
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    let mut want: Vec<(String, Vec<usize>)> = Vec::new();
    for (layer, gates, input, units) in [(0, 20, 6, 5), (1, 12, 10, 4)] {
        for suffix in ["", "_reverse"] {
            want.push((
                format!("layers.{layer}.weight_ih_l0{suffix}"),
                vec![gates, input],
            ));
            want.push((
                format!("layers.{layer}.weight_hh_l0{suffix}"),
                vec![gates, units],
            ));
            want.push((format!("layers.{layer}.bias_ih_l0{suffix}"), vec![gates]));
            want.push((format!("layers.{layer}.bias_hh_l0{suffix}"), vec![gates]));
        }
    }
    want.push(("layers.2.weight".into(), vec![6, 4]));
    want.push(("layers.2.bias".into(), vec![6]));
    let want: Vec<(&str, &[usize])> = want
        .iter()
        .map(|(name, shape)| (name.as_str(), shape.as_slice()))
        .collect();
    assert_eq!(shapes, want);

    let named = |name: &str| &exported.iter().find(|t| t.name == name).unwrap().data;
    for suffix in ["", "_reverse"] {
        let bias_hh = named(&format!("layers.0.bias_hh_l0{suffix}"));
        assert!(bias_hh.iter().all(|&b| b == 0.0));
    }
    assert_ne!(
        named("layers.0.weight_ih_l0"),
        named("layers.0.weight_ih_l0_reverse"),
        "each direction draws its own weights"
    );

    let mut loaded = Model::new(&plan, &mut rng(2));
    loaded.import(&exported).unwrap();
    assert_eq!(loaded.export(), exported);
}
