//! `lstmc export`: a trained model as a standard ONNX graph (opset 13), for ONNX Runtime,
//! tract or any other runtime. Recurrent layers become ONNX's own `LSTM` and `GRU`
//! operators (gates reordered from PyTorch's i, f, g, o to ONNX's i, o, f, c, and r, z, n to
//! z, r, h; the GRU with `linear_before_reset=1`, which is Keras' `reset_after=True`); the
//! rest are standard operators. Tensors inside the graph are time-major `[T, B, F]`, as
//! ONNX's recurrent operators read them; the graph's input and output are batch-major.
//!
//! The graph reads what lstmc's batches hold (one-hot rows, normalised symbols, symbol ids,
//! or a series' rows in the data's own units, scaled inside the graph) and writes the
//! probabilities (the softmax, or a sigmoid's probability of class 1) or a regression's
//! values in the data's units. A stateful layer's initial `h` (and `c`) are graph inputs and
//! its final ones graph outputs, so a caller carries the state between calls.

pub mod proto;

use prost::Message;
use runtime::data::Scaler;
use runtime::model::NamedTensor;
use runtime::plan::{Activation, Bidirectional, Cell, Dense, LayerPlan, Loss, Merge, Plan};

use proto::{
    attribute_type, data_type, tensor_shape_proto, type_proto, AttributeProto, GraphProto,
    ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

/// The ONNX operator set the graph uses: ONNX Runtime and tract both read it.
pub const OPSET: i64 = 13;
/// The IR version of opset 13.
const IR_VERSION: i64 = 7;

/// What the exported model's input holds, by the spec's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `[batch, steps, features]` floats: one-hot rows, normalised symbols or a series' rows.
    Floats,
    /// `[batch, steps]` int64 symbol ids, for an embedding.
    Ids,
}

/// One exported layer: how the graph reaches the next layer's input.
#[derive(Clone)]
enum Flow {
    /// `[T, B, F]`.
    Sequence(String),
    /// `[B, F]`.
    Vector(String),
}

/// A graph being built: nodes, weights, and names given out in order.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    names: usize,
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INTS),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::STRING),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A dimension: a size, or a name for one the caller chooses (`batch`, `steps`).
#[derive(Clone)]
pub enum Dim {
    Fixed(usize),
    Named(&'static str),
}

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
                Dim::Named(name) => {
                    tensor_shape_proto::dimension::Value::DimParam(name.to_string())
                }
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: None,
    }
}

impl Graph {
    fn fresh(&mut self, hint: &str) -> String {
        self.names += 1;
        format!("{hint}_{}", self.names)
    }

    /// A node with outputs named from `hint`; returns them.
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        outputs: usize,
    ) -> Vec<String> {
        let names: Vec<String> = (0..outputs)
            .map(|_| self.fresh(&op.to_lowercase()))
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: names.clone(),
            name: Some(names[0].clone()),
            op_type: Some(op.into()),
            attribute: attributes,
        });
        names
    }

    fn one_named(&mut self, op: &str, inputs: &[&str], output: &str) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(output.to_string()),
            op_type: Some(op.into()),
            attribute: Vec::new(),
        });
    }

    fn one(&mut self, op: &str, inputs: &[&str], attributes: Vec<AttributeProto>) -> String {
        self.node(op, inputs, attributes, 1).remove(0)
    }

    fn floats(&mut self, hint: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(hint, dims, data_type::FLOAT, raw)
    }

    fn int64s(&mut self, hint: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(hint, &[values.len()], data_type::INT64, raw)
    }

    fn tensor(&mut self, hint: &str, dims: &[usize], data_type: i32, raw: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type),
            name: Some(name.clone()),
            raw_data: Some(raw),
        });
        name
    }

    fn transpose(&mut self, input: &str, perm: &[i64]) -> String {
        self.one("Transpose", &[input], vec![ints("perm", perm)])
    }

    fn squeeze(&mut self, input: &str, axis: i64) -> String {
        let axes = self.int64s("axes", &[axis]);
        self.one("Squeeze", &[input, &axes], Vec::new())
    }
}

/// The weights `Model::export` named, looked up by layer.
struct Weights<'a>(&'a [NamedTensor]);

impl Weights<'_> {
    fn get(&self, layer: usize, name: &str) -> &NamedTensor {
        let full = format!("layers.{layer}.{name}");
        self.0
            .iter()
            .find(|t| t.name == full)
            .unwrap_or_else(|| panic!("the model exports {full}"))
    }
}

