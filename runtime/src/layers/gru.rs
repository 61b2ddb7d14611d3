//! The GRU layer (Keras' `GRU(reset_after=True)`, PyTorch's `nn.GRU`): parameters
//! `[W_ih, W_hh, bias_ih, bias_hh]`, gates r, z, n; the kernels' fused forward and backward,
//! and the state `h` it carries when stateful.

use kernels::gru::{
    gru_backward, gru_forward, packing_pays, GruGrads, GruScratch, GruTape, GruWeights,
};
use kernels::recurrent::{InputKind, RecurrentDims};
use rand_pcg::Pcg64Mcg;

use super::recurrent::{
    input_kind, outgoing, output_flow, output_grad, projection_op, row_signals,
    weight_gradients_op, InputDropout, RecurrentDropout,
};
use super::{named, transposed, Flow, Incoming, Layer, Shape, Work};
use crate::init::{glorot_uniform, orthogonal};
use crate::model::{NamedTensor, Tensor};
use crate::plan::Recurrent;
use crate::trace::Signal;

/// The GRU kind of recurrent layer.
pub(crate) struct Gru(pub Recurrent);

impl Layer for Gru {
    fn width(&self, _input: usize) -> usize {
        self.0.units
    }

    fn parameter_floats(&self, input: usize) -> usize {
        (input + self.0.units + 2) * 3 * self.0.units
    }

    /// Keras' GRU: glorot uniform kernel, orthogonal recurrent kernel, zero biases.
    fn init(&self, input: usize, rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        let units = self.0.units;
        vec![
            glorot_uniform(input, 3 * units, rng),
            orthogonal(units, 3 * units, rng),
            vec![0.0; 3 * units],
            vec![0.0; 3 * units],
        ]
    }

    /// `torch.nn.GRU`'s `weight_ih_l0 [3H, I]`, `weight_hh_l0 [3H, H]`, `bias_ih_l0 [3H]`
    /// and `bias_hh_l0 [3H]`, gates r, z, n.
    fn export(&self, input: usize, params: &[Tensor]) -> Vec<NamedTensor> {
        let (units, g3) = (self.0.units, 3 * self.0.units);
        vec![
            named(
                "weight_ih_l0",
                vec![g3, input],
                transposed(&params[0].value, input, g3),
            ),
            named(
                "weight_hh_l0",
                vec![g3, units],
                transposed(&params[1].value, units, g3),
            ),
            named("bias_ih_l0", vec![g3], params[2].value.clone()),
            named("bias_hh_l0", vec![g3], params[3].value.clone()),
        ]
    }

