//! Products of the Riccati pass's medium sizes (every dimension up to [`MEDIUM_MAX`]):
//! C <- beta C + alpha op(A) B in register tiles, without packing.
//!
//! A tile of MR x NR elements of C is accumulated in `[[f64; NR]; MR]`, which the compiler keeps
//! in vector registers: per step k of the inner product it loads NR contiguous elements of row k
//! of B and broadcasts the MR elements of column k of op(A). At these sizes the operands sit in
//! L1 or L2, so reading B and A in place costs less than packing them. Columns left over after
//! the NR-wide panels go through narrower tiles (8, 4, 1); rows left over through 1-row tiles.
//!
//! Every element of C is the same chain c_ij = fma(a_ik, b_kj, ...) over k = 0..q, whatever the
//! tile shape, so the AVX-512F, AVX2 + FMA and NEON instantiations give bit-identical results;
//! the portable one multiplies and adds separately (within rounding of the fused result).

use super::{Isa, Mat, MatMut, madd};

/// Products with every dimension at most this size run here; larger ones go to BLAS.
pub(super) const MEDIUM_MAX: usize = 160;

pub(super) fn gemm(
    isa: Isa,
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { gemm_avx512(c, beta, alpha, a, transpose_a, b) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { gemm_avx2_fma(c, beta, alpha, a, transpose_a, b) }
        }
        // 4 x 8 tiles: 16 of the 32 q registers accumulate, 4 hold the row of B.
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => body::<4, 8, true>(c, beta, alpha, a, transpose_a, b),
        Isa::Portable => body::<4, 4, false>(c, beta, alpha, a, transpose_a, b),
    }
}

/// 8 x 16 tiles in AVX-512 intrinsics (16 zmm accumulators, two loads of B and a broadcast per
/// step; written out because the compiler splits arrays of this size into 256-bit halves and
/// spills them), then the AVX2 tiles for the columns left over.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn gemm_avx512(
    mut c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let (p, _) = a.op_dims(transpose_a);
    let mut j = 0;
    while j + 16 <= b.cols {
        let mut i = 0;
        while i + 8 <= p {
            // SAFETY: AVX-512F is enabled here; the tile lies inside C and op(A) B.
            unsafe { tile_avx512_8x16(&mut c, beta, alpha, a, transpose_a, b, i, j) };
            i += 8;
        }
        while i < p {
            tile::<1, 16, true>(&mut c, beta, alpha, a, transpose_a, b, i, j);
            i += 1;
        }
        j += 16;
    }
    let rest = b.cols - j;
    let c_rest = MatMut {
        data: &mut c.data[j..],
        rows: c.rows,
        cols: rest,
        stride: c.stride,
    };
    let b_rest = Mat {
        data: &b.data[j..],
        rows: b.rows,
        cols: rest,
        stride: b.stride,
    };
    if rest > 0 {
        body::<6, 8, true>(c_rest, beta, alpha, a, transpose_a, b_rest);
    }
}

/// [`tile`] for MR = 8, NR = 16 with the same fused chains, in AVX-512 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx512_8x16(
    c: &mut MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
    i0: usize,
    j0: usize,
) {
    use std::arch::x86_64::*;
    let (p, q) = a.op_dims(transpose_a);
    assert!(i0 + 8 <= p && j0 + 16 <= b.cols && b.rows == q);
    let (a_row_step, a_depth_step) = a.op_steps(transpose_a);
    // SAFETY: as in `tile`: the views lie inside their slices and the tile inside the views.
    unsafe {
        let mut acc = [[_mm512_setzero_pd(); 2]; 8];
        let a_tile = a.data.as_ptr().add(i0 * a_row_step);
        let b_panel = b.data.as_ptr().add(j0);
        for k in 0..q {
            let brow = b_panel.add(k * b.stride);
            let (b0, b1) = (_mm512_loadu_pd(brow), _mm512_loadu_pd(brow.add(8)));
            let a_k = a_tile.add(k * a_depth_step);
            for (ii, acc_row) in acc.iter_mut().enumerate() {
                let aik = _mm512_set1_pd(*a_k.add(ii * a_row_step));
                acc_row[0] = _mm512_fmadd_pd(aik, b0, acc_row[0]);
                acc_row[1] = _mm512_fmadd_pd(aik, b1, acc_row[1]);
            }
        }
        let (alpha, beta_v) = (_mm512_set1_pd(alpha), _mm512_set1_pd(beta));
        for (ii, acc_row) in acc.iter().enumerate() {
            let crow = c.data.as_mut_ptr().add((i0 + ii) * c.stride + j0);
            for (half, &sum) in acc_row.iter().enumerate() {
                let out = crow.add(8 * half);
                let scaled = _mm512_mul_pd(alpha, sum);
                let value = if beta == 0.0 {
                    scaled
                } else {
                    _mm512_fmadd_pd(beta_v, _mm512_loadu_pd(out), scaled)
                };
                _mm512_storeu_pd(out, value);
            }
        }
    }
}