/// `[gates · units, cols]` rows reordered by gate: block `order[k]` of the source becomes
/// block `k`.
fn reorder(data: &[f32], units: usize, cols: usize, order: &[usize]) -> Vec<f32> {
    let block = units * cols;
    order
        .iter()
        .flat_map(|&k| &data[k * block..(k + 1) * block])
        .copied()
        .collect()
}

/// PyTorch's gate blocks in ONNX's order: the LSTM's i, f, g, o as i, o, f, c; the GRU's
/// r, z, n as z, r, h.
fn onnx_order(cell: Cell) -> &'static [usize] {
    match cell {
        Cell::Lstm => &[0, 3, 1, 2],
        Cell::Gru => &[1, 0, 2],
    }
}

/// What the model's export needs besides the weights.
pub struct ExportSettings<'a> {
    pub plan: &'a Plan,
    pub scaler: &'a Scaler,
    /// Key/value pairs for the model's metadata.
    pub metadata: Vec<(String, String)>,
}

/// The graph's input kind for a plan.
pub fn input_kind(plan: &Plan) -> InputKind {
    match plan.data.ids {
        true => InputKind::Ids,
        false => InputKind::Floats,
    }
}

/// Whether a plan masks its padded steps: the graph then reads each sample's length.
pub fn masked(plan: &Plan) -> bool {
    matches!(
        plan.data.frame,
        runtime::plan::FramePlan::Runs { mask: true, .. }
    )
}

/// The model as ONNX bytes.
pub fn export(settings: &ExportSettings, tensors: &[NamedTensor]) -> Vec<u8> {
    let plan = settings.plan;
    let weights = Weights(tensors);
    let mut graph = Graph::default();
    let mut flow = input(&mut graph, settings);
    // Keras' masking: each recurrent layer that still reads the batch's steps reads each
    // sample's real steps only (ONNX's `sequence_lens`), until a layer returns one vector.
    let mut lengths = masked(plan).then(|| {
        let dims = [Dim::Named("batch")];
        graph
            .inputs
            .push(value_info("lengths", data_type::INT32, &dims));
        "lengths".to_string()
    });
    // The output's steps are the input's, unless a `repeat` set them.
    let mut output_steps = Dim::Named("steps");
    for (index, layer) in plan.layers.iter().enumerate() {
        let recurrent_layer = |settings, both| Recurrent {
            settings,
            both,
            lengths: lengths.clone(),
        };
        flow = match *layer {
            LayerPlan::Embedding(_) => embedding(&mut graph, &weights, index, flow),
            LayerPlan::Dropout(_) => flow,
            LayerPlan::Lstm(r) | LayerPlan::Gru(r) => {
                let cell = match layer {
                    LayerPlan::Lstm(_) => Cell::Lstm,
                    _ => Cell::Gru,
                };
                let one = Bidirectional {
                    cell,
                    layer: r,
                    merge: Merge::Concat,
                };
                recurrent(
                    &mut graph,
                    &weights,
                    index,
                    flow,
                    recurrent_layer(one, false),
                )
            }
            LayerPlan::Bidirectional(b) => {
                recurrent(&mut graph, &weights, index, flow, recurrent_layer(b, true))
            }
            LayerPlan::Repeat(repeat) => {
                output_steps = Dim::Fixed(repeat.times);
                repeated(&mut graph, flow, repeat.times)
            }
            LayerPlan::Dense(dense) => dense_layer(&mut graph, &weights, index, flow, dense),
        };
        if matches!(flow, Flow::Vector(_)) {
            lengths = None;
        }
    }
    output(&mut graph, settings, flow, output_steps);
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("lstmc".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!("lstmc model {}", plan.name)),
        graph: Some(GraphProto {
            node: graph.nodes,
            name: Some(plan.name.clone()),
            initializer: graph.initializers,
            doc_string: None,
            input: graph.inputs,
            output: graph.outputs,
        }),
        metadata_props: settings
            .metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect(),
    };
    model.encode_to_vec()
}

