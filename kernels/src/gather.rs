//! Row gather and its gradient, scatter-add: a one-hot input's projection `onehot·W` is the
//! row of `W` at the hot index, so it is a copy rather than a matrix multiply.

use crate::lanes::add_into;
use crate::softmax::IGNORE;

/// `out[r] = table[index[r]]` for rows of `width`. Panics on an index outside the table.
pub fn gather_rows(table: &[f32], width: usize, index: &[u32], out: &mut [f32]) {
    assert_eq!(out.len(), index.len() * width, "out must be [R, width]");
    for (row, &i) in out.chunks_exact_mut(width).zip(index) {
        let start = i as usize * width;
        row.copy_from_slice(&table[start..start + width]);
    }
}

/// `dtable[index[r]] += dout[r]` for rows of `width`, in order of `r` (so repeated indices
/// sum in a fixed order).
pub fn scatter_add_rows(dout: &[f32], width: usize, index: &[u32], dtable: &mut [f32]) {
    assert_eq!(dout.len(), index.len() * width, "dout must be [R, width]");
    for (row, &i) in dout.chunks_exact(width).zip(index) {
        let start = i as usize * width;
        add_into(&mut dtable[start..start + width], row);
    }
}

/// An embedding's lookup: `out[r] = table[index[r]]`, or zeros where `index[r]` is `IGNORE`
/// (a padded step, which reads nothing).
pub fn embed_rows(table: &[f32], width: usize, index: &[u32], out: &mut [f32]) {
    assert_eq!(out.len(), index.len() * width, "out must be [R, width]");
    for (row, &i) in out.chunks_exact_mut(width).zip(index) {
        if i == IGNORE {
            row.fill(0.0);
        } else {
            let start = i as usize * width;
            row.copy_from_slice(&table[start..start + width]);
        }
    }
}

/// Writes an embedding's table gradient: zeros, then `dout[r]` added to row `index[r]` in
/// order of `r`, padded steps (`IGNORE`) skipped. Only the rows read get a gradient (the
/// sparse gradient), but the table is written whole, as every backward pass writes.
pub fn embed_backward(dout: &[f32], width: usize, index: &[u32], dtable: &mut [f32]) {
    assert_eq!(dout.len(), index.len() * width, "dout must be [R, width]");
    dtable.fill(0.0);
    for (row, &i) in dout.chunks_exact(width).zip(index) {
        if i != IGNORE {
            let start = i as usize * width;
            add_into(&mut dtable[start..start + width], row);
        }
    }
}
