//! One whole training step composed from the kernels, at the shapes the benchmarks measure:
//! LSTM forward (an encoder, and for encdec a repeated decoder), dense and softmax
//! cross-entropy on the last step or on every step, backward through all of it, and Adam.
//! It is the same work as PyTorch's training step in `../shared/ANCHORS.md`.

use kernels::adam::{adam_update, AdamConfig, AdamStep};
use kernels::dense::{dense_backward, dense_forward, dense_room};
use kernels::lstm::{
    lstm_backward, lstm_forward, InputKind, LstmDims, LstmGrads, LstmInput, LstmScratch, LstmTape,
    LstmWeights, OutputGrad,
};
use kernels::softmax::softmax_xent;

/// A benchmark shape: the table, named after the workload it stands for.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub batch: usize,
    pub steps: usize,
    pub input: usize,
    pub hidden: usize,
    pub out: usize,
    /// The input is one-hot, so its projection is a row gather.
    pub one_hot: bool,
    /// The dense layer runs on every step rather than the last.
    pub per_step: bool,
    /// `(repeat, hidden)` of a decoder fed the encoder's last state.
    pub decoder: Option<(usize, usize)>,
}

pub const SHAPES: [Shape; 7] = [
    Shape {
        name: "alphabet",
        batch: 1,
        steps: 1,
        input: 1,
        hidden: 32,
        out: 26,
        one_hot: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "stateful",
        batch: 1,
        steps: 1,
        input: 1,
        hidden: 50,
        out: 26,
        one_hot: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "index",
        batch: 1,
        steps: 5,
        input: 10,
        hidden: 25,
        out: 10,
        one_hot: true,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "echo",
        batch: 7,
        steps: 5,
        input: 100,
        hidden: 20,
        out: 100,
        one_hot: true,
        per_step: true,
        decoder: None,
    },
    Shape {
        name: "encdec",
        batch: 21,
        steps: 5,
        input: 100,
        hidden: 150,
        out: 100,
        one_hot: true,
        per_step: true,
        decoder: Some((2, 150)),
    },
    Shape {
        name: "mid",
        batch: 32,
        steps: 50,
        input: 64,
        hidden: 128,
        out: 64,
        one_hot: false,
        per_step: false,
        decoder: None,
    },
    Shape {
        name: "large",
        batch: 64,
        steps: 100,
        input: 256,
        hidden: 512,
        out: 256,
        one_hot: false,
        per_step: false,
        decoder: None,
    },
];

impl Shape {
    /// FLOPs of one forward pass as ANCHORS.md counts them: `2·B·T·4H·(I+H)` per LSTM layer
    /// plus `2·N·H·O` for the dense layer.
    pub fn forward_flops(&self) -> u64 {
        let lstm = |t: usize, i: usize, h: usize| 2 * self.batch * t * 4 * h * (i + h);
        let mut flops = lstm(self.steps, self.input, self.hidden);
        let (dense_steps, dense_in) = match self.decoder {
            Some((repeat, hidden)) => {
                flops += lstm(repeat, self.hidden, hidden);
                (repeat, hidden)
            }
            None if self.per_step => (self.steps, self.hidden),
            None => (1, self.hidden),
        };
        flops += 2 * self.batch * dense_steps * dense_in * self.out;
        flops as u64
    }

    /// Forward, backward and update: three times the forward FLOPs, as ANCHORS.md counts.
    pub fn train_flops(&self) -> u64 {
        3 * self.forward_flops()
    }
}

