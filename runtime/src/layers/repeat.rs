//! `repeat N` (Keras' `RepeatVector`): no kernel and no buffer. The next layer reads the
//! vector as `Flow::Repeated`, so an LSTM projects it once rather than once per step, and the
//! gradient passes through to the layer before.

use super::{Flow, Incoming, Layer, Reads, Shape, Work};
use crate::model::Tensor;
use crate::plan::Repeat;

impl Layer for Repeat {
    fn width(&self, input: usize) -> usize {
        input
    }

    fn shape(&self, incoming: Incoming) -> Box<dyn Shape> {
        Box::new(RepeatShape(Incoming {
            steps: self.times,
            reads: Reads::Repeated,
            ..incoming
        }))
    }
}

struct RepeatShape(Incoming);

impl Shape for RepeatShape {
    fn outgoing(&self) -> Incoming {
        self.0
    }

    fn ops(&self) -> (Vec<String>, Vec<String>) {
        let note = "no kernel: the next lstm projects the vector once and reads it at every step";
        (vec![note.into()], Vec::new())
    }

    fn floats(&self) -> usize {
        0
    }

    fn allocate(&self) -> Box<dyn Work> {
        Box::new(RepeatWork)
    }
}

struct RepeatWork;

impl Work for RepeatWork {
    fn forward(
        &mut self,
        _input: Flow,
        _mask: Option<&[f32]>,
        _params: &[Tensor],
        _noise: Option<u64>,
    ) {
    }

    fn backward(
        &mut self,
        _input: Flow,
        _mask: Option<&[f32]>,
        _d_out: &[f32],
        _params: &mut [Tensor],
    ) {
    }

    fn output<'a>(&'a self, input: Flow<'a>) -> Flow<'a> {
        match input {
            Flow::Vector(vector) => Flow::Repeated(vector),
            _ => unreachable!("the compiler puts repeat after a layer returning one vector"),
        }
    }

    fn input_gradient(&self) -> Option<&[f32]> {
        None
    }

    fn floats(&self) -> usize {
        0
    }
}
