//! The LSTM layer: parameters `[W_ih, W_hh, bias]` (Keras' one bias), the kernels' fused
//! forward and backward, and the `(h, c)` state it carries when stateful.

use kernels::lstm::{
    lstm_backward, lstm_forward, packing_pays, InputKind, LstmDims, LstmGrads, LstmScratch,
    LstmTape, LstmWeights,
};
use rand_pcg::Pcg64Mcg;

use super::recurrent::{
    input_kind, outgoing, output_flow, output_grad, projection_op, row_signals,
    weight_gradients_op, InputDropout, RecurrentDropout,
};
use super::{named, transposed, Flow, Incoming, Layer, Shape, Work};
use crate::init::{glorot_uniform, lstm_bias, orthogonal};
use crate::model::{NamedTensor, Tensor};
use crate::plan::Recurrent;
use crate::trace::Signal;

/// The LSTM kind of recurrent layer.
pub(crate) struct Lstm(pub Recurrent);

impl Layer for Lstm {
    fn width(&self, _input: usize) -> usize {
        self.0.units
    }

    fn parameter_floats(&self, input: usize) -> usize {
        (input + self.0.units + 1) * 4 * self.0.units
    }

    fn init(&self, input: usize, rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        let units = self.0.units;
        vec![
            glorot_uniform(input, 4 * units, rng),
            orthogonal(units, 4 * units, rng),
            lstm_bias(units),
        ]
    }

    /// `torch.nn.LSTM`'s `weight_ih_l0 [4H, I]`, `weight_hh_l0 [4H, H]`, `bias_ih_l0 [4H]`
    /// (Keras' one bias) and `bias_hh_l0 [4H]` (zeros), gates i, f, g, o.
    fn export(&self, input: usize, params: &[Tensor]) -> Vec<NamedTensor> {
        let (units, g4) = (self.0.units, 4 * self.0.units);
        vec![
            named(
                "weight_ih_l0",
                vec![g4, input],
                transposed(&params[0].value, input, g4),
            ),
            named(
                "weight_hh_l0",
                vec![g4, units],
                transposed(&params[1].value, units, g4),
            ),
            named("bias_ih_l0", vec![g4], params[2].value.clone()),
            named("bias_hh_l0", vec![g4], vec![0.0; g4]),
        ]
    }

    /// PyTorch's two biases are summed, so its own weights load too.
    fn import(&self, input: usize, named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        let (units, g4) = (self.0.units, 4 * self.0.units);
        let (ih, hh) = (named("bias_ih_l0"), named("bias_hh_l0"));
        vec![
            transposed(&named("weight_ih_l0"), g4, input),
            transposed(&named("weight_hh_l0"), g4, units),
            ih.iter().zip(&hh).map(|(a, b)| a + b).collect(),
        ]
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        Box::new(LstmShape {
            dims: LstmDims {
                steps: incoming.steps,
                batch: incoming.rows,
                input: incoming.width,
                hidden: self.0.units,
            },
            kind: InputDropout::kind(self.0.dropout, input_kind(incoming.reads)),
            settings: self.0,
            d_input: incoming.floats(),
            incoming,
        })
    }
}

struct LstmShape {
    dims: LstmDims,
    kind: InputKind,
    settings: Recurrent,
    /// The gradient of its input: none when it reads the batch.
    d_input: usize,
    incoming: Incoming,
}

impl Shape for LstmShape {
    fn outgoing(&self) -> Incoming {
        outgoing(self.dims, self.settings)
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let mut ops = lstm_ops(self.dims, self.kind);
        InputDropout::ops(self.settings.dropout, self.incoming, &mut ops);
        RecurrentDropout::ops(self.settings.recurrent_dropout, self.dims, &mut ops);
        ops
    }

    fn floats(&self) -> usize {
        let rate = self.settings.recurrent_dropout;
        let recurrent = RecurrentDropout::drops(rate);
        LstmTape::floats_for(self.dims, self.kind, recurrent)
            + LstmScratch::floats_for(self.dims, self.kind)
            + self.d_input
            + InputDropout::floats_for(self.settings.dropout, self.incoming)
            + RecurrentDropout::floats_for(rate, self.dims)
    }

    fn allocate(&self) -> Box<dyn Work> {
        let rate = self.settings.recurrent_dropout;
        let recurrent = RecurrentDropout::drops(rate);
        Box::new(LstmWork {
            dims: self.dims,
            settings: self.settings,
            tape: LstmTape::new(self.dims, self.kind, recurrent),
            scratch: LstmScratch::new(self.dims, self.kind),
            d_input: vec![0.0; self.d_input],
            input_dropout: InputDropout::new(self.settings.dropout, self.incoming),
            recurrent_dropout: RecurrentDropout::new(rate, self.dims),
        })
    }
}