/// A tensor with its gradient and Adam moments.
struct Param {
    value: Vec<f32>,
    grad: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Param {
    fn new(len: usize, scale: f32, rng: &mut Rng) -> Param {
        Param {
            value: (0..len).map(|_| rng.uniform(scale)).collect(),
            grad: vec![0.0; len],
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }
}

struct Lstm {
    w_ih: Param,
    w_hh: Param,
    bias: Param,
    tape: LstmTape,
    scratch: LstmScratch,
}

impl Lstm {
    fn new(dims: LstmDims, input: InputKind, rng: &mut Rng) -> Lstm {
        let scale = (6.0 / (dims.input + 4 * dims.hidden) as f32).sqrt();
        Lstm {
            w_ih: Param::new(dims.input * 4 * dims.hidden, scale, rng),
            w_hh: Param::new(dims.hidden * 4 * dims.hidden, scale, rng),
            bias: Param::new(4 * dims.hidden, 0.0, rng),
            tape: LstmTape::new(dims, input),
            scratch: LstmScratch::new(dims, input),
        }
    }

    fn forward(&mut self, input: LstmInput) {
        let w = LstmWeights {
            w_ih: &self.w_ih.value,
            w_hh: &self.w_hh.value,
            bias: &self.bias.value,
        };
        lstm_forward(input, &w, &mut self.tape);
    }

    fn backward(&mut self, input: LstmInput, dout: OutputGrad, dx: Option<&mut [f32]>) {
        let w = LstmWeights {
            w_ih: &self.w_ih.value,
            w_hh: &self.w_hh.value,
            bias: &self.bias.value,
        };
        let grads = LstmGrads {
            w_ih: &mut self.w_ih.grad,
            w_hh: &mut self.w_hh.grad,
            bias: &mut self.bias.grad,
        };
        lstm_backward(input, &w, &self.tape, dout, &mut self.scratch, grads, dx);
    }

    fn params(&mut self) -> [&mut Param; 3] {
        [&mut self.w_ih, &mut self.w_hh, &mut self.bias]
    }
}

/// Every buffer of one training step, made once; `run` allocates nothing.
pub struct TrainStep {
    shape: Shape,
    x: Vec<f32>,
    index: Vec<u32>,
    targets: Vec<u32>,
    encoder: Lstm,
    decoder: Option<Lstm>,
    dense_w: Param,
    dense_b: Param,
    logits: Vec<f32>,
    probs: Vec<f32>,
    dlogits: Vec<f32>,
    /// The gradient reaching the dense layer's input.
    d_features: Vec<f32>,
    w_t: Vec<f32>,
    /// Room for packing in the dense layer's products.
    dense_room: Vec<f32>,
    /// The gradient reaching the encoder's last state from the decoder.
    d_encoded: Vec<f32>,
    step: u64,
}

impl TrainStep {
    pub fn new(shape: Shape, seed: u64) -> TrainStep {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let (b, t) = (shape.batch, shape.steps);
        let encoder = Lstm::new(
            LstmDims {
                steps: t,
                batch: b,
                input: shape.input,
                hidden: shape.hidden,
            },
            if shape.one_hot {
                InputKind::OneHot
            } else {
                InputKind::Dense
            },
            &mut rng,
        );
        let decoder = shape.decoder.map(|(repeat, hidden)| {
            Lstm::new(
                LstmDims {
                    steps: repeat,
                    batch: b,
                    input: shape.hidden,
                    hidden,
                },
                InputKind::Repeated,
                &mut rng,
            )
        });
        let (rows, features) = match shape.decoder {
            Some((repeat, hidden)) => (repeat * b, hidden),
            None if shape.per_step => (t * b, shape.hidden),
            None => (b, shape.hidden),
        };
        let dense_scale = (6.0 / (features + shape.out) as f32).sqrt();
        TrainStep {
            shape,
            x: (0..t * b * shape.input).map(|_| rng.uniform(1.0)).collect(),
            index: (0..t * b).map(|_| rng.below(shape.input)).collect(),
            targets: (0..rows).map(|_| rng.below(shape.out)).collect(),
            encoder,
            decoder,
            dense_w: Param::new(features * shape.out, dense_scale, &mut rng),
            dense_b: Param::new(shape.out, 0.0, &mut rng),
            logits: vec![0.0; rows * shape.out],
            probs: vec![0.0; rows * shape.out],
            dlogits: vec![0.0; rows * shape.out],
            d_features: vec![0.0; rows * features],
            w_t: vec![0.0; features * shape.out],
            dense_room: vec![0.0; dense_room(rows, features, shape.out)],
            d_encoded: vec![0.0; b * shape.hidden],
            step: 0,
        }
    }

    /// One training step; returns the mean loss.
    pub fn run(&mut self) -> f64 {
        self.step += 1;
        let input = lstm_input(&self.shape, &self.x, &self.index);
        self.encoder.forward(input);
        if let Some(decoder) = &mut self.decoder {
            decoder.forward(LstmInput::Repeated(self.encoder.tape.final_state().0));
        }
        let loss = self.dense_and_loss();
        self.backward();
        self.update();
        loss
    }

    fn dense_and_loss(&mut self) -> f64 {
        let x = features(&self.encoder, self.decoder.as_ref(), self.shape.per_step);
        let rows = self.targets.len();
        let (k, out) = (x.len() / rows, self.shape.out);
        dense_forward(
            x,
            &self.dense_w.value,
            &self.dense_b.value,
            (k, out),
            &mut self.logits,
            &mut self.dense_room,
        );
        let loss = softmax_xent(
            &self.logits,
            out,
            &self.targets,
            1.0 / rows as f32,
            &mut self.probs,
            &mut self.dlogits,
        );
        loss / rows as f64
    }

    fn backward(&mut self) {
        let x = features(&self.encoder, self.decoder.as_ref(), self.shape.per_step);
        let (k, out) = (x.len() / self.targets.len(), self.shape.out);
        let dx = Some((&mut self.d_features[..], &mut self.w_t[..]));
        dense_backward(
            x,
            &self.dense_w.value,
            &self.dlogits,
            (k, out),
            &mut self.dense_w.grad,
            &mut self.dense_b.grad,
            dx,
            &mut self.dense_room,
        );
        let input = lstm_input(&self.shape, &self.x, &self.index);
        match &mut self.decoder {
            Some(decoder) => {
                let encoded = LstmInput::Repeated(self.encoder.tape.final_state().0);
                decoder.backward(
                    encoded,
                    OutputGrad::Sequence(&self.d_features),
                    Some(&mut self.d_encoded),
                );
                self.encoder
                    .backward(input, OutputGrad::Last(&self.d_encoded), None);
            }
            None if self.shape.per_step => {
                self.encoder
                    .backward(input, OutputGrad::Sequence(&self.d_features), None)
            }
            None => self
                .encoder
                .backward(input, OutputGrad::Last(&self.d_features), None),
        }
    }

    fn update(&mut self) {
        let config = AdamConfig {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        };
        let step = AdamStep::new(config, self.step);
        self.for_each_param(|p| adam_update(&mut p.value, &p.grad, &mut p.m, &mut p.v, step));
    }

    fn for_each_param(&mut self, mut f: impl FnMut(&mut Param)) {
        self.encoder.params().into_iter().for_each(&mut f);
        if let Some(decoder) = &mut self.decoder {
            decoder.params().into_iter().for_each(&mut f);
        }
        f(&mut self.dense_w);
        f(&mut self.dense_b);
    }
}

fn lstm_input<'a>(shape: &Shape, x: &'a [f32], index: &'a [u32]) -> LstmInput<'a> {
    if shape.one_hot {
        LstmInput::OneHot(index)
    } else {
        LstmInput::Dense(x)
    }
}

/// The dense layer's input: the decoder's outputs, every encoder output, or its last.
fn features<'a>(encoder: &'a Lstm, decoder: Option<&'a Lstm>, per_step: bool) -> &'a [f32] {
    match (decoder, per_step) {
        (Some(decoder), _) => decoder.tape.outputs(),
        (None, true) => encoder.tape.outputs(),
        (None, false) => encoder.tape.final_state().0,
    }
}

/// xorshift64: benchmark data needs to be arbitrary, not good.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn uniform(&mut self, scale: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    }

    fn below(&mut self, n: usize) -> u32 {
        (self.next() % n as u64) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The composed step really trains: on fixed data, the loss falls.
    #[test]
    fn loss_falls_at_the_small_shapes() {
        for shape in &SHAPES[..5] {
            let mut step = TrainStep::new(*shape, 1);
            let first = step.run();
            let last = (0..200).map(|_| step.run()).last().unwrap();
            assert!(last < 0.8 * first, "{}: loss {first} -> {last}", shape.name);
        }
    }
}
