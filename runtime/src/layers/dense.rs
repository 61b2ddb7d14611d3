//! The dense layer, `y = f(x·W + b)`, on the last step (`[B, K]`) or on every step
//! (`per_step`: `[T·B, K]`, Keras' `TimeDistributed(Dense)`). Its parameters are `[W, b]`;
//! `f` is its activation, whose gradient is taken from the outputs `y` it keeps anyway.

use kernels::activation::Activation;
use kernels::dense::{dense_backward, dense_forward, dense_room};
use kernels::gather::{embed_backward, gather_rows};
use kernels::recurrent::column_sums;
use rand_pcg::Pcg64Mcg;

use super::{named, transposed, Flow, Incoming, Layer, Reads, Shape, Work};
use crate::init::glorot_uniform;
use crate::model::{NamedTensor, Tensor};
use crate::plan::Dense;

impl Layer for Dense {
    fn width(&self, _input: usize) -> usize {
        self.units
    }

    fn parameter_floats(&self, input: usize) -> usize {
        (input + 1) * self.units
    }

    fn init(&self, input: usize, rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        vec![
            glorot_uniform(input, self.units, rng),
            vec![0.0; self.units],
        ]
    }

    /// `torch.nn.Linear`'s `weight [O, K]` and `bias [O]`.
    fn export(&self, input: usize, params: &[Tensor]) -> Vec<NamedTensor> {
        let units = self.units;
        vec![
            named(
                "weight",
                vec![units, input],
                transposed(&params[0].value, input, units),
            ),
            named("bias", vec![units], params[1].value.clone()),
        ]
    }

    fn import(&self, input: usize, named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        vec![
            transposed(&named("weight"), self.units, input),
            named("bias"),
        ]
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        let n = if self.per_step {
            incoming.steps * incoming.rows
        } else {
            incoming.rows
        };
        let (k, o) = (incoming.width, self.units);
        Box::new(DenseShape {
            incoming,
            n,
            k,
            o,
            per_step: self.per_step,
            activation: self.activation,
            d_input: if incoming.is_batch() { 0 } else { n * k },
        })
    }
}

/// `[N, K]·[K, O]`: N is B, or T·B per step.
struct DenseShape {
    incoming: Incoming,
    n: usize,
    k: usize,
    o: usize,
    per_step: bool,
    activation: Activation,
    d_input: usize,
}

impl DenseShape {
    /// `y [N, O]`, `Wᵀ [O, K]` for the input gradient, the products' packing room, and the
    /// gradient before the activation `[N, O]` (none when linear).
    fn lens(&self) -> [usize; 4] {
        let (n, k, o) = (self.n, self.k, self.o);
        let dz = match self.activation {
            Activation::Linear => 0,
            _ => n * o,
        };
        [n * o, k * o, dense_room(n, k, o), dz]
    }
}

impl Shape for DenseShape {
    fn outgoing(&self) -> Incoming {
        Incoming {
            width: self.o,
            reads: if self.per_step {
                Reads::Sequence
            } else {
                Reads::Vector
            },
            ..self.incoming
        }
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let (n, k, o) = (self.n, self.k, self.o);
        let dx = if self.d_input == 0 {
            ""
        } else {
            ", dx against Wᵀ"
        };
        let (activation, gradient) = match self.activation {
            Activation::Linear => (String::new(), String::new()),
            f => (
                format!(", {f:?} in place").to_lowercase(),
                format!("{f:?} gradient from the outputs, then ").to_lowercase(),
            ),
        };
        if self.incoming.reads == Reads::Hot {
            return (
                vec![format!("forward: row gather from W [{k}, {o}] for {n} one-hot indices + bias{activation}")],
                vec![format!("backward: {gradient}dW by scatter-add of {n} rows, db column sums")],
            );
        }
        (
            vec![format!(
                "forward: GEMM [{n}, {k}]·[{k}, {o}] + bias{activation}"
            )],
            vec![format!(
                "backward: {gradient}dW [{k}, {n}]·[{n}, {o}], db column sums{dx}"
            )],
        )
    }

    fn floats(&self) -> usize {
        self.lens().iter().sum::<usize>() + self.d_input
    }

    fn allocate(&self) -> Box<dyn Work> {
        let [y, w_t, room, dz] = self.lens();
        Box::new(DenseWork {
            k: self.k,
            o: self.o,
            per_step: self.per_step,
            activation: self.activation,
            y: vec![0.0; y],
            w_t: vec![0.0; w_t],
            d_input: vec![0.0; self.d_input],
            room: vec![0.0; room],
            dz: vec![0.0; dz],
        })
    }
}

struct DenseWork {
    k: usize,
    o: usize,
    per_step: bool,
    activation: Activation,
    y: Vec<f32>,
    w_t: Vec<f32>,
    d_input: Vec<f32>,
    /// Room for packing in its products (`dense_room`).
    room: Vec<f32>,
    /// The gradient before the activation.
    dz: Vec<f32>,
}

impl Work for DenseWork {
    fn forward(
        &mut self,
        input: Flow,
        _mask: Option<&[f32]>,
        params: &[Tensor],
        _noise: Option<u64>,
    ) {
        let (w, b) = (&params[0].value, &params[1].value);
        match input {
            // A one-hot row times W is W's row at the hot index.
            Flow::Hot(hot) => {
                gather_rows(w, self.o, hot, &mut self.y);
                for row in self.y.chunks_exact_mut(self.o) {
                    row.iter_mut().zip(b).for_each(|(y, b)| *y += b);
                }
            }
            _ => {
                let dims = (self.k, self.o);
                dense_forward(input.features(), w, b, dims, &mut self.y, &mut self.room);
            }
        }
        self.activation.forward(&mut self.y);
    }

    fn backward(
        &mut self,
        input: Flow,
        _mask: Option<&[f32]>,
        d_out: &[f32],
        params: &mut [Tensor],
    ) {
        let [w, b] = params else {
            unreachable!("a dense layer has two tensors")
        };
        let d_out = match self.activation {
            Activation::Linear => d_out,
            f => {
                self.dz.copy_from_slice(d_out);
                f.backward(&self.y, &mut self.dz);
                &self.dz
            }
        };
        if let Flow::Hot(hot) = input {
            embed_backward(d_out, self.o, hot, &mut w.grad);
            column_sums(d_out, self.o, &mut b.grad);
            return;
        }
        let dx = (!self.d_input.is_empty()).then_some((&mut self.d_input[..], &mut self.w_t[..]));
        dense_backward(
            input.features(),
            &w.value,
            d_out,
            (self.k, self.o),
            &mut w.grad,
            &mut b.grad,
            dx,
            &mut self.room,
        );
    }

    fn output<'a>(&'a self, _input: Flow<'a>) -> Flow<'a> {
        if self.per_step {
            Flow::Sequence(&self.y)
        } else {
            Flow::Vector(&self.y)
        }
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        Some(&self.d_input)
    }

    fn floats(&self) -> usize {
        self.y.len() + self.w_t.len() + self.d_input.len() + self.room.len() + self.dz.len()
    }
}
