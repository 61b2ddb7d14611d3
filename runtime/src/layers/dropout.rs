//! `dropout RATE` (Keras' `Dropout`): while training, each value it reads is kept with
//! probability `1 - rate` and scaled by `1 / (1 - rate)` (inverted dropout, so evaluation
//! passes the values through unscaled); the gradient flows through the same mask. The mask is
//! drawn from the step's noise seed, so a run and its resumed checkpoint draw the same masks.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::{Flow, Incoming, Layer, Reads, Shape, Work};
use crate::model::Tensor;
use crate::plan::Dropout;

impl Layer for Dropout {
    fn width(&self, input: usize) -> usize {
        input
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        assert!(
            !incoming.is_batch() && incoming.reads != Reads::Repeated,
            "the compiler puts dropout between layers"
        );
        Box::new(DropoutShape {
            incoming,
            rate: self.rate,
        })
    }
}

struct DropoutShape {
    incoming: Incoming,
    rate: f64,
}

impl Shape for DropoutShape {
    fn outgoing(&self) -> Incoming {
        self.incoming
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let (values, rate) = (self.incoming.floats(), self.rate);
        (
            vec![format!("forward (training): {values} values times a mask keeping each with probability 1 - {rate}, scaled by 1/(1 - {rate})")],
            vec!["backward: the gradient times the same mask".to_string()],
        )
    }

    /// The output, its input's gradient and the mask, each as long as what it reads.
    fn floats(&self) -> usize {
        3 * self.incoming.floats()
    }

    fn allocate(&self) -> Box<dyn Work> {
        let len = self.incoming.floats();
        Box::new(DropoutWork {
            rate: self.rate,
            vector: self.incoming.reads == Reads::Vector,
            out: vec![0.0; len],
            d_input: vec![0.0; len],
            mask: vec![0.0; len],
        })
    }
}

struct DropoutWork {
    rate: f64,
    /// Whether it reads (and returns) one vector a sample rather than a sequence.
    vector: bool,
    out: Vec<f32>,
    d_input: Vec<f32>,
    /// Each value's factor in the last training pass: 0 or `1 / (1 - rate)`.
    mask: Vec<f32>,
}

impl Work for DropoutWork {
    fn forward(
        &mut self,
        input: Flow,
        _mask: Option<&[f32]>,
        _params: &[Tensor],
        noise: Option<u64>,
    ) {
        let x = input.features();
        match noise {
            Some(seed) => {
                let mut rng = Pcg64Mcg::seed_from_u64(seed);
                let keep = 1.0 - self.rate;
                let scale = (1.0 / keep) as f32;
                for factor in &mut self.mask {
                    *factor = if rng.random_bool(keep) { scale } else { 0.0 };
                }
            }
            None => self.mask.fill(1.0),
        }
        for ((out, &x), &factor) in self.out.iter_mut().zip(x).zip(&self.mask) {
            *out = x * factor;
        }
    }

    fn backward(
        &mut self,
        _input: Flow,
        _mask: Option<&[f32]>,
        d_out: &[f32],
        _params: &mut [Tensor],
    ) {
        for ((dx, &dy), &factor) in self.d_input.iter_mut().zip(d_out).zip(&self.mask) {
            *dx = dy * factor;
        }
    }

    fn output<'a>(&'a self, _input: Flow<'a>) -> Flow<'a> {
        match self.vector {
            true => Flow::Vector(&self.out),
            false => Flow::Sequence(&self.out),
        }
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        Some(&self.d_input)
    }

    fn floats(&self) -> usize {
        self.out.len() + self.d_input.len() + self.mask.len()
    }
}
