//! Products below the BLAS cutoff.
//!
//! C <- beta C + alpha op(A) B with the column count r of B and C fixed at compile time (r up
//! to 24, the common widths n and n+m of small problems): each row of C is accumulated in an
//! `[f64; R]` that stays in registers, so the inner loop is a fully unrolled multiply-add over a
//! row of B. The same code is compiled for AVX-512F, AVX2 + FMA and portable Rust, chosen by
//! [`Isa`]; other widths take a plain loop.

use super::{Isa, Mat, MatMut, madd};

pub(super) fn gemm(
    isa: Isa,
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    macro_rules! by_width {
        ($($r:literal)*) => {
            match b.cols {
                $($r => fixed::<$r>(isa, c, beta, alpha, a, transpose_a, b),)*
                _ => any_width(c, beta, alpha, a, transpose_a, b),
            }
        };
    }
    by_width!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24)
}

#[inline(always)]
fn fixed<const R: usize>(
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
            unsafe { fixed_avx512::<R>(c, beta, alpha, a, transpose_a, b) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { fixed_avx2_fma::<R>(c, beta, alpha, a, transpose_a, b) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => fixed_body::<R, true>(c, beta, alpha, a, transpose_a, b),
        Isa::Portable => fixed_body::<R, false>(c, beta, alpha, a, transpose_a, b),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn fixed_avx512<const R: usize>(
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    fixed_body::<R, true>(c, beta, alpha, a, transpose_a, b);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fixed_avx2_fma<const R: usize>(
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    fixed_body::<R, true>(c, beta, alpha, a, transpose_a, b);
}

#[inline(always)]
fn fixed_body<const R: usize, const FMA: bool>(
    mut c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let (p, q) = a.op_dims(transpose_a);
    let at = |i: usize, k: usize| if transpose_a { a.at(k, i) } else { a.at(i, k) };
    // Two rows of C at a time: each row of B loaded once feeds 2 R multiply-adds.
    let mut i = 0;
    while i + 1 < p {
        let mut acc0 = [0.0; R];
        let mut acc1 = [0.0; R];
        for k in 0..q {
            let (a0, a1) = (at(i, k), at(i + 1, k));
            let brow = row::<R>(b.data, k * b.stride);
            for j in 0..R {
                acc0[j] = madd::<FMA>(a0, brow[j], acc0[j]);
                acc1[j] = madd::<FMA>(a1, brow[j], acc1[j]);
            }
        }
        store::<R, FMA>(&mut c, i, beta, alpha, &acc0);
        store::<R, FMA>(&mut c, i + 1, beta, alpha, &acc1);
        i += 2;
    }
    if i < p {
        let mut acc = [0.0; R];
        for k in 0..q {
            let aik = at(i, k);
            let brow = row::<R>(b.data, k * b.stride);
            for j in 0..R {
                acc[j] = madd::<FMA>(aik, brow[j], acc[j]);
            }
        }
        store::<R, FMA>(&mut c, i, beta, alpha, &acc);
    }
}

#[inline(always)]
fn row<const R: usize>(data: &[f64], start: usize) -> &[f64; R] {
    data[start..start + R].try_into().expect("row of width R")
}

/// Row i of C <- beta row + alpha acc.
#[inline(always)]
fn store<const R: usize, const FMA: bool>(
    c: &mut MatMut<'_>,
    i: usize,
    beta: f64,
    alpha: f64,
    acc: &[f64; R],
) {
    let start = i * c.stride;
    let crow: &mut [f64; R] = (&mut c.data[start..start + R])
        .try_into()
        .expect("row of width R");
    if beta == 0.0 {
        for j in 0..R {
            crow[j] = alpha * acc[j];
        }
    } else {
        for j in 0..R {
            crow[j] = madd::<FMA>(beta, crow[j], alpha * acc[j]);
        }
    }
}

/// Any width: i-k-j order, the inner loop contiguous along rows of B and C.
pub(super) fn any_width(
    mut c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let (p, q) = a.op_dims(transpose_a);
    let r = b.cols;
    for i in 0..p {
        let row = c.row_mut(i);
        if beta == 0.0 {
            row.fill(0.0);
        } else if beta != 1.0 {
            row.iter_mut().for_each(|x| *x *= beta);
        }
        for k in 0..q {
            let aik = alpha * if transpose_a { a.at(k, i) } else { a.at(i, k) };
            let brow = &b.data[k * b.stride..k * b.stride + r];
            for (cij, bkj) in row.iter_mut().zip(brow) {
                *cij += aik * bkj;
            }
        }
    }
}