/// 6 x 8 tiles: 12 ymm accumulators of the 16 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gemm_avx2_fma(c: MatMut<'_>, beta: f64, alpha: f64, a: Mat<'_>, transpose_a: bool, b: Mat<'_>) {
    body::<6, 8, true>(c, beta, alpha, a, transpose_a, b);
}

#[inline(always)]
fn body<const MR: usize, const NR: usize, const FMA: bool>(
    mut c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let r = b.cols;
    let mut j = panels::<MR, NR, FMA>(&mut c, beta, alpha, a, transpose_a, b, 0);
    if NR > 8 && r - j >= 8 {
        j = panels::<MR, 8, FMA>(&mut c, beta, alpha, a, transpose_a, b, j);
    }
    if NR > 4 && r - j >= 4 {
        j = panels::<MR, 4, FMA>(&mut c, beta, alpha, a, transpose_a, b, j);
    }
    panels::<MR, 1, FMA>(&mut c, beta, alpha, a, transpose_a, b, j);
}

/// Every full W-wide panel of columns from `first` on; returns the first column not covered.
#[inline(always)]
fn panels<const MR: usize, const W: usize, const FMA: bool>(
    c: &mut MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
    first: usize,
) -> usize {
    let (p, _) = a.op_dims(transpose_a);
    let mut j = first;
    while j + W <= b.cols {
        let mut i = 0;
        while i + MR <= p {
            tile::<MR, W, FMA>(c, beta, alpha, a, transpose_a, b, i, j);
            i += MR;
        }
        while i < p {
            tile::<1, W, FMA>(c, beta, alpha, a, transpose_a, b, i, j);
            i += 1;
        }
        j += W;
    }
    j
}

/// C[i0..i0+MR, j0..j0+NR] <- beta C + alpha (op(A) B) over the same block.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const MR: usize, const NR: usize, const FMA: bool>(
    c: &mut MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
    i0: usize,
    j0: usize,
) {
    let (p, q) = a.op_dims(transpose_a);
    assert!(i0 + MR <= p && j0 + NR <= b.cols && b.rows == q);
    let mut acc = [[0.0; NR]; MR];
    let (a_row_step, a_depth_step) = a.op_steps(transpose_a);
    // SAFETY: `gemm` asserted that each view lies inside its slice, and the tile lies inside the
    // views (asserted above), so every row k < q of B holds columns j0..j0 + NR and op(A) holds
    // rows i0..i0 + MR at every k. Unchecked reads keep the accumulators in registers.
    unsafe {
        let a_tile = a.data.as_ptr().add(i0 * a_row_step);
        let b_panel = b.data.as_ptr().add(j0);
        for k in 0..q {
            let brow = &*(b_panel.add(k * b.stride) as *const [f64; NR]);
            let a_k = a_tile.add(k * a_depth_step);
            for (ii, acc_row) in acc.iter_mut().enumerate() {
                let aik = *a_k.add(ii * a_row_step);
                for jj in 0..NR {
                    acc_row[jj] = madd::<FMA>(aik, brow[jj], acc_row[jj]);
                }
            }
        }
    }
    for (ii, acc_row) in acc.iter().enumerate() {
        let start = (i0 + ii) * c.stride + j0;
        let crow: &mut [f64; NR] = (&mut c.data[start..start + NR])
            .try_into()
            .expect("NR columns of C");
        if beta == 0.0 {
            for jj in 0..NR {
                crow[jj] = alpha * acc_row[jj];
            }
        } else {
            for jj in 0..NR {
                crow[jj] = madd::<FMA>(beta, crow[jj], alpha * acc_row[jj]);
            }
        }
    }
}