    fn import(&self, input: usize, named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        let (units, g3) = (self.0.units, 3 * self.0.units);
        vec![
            transposed(&named("weight_ih_l0"), g3, input),
            transposed(&named("weight_hh_l0"), g3, units),
            named("bias_ih_l0"),
            named("bias_hh_l0"),
        ]
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        Box::new(GruShape {
            dims: RecurrentDims {
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

struct GruShape {
    dims: RecurrentDims,
    kind: InputKind,
    settings: Recurrent,
    /// The gradient of its input: none when it reads the batch.
    d_input: usize,
    incoming: Incoming,
}

impl Shape for GruShape {
    fn outgoing(&self) -> Incoming {
        outgoing(self.dims, self.settings)
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let RecurrentDims {
            steps: t,
            batch: b,
            hidden: h,
            ..
        } = self.dims;
        let g3 = 3 * h;
        let packed = if packing_pays(self.dims) {
            ", W_hh packed once per pass"
        } else {
            ""
        };
        let forward = vec![
            projection_op(self.dims, self.kind, g3),
            format!("per step ({t}): recurrent GEMM [{b}, {h}]·[{h}, {g3}]{packed}, then the fused cell (biases, sigmoid/tanh, r·(h W_hn + b_hn), h)"),
        ];
        let backward = vec![
            format!("backward per step: fused cell backward, GEMM [{b}, {g3}]·[{g3}, {h}] into the previous h"),
            weight_gradients_op(self.dims, self.kind),
        ];
        let mut ops = (forward, backward);
        InputDropout::ops(self.settings.dropout, self.incoming, &mut ops);
        RecurrentDropout::ops(self.settings.recurrent_dropout, self.dims, &mut ops);
        ops
    }

    fn floats(&self) -> usize {
        let rate = self.settings.recurrent_dropout;
        let recurrent = RecurrentDropout::drops(rate);
        GruTape::floats_for(self.dims, self.kind, recurrent)
            + GruScratch::floats_for(self.dims, self.kind, recurrent)
            + self.d_input
            + InputDropout::floats_for(self.settings.dropout, self.incoming)
            + RecurrentDropout::floats_for(rate, self.dims)
    }

    fn allocate(&self) -> Box<dyn Work> {
        let rate = self.settings.recurrent_dropout;
        let recurrent = RecurrentDropout::drops(rate);
        Box::new(GruWork {
            dims: self.dims,
            settings: self.settings,
            tape: GruTape::new(self.dims, self.kind, recurrent),
            scratch: GruScratch::new(self.dims, self.kind, recurrent),
            d_input: vec![0.0; self.d_input],
            input_dropout: InputDropout::new(self.settings.dropout, self.incoming),
            recurrent_dropout: RecurrentDropout::new(rate, self.dims),
        })
    }
}

struct GruWork {
    dims: RecurrentDims,
    settings: Recurrent,
    tape: GruTape,
    scratch: GruScratch,
    d_input: Vec<f32>,
    input_dropout: InputDropout,
    recurrent_dropout: RecurrentDropout,
}

fn weights(params: &[Tensor]) -> GruWeights<'_> {
    GruWeights {
        w_ih: &params[0].value,
        w_hh: &params[1].value,
        bias_ih: &params[2].value,
        bias_hh: &params[3].value,
    }
}

impl Work for GruWork {
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
        gru_forward(input, mask, recurrent_mask, &w, &mut self.tape);
    }

    fn backward(
        &mut self,
        input: Flow,
        mask: Option<&[f32]>,
        d_out: &[f32],
        params: &mut [Tensor],
    ) {
        let [w_ih, w_hh, bias_ih, bias_hh] = params else {
            unreachable!("a gru has four tensors")
        };
        let w = GruWeights {
            w_ih: &w_ih.value,
            w_hh: &w_hh.value,
            bias_ih: &bias_ih.value,
            bias_hh: &bias_hh.value,
        };
        let grads = GruGrads {
            w_ih: &mut w_ih.grad,
            w_hh: &mut w_hh.grad,
            bias_ih: &mut bias_ih.grad,
            bias_hh: &mut bias_hh.grad,
        };
        let dout = output_grad(self.dims, self.settings, d_out);
        let dx = (!self.d_input.is_empty()).then_some(&mut self.d_input[..]);
        let (tape, scratch) = (&self.tape, &mut self.scratch);
        let input = self.input_dropout.input(input);
        let recurrent_mask = self.recurrent_dropout.mask();
        gru_backward(
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
        output_flow(self.settings, self.tape.outputs(), self.tape.final_state())
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
        vec![("h", self.tape.initial_state())]
    }

    fn carried_mut(&mut self) -> Vec<&mut [f32]> {
        vec![self.tape.initial_state_mut()]
    }

    fn carry_state(&mut self, every: bool) {
        if every || self.settings.stateful {
            self.tape.carry_state();
        }
    }

    fn reset_state(&mut self) {
        self.tape.initial_state_mut().fill(0.0);
    }

    fn state(&self, row: usize) -> Vec<Signal> {
        let buffers = [("h", self.tape.outputs()), ("rzn", self.tape.gates())];
        row_signals(self.dims, row, &buffers)
    }
}
