//! Read-only ndarray views of the first rows of a flat, row-major buffer (solutions store their
//! trajectories for the longest horizon and show the current one).

use ndarray::{ArrayView2, ArrayView3};

/// The first `rows` rows of `cols` values each, rows x cols.
pub(crate) fn matrix(data: &[f64], rows: usize, cols: usize) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape((rows, cols), &data[..rows * cols]).expect("buffer holds rows x cols")
}

/// The first `count` blocks of rows x cols, count x rows x cols.
pub(crate) fn matrices(
    data: &[f64],
    count: usize,
    rows: usize,
    cols: usize,
) -> ArrayView3<'_, f64> {
    ArrayView3::from_shape((count, rows, cols), &data[..count * rows * cols])
        .expect("buffer holds count x rows x cols")
}