/// The graph's input, time-major for the layers: a series' rows scaled as training scaled
/// them.
fn input(graph: &mut Graph, settings: &ExportSettings) -> Flow {
    let plan = settings.plan;
    let batch_steps = [Dim::Named("batch"), Dim::Named("steps")];
    if input_kind(plan) == InputKind::Ids {
        graph
            .inputs
            .push(value_info("input", data_type::INT64, &batch_steps));
        return Flow::Sequence(graph.transpose("input", &[1, 0]));
    }
    let dims = [
        batch_steps[0].clone(),
        batch_steps[1].clone(),
        Dim::Fixed(plan.features),
    ];
    graph
        .inputs
        .push(value_info("input", data_type::FLOAT, &dims));
    let mut x = "input".to_string();
    let columns = &settings.scaler.inputs;
    if !columns.is_empty() {
        // A step's features are the columns, or a window's rows of them side by side.
        let column = |i: usize| columns[i % columns.len()];
        let offsets: Vec<f32> = (0..plan.features).map(|i| column(i).offset).collect();
        let scales: Vec<f32> = (0..plan.features).map(|i| column(i).scale).collect();
        let offset = graph.floats("input_offset", &[plan.features], &offsets);
        let scale = graph.floats("input_scale", &[plan.features], &scales);
        let centred = graph.one("Sub", &[&x, &offset], Vec::new());
        x = graph.one("Div", &[&centred, &scale], Vec::new());
    }
    Flow::Sequence(graph.transpose(&x, &[1, 0, 2]))
}

fn embedding(graph: &mut Graph, weights: &Weights, index: usize, flow: Flow) -> Flow {
    let Flow::Sequence(ids) = flow else {
        unreachable!("the compiler puts an embedding first, reading ids")
    };
    // A row of zeros after the symbols' rows: id `symbols` is a padded step, which reads
    // zeros in lstmc too.
    let table = weights.get(index, "weight");
    let (symbols, width) = (table.shape[0], table.shape[1]);
    let mut rows = table.data.clone();
    rows.extend(std::iter::repeat_n(0.0, width));
    let table = graph.floats("embedding", &[symbols + 1, width], &rows);
    Flow::Sequence(graph.one("Gather", &[&table, &ids], vec![int("axis", 0)]))
}

/// A recurrent layer as the export sees it: its cell and settings, whether it reads both
/// directions, and the graph's lengths while its input is masked.
struct Recurrent {
    settings: Bidirectional,
    both: bool,
    lengths: Option<String>,
}

