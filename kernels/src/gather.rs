//! Row gather and its gradient, scatter-add: a one-hot input's projection `onehot·W` is the
//! row of `W` at the hot index, so it is a copy rather than a matrix multiply.

use rayon::prelude::*;

use crate::denormal::FlushDenormals;
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

/// From this many floats of table, `embed_backward` spreads the table's rows over rayon's
/// threads (encdec's one-hot `W_ih`, 60k floats, was a serial part of its two-thread step).
const PARALLEL_MIN_FLOATS: usize = 1 << 15;

/// Writes an embedding's table gradient (or a one-hot input's `W_ih`'s): zeros, then `dout[r]`
/// added to row `index[r]` in order of `r`, padded steps (`IGNORE`) skipped. Only the rows
/// read get a gradient (the sparse gradient), but the table is written whole, as every
/// backward pass writes. On several threads each takes a block of the table's rows and adds
/// the `dout` rows that land in it, still in order of `r`, so the sums keep their bits.
pub fn embed_backward(dout: &[f32], width: usize, index: &[u32], dtable: &mut [f32]) {
    assert_eq!(dout.len(), index.len() * width, "dout must be [R, width]");
    if width == 0 {
        return;
    }
    let rows = dtable.len() / width;
    let inside = |&i: &u32| i == IGNORE || (i as usize) < rows;
    assert!(index.iter().all(inside), "an index outside the table");
    let threads = rayon::current_num_threads();
    if dtable.len() < PARALLEL_MIN_FLOATS || threads == 1 {
        return scatter_into(dout, width, index, (0, dtable));
    }
    let task_rows = rows.div_ceil(threads);
    dtable
        .par_chunks_mut(task_rows * width)
        .enumerate()
        .for_each(|(task, part)| {
            let _ftz = FlushDenormals::new();
            scatter_into(dout, width, index, (task * task_rows, part))
        });
}

/// Rows `first..` of a table gradient, `part`: zeros, then each `dout[r]` whose index falls in
/// them added, in order of `r`.
fn scatter_into(dout: &[f32], width: usize, index: &[u32], (first, part): (usize, &mut [f32])) {
    part.fill(0.0);
    let rows = first..first + part.len() / width;
    for (row, &i) in dout.chunks_exact(width).zip(index) {
        let i = i as usize;
        if rows.contains(&i) {
            add_into(&mut part[(i - first) * width..][..width], row);
        }
    }
}