struct LstmWork {
    dims: LstmDims,
    settings: Recurrent,
    tape: LstmTape,
    scratch: LstmScratch,
    d_input: Vec<f32>,
    input_dropout: InputDropout,
    recurrent_dropout: RecurrentDropout,
}

fn weights(params: &[Tensor]) -> LstmWeights<'_> {
    LstmWeights {
        w_ih: &params[0].value,
        w_hh: &params[1].value,
        bias: &params[2].value,
    }
}

impl Work for LstmWork {
    fn forward(
        &mut self,
        input: Flow,
        mask: Option<&[f32]>,
        params: &[Tensor],
        noise: Option<u64>,
    ) {
        self.input_dropout.forward(input, noise);
        self.recurrent_dropout.forward(noise);
        let input = self.input_dropout.input(input);
        let (recurrent_mask, w) = (self.recurrent_dropout.mask(), weights(params));
        lstm_forward(input, mask, recurrent_mask, &w, &mut self.tape);
    }

    fn backward(
        &mut self,
        input: Flow,
        mask: Option<&[f32]>,
        d_out: &[f32],
        params: &mut [Tensor],
    ) {
        let [w_ih, w_hh, bias] = params else {
            unreachable!("an lstm has three tensors")
        };
        let w = LstmWeights {
            w_ih: &w_ih.value,
            w_hh: &w_hh.value,
            bias: &bias.value,
        };
        let grads = LstmGrads {
            w_ih: &mut w_ih.grad,
            w_hh: &mut w_hh.grad,
            bias: &mut bias.grad,
        };
        let dout = output_grad(self.dims, self.settings, d_out);
        let dx = (!self.d_input.is_empty()).then_some(&mut self.d_input[..]);
        let (tape, scratch) = (&self.tape, &mut self.scratch);
        let input = self.input_dropout.input(input);
        let recurrent_mask = self.recurrent_dropout.mask();
        lstm_backward(
            input,
            mask,
            recurrent_mask,
            &w,
            tape,
            dout,
            scratch,
            grads,
            dx,
        );
        self.input_dropout.backward(&mut self.d_input);
    }

    fn output<'a>(&'a self, _input: Flow<'a>) -> Flow<'a> {
        output_flow(
            self.settings,
            self.tape.outputs(),
            self.tape.final_state().0,
        )
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        Some(&self.d_input)
    }

    fn floats(&self) -> usize {
        self.tape.floats()
            + self.scratch.floats()
            + self.d_input.len()
            + self.input_dropout.floats()
            + self.recurrent_dropout.floats()
    }

    fn carried(&self) -> Vec<(&'static str, &[f32])> {
        let (h, c) = self.tape.initial_state();
        vec![("h", h), ("c", c)]
    }

    fn carried_mut(&mut self) -> Vec<&mut [f32]> {
        let (h, c) = self.tape.initial_state_mut();
        vec![h, c]
    }

    /// The kernel skips a step's recurrent product only when its initial state is zero, so
    /// carrying a stateless layer's state (`every`) is exact too.
    fn carry_state(&mut self, every: bool) {
        if every || self.settings.stateful {
            self.tape.carry_state();
        }
    }

    fn reset_state(&mut self) {
        let (h, c) = self.tape.initial_state_mut();
        h.fill(0.0);
        c.fill(0.0);
    }

    fn state(&self, row: usize) -> Vec<Signal> {
        let tape = &self.tape;
        let buffers = [
            ("h", tape.outputs()),
            ("c", tape.cells()),
            ("ifgo", tape.gates()),
        ];
        row_signals(self.dims, row, &buffers)
    }
}

fn lstm_ops(dims: LstmDims, kind: InputKind) -> (Vec<String>, Vec<String>) {
    let (t, b, h) = (dims.steps, dims.batch, dims.hidden);
    let g4 = 4 * h;
    let packed = if packing_pays(dims) {
        ", W_hh packed once per pass"
    } else {
        ""
    };
    let forward = vec![
        projection_op(dims, kind, g4),
        format!("per step ({t}): recurrent GEMM [{b}, {h}]·[{h}, {g4}]{packed}, then the fused cell (bias, sigmoid/tanh, c and h)"),
    ];
    let backward = vec![
        format!("backward per step: fused cell backward, GEMM [{b}, {g4}]·[{g4}, {h}] into the previous h"),
        weight_gradients_op(dims, kind),
    ];
    (forward, backward)
}