/// An LSTM or a GRU, one direction or both, with the state a stateful layer carries as
/// graph inputs and outputs.
fn recurrent(
    graph: &mut Graph,
    weights: &Weights,
    index: usize,
    flow: Flow,
    layer: Recurrent,
) -> Flow {
    let Recurrent {
        settings: layer,
        both,
        lengths,
    } = layer;
    let x = match flow {
        Flow::Sequence(x) => x,
        Flow::Vector(_) => unreachable!("the compiler gives a recurrent layer a sequence"),
    };
    let units = layer.layer.units;
    let directions: &[&str] = if both { &["", "_reverse"] } else { &[""] };
    let order = onnx_order(layer.cell);
    let gates = order.len();
    let (mut w, mut r, mut b) = (Vec::new(), Vec::new(), Vec::new());
    let mut input_width = 0;
    for suffix in directions {
        let ih = weights.get(index, &format!("weight_ih_l0{suffix}"));
        input_width = ih.shape[1];
        let hh = weights.get(index, &format!("weight_hh_l0{suffix}"));
        w.extend(reorder(&ih.data, units, input_width, order));
        r.extend(reorder(&hh.data, units, units, order));
        for bias in ["bias_ih_l0", "bias_hh_l0"] {
            let bias = weights.get(index, &format!("{bias}{suffix}"));
            b.extend(reorder(&bias.data, units, 1, order));
        }
    }
    let nd = directions.len();
    let w = graph.floats("W", &[nd, gates * units, input_width], &w);
    let r = graph.floats("R", &[nd, gates * units, units], &r);
    let b = graph.floats("B", &[nd, 2 * gates * units], &b);
    let (op, carried) = match layer.cell {
        Cell::Lstm => ("LSTM", &["h", "c"][..]),
        Cell::Gru => ("GRU", &["h"][..]),
    };
    // tract reads no `sequence_lens` that is not a constant, so a one-way layer that hands
    // on no state runs over the padding too, which comes after the real steps and so
    // changes none of them, and its last real step is picked out after (`last_real_step`).
    let picked = match (&lengths, both || layer.layer.stateful) {
        (Some(lengths), false) => Some(lengths.clone()),
        _ => None,
    };
    let sequence_lens = match picked {
        Some(_) => String::new(),
        None => lengths.unwrap_or_default(),
    };
    let mut inputs = vec![x, w, r, b, sequence_lens];
    let state_dims = [Dim::Fixed(nd), Dim::Named("batch"), Dim::Fixed(units)];
    if layer.layer.stateful {
        for name in carried {
            let input = format!("layer{}_{name}", index + 1);
            graph
                .inputs
                .push(value_info(&input, data_type::FLOAT, &state_dims));
            inputs.push(input);
        }
    }
    let mut attributes = vec![
        int("hidden_size", units as i64),
        string("direction", if both { "bidirectional" } else { "forward" }),
    ];
    if layer.cell == Cell::Gru {
        attributes.push(int("linear_before_reset", 1));
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let outputs = graph.node(op, &inputs, attributes, 1 + carried.len());
    if layer.layer.stateful {
        for (name, value) in carried.iter().zip(&outputs[1..]) {
            let output = format!("layer{}_{name}_out", index + 1);
            graph.one_named("Identity", &[value], &output);
            graph
                .outputs
                .push(value_info(&output, data_type::FLOAT, &state_dims));
        }
    }
    let merged = match (layer.layer.sequences, picked) {
        // Y `[T, nd, B, H]`.
        (true, _) => merge(graph, &outputs[0], 1, nd, layer.merge, units),
        (false, Some(lengths)) => last_real_step(graph, &outputs[0], &lengths, units),
        // Y_h `[nd, B, H]`.
        (false, None) => merge(graph, &outputs[1], 0, nd, layer.merge, units),
    };
    match layer.layer.sequences {
        true => Flow::Sequence(merged),
        false => Flow::Vector(merged),
    }
}

/// Each sample's output at its last real step, `[B, H]`, from a one-way layer's Y
/// `[T, 1, B, H]`: step `length - 1` gathered along the steps.
fn last_real_step(graph: &mut Graph, y: &str, lengths: &str, units: usize) -> String {
    let steps = graph.squeeze(y, 1);
    let one = graph.tensor("one", &[], data_type::INT32, 1_i32.to_le_bytes().to_vec());
    let last = graph.one("Sub", &[lengths, &one], Vec::new());
    let last = graph.one(
        "Cast",
        &[&last],
        vec![int("to", i64::from(data_type::INT64))],
    );
    let shape = graph.int64s("shape", &[1, -1, 1]);
    let last = graph.one("Reshape", &[&last, &shape], Vec::new());
    let width = graph.int64s("width", &[1, 1, units as i64]);
    let index = graph.one("Expand", &[&last, &width], Vec::new());
    let picked = graph.one("GatherElements", &[&steps, &index], vec![int("axis", 0)]);
    graph.squeeze(&picked, 0)
}

/// The directions' outputs, stacked along `axis`, merged as Keras merges them: one
/// direction squeezed out; two concatenated along the features (the forward's first),
/// summed, multiplied or averaged.
fn merge(graph: &mut Graph, y: &str, axis: i64, nd: usize, merge: Merge, units: usize) -> String {
    if nd == 1 {
        return graph.squeeze(y, axis);
    }
    match merge {
        Merge::Concat => {
            // `[.., 2, B, H]` to `[.., B, 2, H]`, then `[.., B, 2H]`.
            let (perm, shape): (&[i64], Vec<i64>) = match axis {
                1 => (&[0, 2, 1, 3], vec![0, 0, 2 * units as i64]),
                _ => (&[1, 0, 2], vec![0, 2 * units as i64]),
            };
            let moved = graph.transpose(y, perm);
            let shape = graph.int64s("shape", &shape);
            graph.one("Reshape", &[&moved, &shape], Vec::new())
        }
        // ReduceSum takes its axes as an input from opset 13, ReduceMean still as an attribute.
        Merge::Sum => {
            let axes = graph.int64s("axes", &[axis]);
            graph.one("ReduceSum", &[y, &axes], vec![int("keepdims", 0)])
        }
        Merge::Ave => graph.one(
            "ReduceMean",
            &[y],
            vec![ints("axes", &[axis]), int("keepdims", 0)],
        ),
        Merge::Mul => {
            let halves = graph.node("Split", &[y], vec![int("axis", axis)], 2);
            let product = graph.one("Mul", &[&halves[0], &halves[1]], Vec::new());
            graph.squeeze(&product, axis)
        }
    }
}

/// `[B, F]` read at each of `times` steps: `[times, B, F]`.
fn repeated(graph: &mut Graph, flow: Flow, times: usize) -> Flow {
    let Flow::Vector(v) = flow else {
        unreachable!("the compiler repeats a vector")
    };
    let axes = graph.int64s("axes", &[0]);
    let one_step = graph.one("Unsqueeze", &[&v, &axes], Vec::new());
    // `times` copies side by side: tract's optimiser folds a broadcast (`Expand`, `Tile`)
    // into the recurrent layer's input projection wrongly (tract 0.23.9).
    let copies = vec![one_step.as_str(); times];
    Flow::Sequence(graph.one("Concat", &copies, vec![int("axis", 0)]))
}

fn dense_layer(
    graph: &mut Graph,
    weights: &Weights,
    index: usize,
    flow: Flow,
    dense: Dense,
) -> Flow {
    let weight = weights.get(index, "weight");
    let bias = weights.get(index, "bias");
    let (units, inputs) = (weight.shape[0], weight.shape[1]);
    let b = graph.floats("bias", &[units], &bias.data);
    let flow = match flow {
        Flow::Vector(x) => {
            let w = graph.floats("weight", &[units, inputs], &weight.data);
            Flow::Vector(graph.one("Gemm", &[&x, &w, &b], vec![int("transB", 1)]))
        }
        Flow::Sequence(x) => {
            // `[T, B, F]·[F, U]`: PyTorch's `[U, F]` transposed once here.
            let mut transposed = vec![0.0; weight.data.len()];
            for u in 0..units {
                for i in 0..inputs {
                    transposed[i * units + u] = weight.data[u * inputs + i];
                }
            }
            let w = graph.floats("weight", &[inputs, units], &transposed);
            let product = graph.one("MatMul", &[&x, &w], Vec::new());
            Flow::Sequence(graph.one("Add", &[&product, &b], Vec::new()))
        }
    };
    let op = match dense.activation {
        Activation::Linear => return flow,
        Activation::Relu => "Relu",
        Activation::Tanh => "Tanh",
        Activation::Sigmoid => "Sigmoid",
    };
    map_flow(flow, |x| graph.one(op, &[x], Vec::new()))
}

fn map_flow(flow: Flow, f: impl FnOnce(&str) -> String) -> Flow {
    match flow {
        Flow::Sequence(x) => Flow::Sequence(f(&x)),
        Flow::Vector(x) => Flow::Vector(f(&x)),
    }
}

/// The loss's own transform (softmax, sigmoid) or a regression's scaling back to the data's
/// units, batch-major: `output`, `[batch, classes]` or `[batch, steps, classes]`.
fn output(graph: &mut Graph, settings: &ExportSettings, flow: Flow, steps: Dim) {
    let plan = settings.plan;
    let flow = match plan.train.loss {
        Loss::CrossEntropy => map_flow(flow, |x| graph.one("Softmax", &[x], vec![int("axis", -1)])),
        Loss::BinaryCrossEntropy => map_flow(flow, |x| graph.one("Sigmoid", &[x], Vec::new())),
        Loss::Mse | Loss::Mae => {
            let width = last_width(plan);
            map_flow(flow, |x| unscale(graph, settings.scaler, width, x))
        }
    };
    let (x, dims) = match flow {
        Flow::Vector(x) => (x, vec![Dim::Named("batch"), Dim::Fixed(last_width(plan))]),
        Flow::Sequence(x) => (
            graph.transpose(&x, &[1, 0, 2]),
            vec![Dim::Named("batch"), steps, Dim::Fixed(last_width(plan))],
        ),
    };
    graph.one_named("Identity", &[&x], "output");
    // First, before the state a stateful model hands back.
    graph
        .outputs
        .insert(0, value_info("output", data_type::FLOAT, &dims));
}

/// A regression's outputs `[out · targets]` back in the data's units, each by its target
/// column's scaling (`x · scale + offset`).
fn unscale(graph: &mut Graph, scaler: &Scaler, width: usize, x: &str) -> String {
    if scaler.targets.is_empty() {
        return x.to_string();
    }
    let column = |i: usize| scaler.targets[i % scaler.targets.len()];
    let scales: Vec<f32> = (0..width).map(|i| column(i).scale).collect();
    let offsets: Vec<f32> = (0..width).map(|i| column(i).offset).collect();
    let scale = graph.floats("output_scale", &[width], &scales);
    let offset = graph.floats("output_offset", &[width], &offsets);
    let scaled = graph.one("Mul", &[x, &scale], Vec::new());
    graph.one("Add", &[&scaled, &offset], Vec::new())
}

fn last_width(plan: &Plan) -> usize {
    match plan.layers.last() {
        Some(LayerPlan::Dense(dense)) => dense.units,
        _ => unreachable!("the compiler ends every model with a dense layer"),
    }
}
