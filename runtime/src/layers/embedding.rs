//! `embedding N` (Keras' `Embedding`): a table `[V, N]` whose row `s` stands for symbol `s`.
//! It reads the batch's ids, so its forward pass is a row gather and its gradient a
//! scatter-add into the rows read; a padded step (`PAD`) reads zeros.

use kernels::gather::{embed_backward, embed_rows};
use rand_pcg::Pcg64Mcg;

use super::{named, Flow, Incoming, Layer, Reads, Shape, Work};
use crate::init::small_uniform;
use crate::model::{NamedTensor, Tensor};
use crate::plan::Embedding;

impl Layer for Embedding {
    fn width(&self, _input: usize) -> usize {
        self.units
    }

    fn parameter_floats(&self, input: usize) -> usize {
        input * self.units
    }

    fn init(&self, input: usize, rng: &mut Pcg64Mcg) -> Vec<Vec<f32>> {
        vec![small_uniform(input * self.units, rng)]
    }

    /// `torch.nn.Embedding`'s `weight [V, N]`, our own layout.
    fn export(&self, input: usize, params: &[Tensor]) -> Vec<NamedTensor> {
        vec![named(
            "weight",
            vec![input, self.units],
            params[0].value.clone(),
        )]
    }

    fn import(&self, _input: usize, named: &dyn Fn(&str) -> Vec<f32>) -> Vec<Vec<f32>> {
        vec![named("weight")]
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        assert_eq!(
            incoming.reads,
            Reads::Hot,
            "the compiler puts an embedding first, reading ids"
        );
        Box::new(EmbeddingShape {
            incoming,
            units: self.units,
        })
    }
}

struct EmbeddingShape {
    incoming: Incoming,
    units: usize,
}

impl EmbeddingShape {
    fn rows(&self) -> usize {
        self.incoming.steps * self.incoming.rows
    }
}

impl Shape for EmbeddingShape {
    fn outgoing(&self) -> Incoming {
        Incoming {
            width: self.units,
            reads: Reads::Sequence,
            ..self.incoming
        }
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let (v, n, rows) = (self.incoming.width, self.units, self.rows());
        (
            vec![format!(
                "forward: row gather from the table [{v}, {n}] for {rows} ids"
            )],
            vec![format!(
                "backward: scatter-add of {rows} rows into the table's gradient"
            )],
        )
    }

    fn floats(&self) -> usize {
        self.rows() * self.units
    }

    fn allocate(&self) -> Box<dyn Work> {
        Box::new(EmbeddingWork {
            units: self.units,
            out: vec![0.0; self.floats()],
        })
    }
}

struct EmbeddingWork {
    units: usize,
    /// `[T, B, N]`.
    out: Vec<f32>,
}

fn ids<'a>(input: Flow<'a>) -> &'a [u32] {
    match input {
        Flow::Hot(ids) => ids,
        _ => unreachable!("an embedding reads ids"),
    }
}

impl Work for EmbeddingWork {
    fn forward(
        &mut self,
        input: Flow,
        _mask: Option<&[f32]>,
        params: &[Tensor],
        _noise: Option<u64>,
    ) {
        embed_rows(&params[0].value, self.units, ids(input), &mut self.out);
    }

    fn backward(
        &mut self,
        input: Flow,
        _mask: Option<&[f32]>,
        d_out: &[f32],
        params: &mut [Tensor],
    ) {
        embed_backward(d_out, self.units, ids(input), &mut params[0].grad);
    }

    fn output<'a>(&'a self, _input: Flow<'a>) -> Flow<'a> {
        Flow::Sequence(&self.out)
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        Some(&[])
    }

    fn floats(&self) -> usize {
        self.out.len()
    }
}
