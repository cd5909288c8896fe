//! Dense kernels on row-major slices, the only place the solver does linear algebra.
//!
//! A matrix is a slice with a row stride: element (i, j) sits at `data[i * stride + j]`, so a
//! block of a larger matrix is a view without a copy. Products run in zplan's own register-tiled
//! kernels up to the Riccati pass's largest sizes (`small` for up to 24 columns, `medium` for
//! every dimension up to 160), compiled for AVX-512F, AVX2 + FMA, aarch64 NEON and portable Rust
//! and chosen at run time ([`Isa`]); only larger products go to OpenBLAS. Nothing here allocates.

mod medium;
mod small;

use cblas_sys::{CBLAS_LAYOUT, CBLAS_TRANSPOSE, cblas_dgemm, cblas_dgemv};

use medium::MEDIUM_MAX;

// OpenBLAS's own controls (both its pthread and serial builds export them).
unsafe extern "C" {
    fn openblas_set_num_threads(threads: std::ffi::c_int);
    fn openblas_get_num_threads() -> std::ffi::c_int;
}

/// Threads OpenBLAS splits one product over.
pub fn blas_threads() -> usize {
    // SAFETY: reads OpenBLAS's thread setting; no preconditions.
    unsafe { openblas_get_num_threads() }.max(1) as usize
}

/// Sets the threads OpenBLAS splits one product over (at least 1; 1: the calling thread only,
/// its pool idle). A multithreaded OpenBLAS starts its pool when the process loads it, sized by
/// `OPENBLAS_NUM_THREADS` or the core count; this changes how many of them a product uses, not
/// how many exist. Call it while no product runs.
pub fn set_blas_threads(threads: usize) {
    let threads = threads.clamp(1, std::ffi::c_int::MAX as usize) as std::ffi::c_int;
    // SAFETY: OpenBLAS's documented setter; the caller keeps products from running meanwhile.
    unsafe { openblas_set_num_threads(threads) }
}

/// Products of at most this many columns can use the width-specialised kernels of `small`.
const SMALL_MAX_COLUMNS: usize = 24;

/// Width-specialised products with fewer multiply-adds than this (p q r) run in `small`.
const SMALL_MAX_MULTIPLY_ADDS: usize = 24 * 24 * 24;

/// Products beyond `medium`'s sizes with fewer multiply-adds than this stay in a plain loop.
const BLAS_MIN_MULTIPLY_ADDS: usize = 8 * 8 * 8;

/// The instruction set the kernels run with.
///
/// AVX-512F, AVX2 + FMA and NEON give bit-identical results (the same fused multiply-add chains
/// in the same order); the portable kernels round each product separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// 512-bit vectors with fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// 256-bit vectors with fused multiply-add.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// aarch64's 128-bit vectors with fused multiply-add (part of every aarch64 CPU: the kernels
    /// need no run-time check, only their own tile shapes for its 32 vector registers).
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// Plain Rust, vectorised as far as the compiler's baseline target allows, each product
    /// rounded before it is added.
    Portable,
}

impl Isa {
    /// The best the running CPU supports (the standard library caches the CPUID query).
    #[inline]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("neon") {
            return Isa::Neon;
        }
        Isa::Portable
    }

    /// The name the solver reports ([`crate::kernel_isa`]).
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "AVX-512F",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "AVX2 + FMA",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "NEON",
            Isa::Portable => "portable",
        }
    }

    /// Every ISA this CPU can run, best first (the checks run each).
    #[cfg(any(test, feature = "checks"))]
    pub fn available() -> Vec<Self> {
        let best = Self::detect();
        [
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon,
            Isa::Portable,
        ]
        .into_iter()
        .skip_while(|&isa| isa != best)
        .collect()
    }
}

/// a * b + c, fused in the instantiations compiled with FMA (`mul_add` without the target
/// feature would call a slow libm routine).
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The slice range a `rows x cols` block at (`row`, `col`) spans in a matrix of row `stride`.
fn block_span(
    stride: usize,
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
) -> std::ops::Range<usize> {
    let start = row * stride + col;
    let end = if rows == 0 {
        start
    } else {
        start + (rows - 1) * stride + cols
    };
    start..end
}

/// A read-only row-major matrix view.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f64],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

/// A mutable row-major matrix view.
pub(crate) struct MatMut<'a> {
    pub data: &'a mut [f64],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> Mat<'a> {
    /// A dense `rows x cols` matrix stored in `data`.
    pub fn new(data: &'a [f64], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix larger than its slice");
        Self {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// The block of `rows x cols` starting at (`row`, `col`).
    pub fn block(self, row: usize, col: usize, rows: usize, cols: usize) -> Mat<'a> {
        debug_assert!(row + rows <= self.rows && col + cols <= self.cols);
        let span = block_span(self.stride, row, col, rows, cols);
        Mat {
            data: &self.data[span],
            rows,
            cols,
            stride: self.stride,
        }
    }

    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.stride + j]
    }

    /// Rows and columns of op(A): A' when `transpose`.
    pub fn op_dims(&self, transpose: bool) -> (usize, usize) {
        if transpose {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// Offsets in `data` from op(A)[i, k] to op(A)[i + 1, k] and to op(A)[i, k + 1].
    pub fn op_steps(&self, transpose: bool) -> (usize, usize) {
        if transpose {
            (1, self.stride)
        } else {
            (self.stride, 1)
        }
    }

    /// The slice holds every row at the stride.
    pub fn is_valid(&self) -> bool {
        self.rows == 0
            || (self.stride >= self.cols
                && self.data.len() >= (self.rows - 1) * self.stride + self.cols)
    }
}

impl<'a> MatMut<'a> {
    /// A dense `rows x cols` matrix stored in `data`.
    pub fn new(data: &'a mut [f64], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix larger than its slice");
        Self {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    pub fn as_ref(&self) -> Mat<'_> {
        Mat {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }

    pub fn rb(&mut self) -> MatMut<'_> {
        MatMut {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }

    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.stride + j]
    }

    #[inline(always)]
    pub fn set(&mut self, i: usize, j: usize, value: f64) {
        self.data[i * self.stride + j] = value;
    }

    #[inline(always)]
    pub fn add(&mut self, i: usize, j: usize, value: f64) {
        self.data[i * self.stride + j] += value;
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        let start = i * self.stride;
        &mut self.data[start..start + self.cols]
    }

    /// Copies `src` (same shape) into this view.
    pub fn copy_from(&mut self, src: Mat<'_>) {
        debug_assert!(src.rows == self.rows && src.cols == self.cols);
        if self.stride == self.cols && src.stride == self.cols {
            let len = self.rows * self.cols;
            self.data[..len].copy_from_slice(&src.data[..len]);
            return;
        }
        for i in 0..self.rows {
            let s = &src.data[i * src.stride..i * src.stride + self.cols];
            self.row_mut(i).copy_from_slice(s);
        }
    }

    /// The block of `rows x cols` starting at (`row`, `col`).
    pub fn block_mut(&mut self, row: usize, col: usize, rows: usize, cols: usize) -> MatMut<'_> {
        debug_assert!(row + rows <= self.rows && col + cols <= self.cols);
        let span = block_span(self.stride, row, col, rows, cols);
        MatMut {
            data: &mut self.data[span],
            rows,
            cols,
            stride: self.stride,
        }
    }

    /// Copies the strict lower triangle of a square matrix onto the upper one.
    pub fn mirror_lower(&mut self) {
        debug_assert_eq!(self.rows, self.cols);
        for i in 0..self.rows {
            for j in 0..i {
                let v = self.at(i, j);
                self.set(j, i, v);
            }
        }
    }

    /// Makes a square matrix exactly symmetric: A <- (A + A') / 2.
    pub fn symmetrize(&mut self) {
        debug_assert_eq!(self.rows, self.cols);
        for i in 0..self.rows {
            for j in 0..i {
                let mean = 0.5 * (self.at(i, j) + self.at(j, i));
                self.set(i, j, mean);
                self.set(j, i, mean);
            }
        }
    }
}

/// C <- beta C + alpha op(A) B, where op(A) = A' when `transpose_a`.
///
/// Shapes: op(A) is p x q, B is q x r, C is p x r.
pub(crate) fn gemm(
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    gemm_with(Isa::detect(), c, beta, alpha, a, transpose_a, b);
}

/// [`gemm`] with the kernels of `isa`, which the running CPU must support.
pub(crate) fn gemm_with(
    isa: Isa,
    c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let (p, q) = a.op_dims(transpose_a);
    let r = b.cols;
    assert!(
        b.rows == q && c.rows == p && c.cols == r,
        "gemm shape mismatch"
    );
    if p == 0 || r == 0 {
        return;
    }
    assert!(
        a.is_valid() && b.is_valid() && c.as_ref().is_valid(),
        "gemm on a view outside its slice"
    );
    let multiply_adds = p * q * r;
    if r <= SMALL_MAX_COLUMNS && multiply_adds < SMALL_MAX_MULTIPLY_ADDS {
        small::gemm(isa, c, beta, alpha, a, transpose_a, b);
    } else if p <= MEDIUM_MAX && q <= MEDIUM_MAX && r <= MEDIUM_MAX {
        medium::gemm(isa, c, beta, alpha, a, transpose_a, b);
    } else if multiply_adds >= BLAS_MIN_MULTIPLY_ADDS {
        let trans = if transpose_a {
            CBLAS_TRANSPOSE::CblasTrans
        } else {
            CBLAS_TRANSPOSE::CblasNoTrans
        };
        // SAFETY: asserted above: each view's slice holds its rows at its stride (stride at least
        // the row length), and the shapes agree, so every element dgemm reads or writes lies
        // inside its slice.
        unsafe {
            cblas_dgemm(
                CBLAS_LAYOUT::CblasRowMajor,
                trans,
                CBLAS_TRANSPOSE::CblasNoTrans,
                p as i32,
                r as i32,
                q as i32,
                alpha,
                a.data.as_ptr(),
                a.stride.max(1) as i32,
                b.data.as_ptr(),
                b.stride.max(1) as i32,
                beta,
                c.data.as_mut_ptr(),
                c.stride.max(1) as i32,
            );
        }
    } else {
        small::any_width(c, beta, alpha, a, transpose_a, b);
    }
}

/// Row blocks of [`gemm_lower`].
const LOWER_BLOCK: usize = 16;

/// C <- beta C + alpha op(A) B on the lower block triangle of a square C: in row blocks of 16,
/// each up to its block's last column, so that about half the product is computed when the
/// result is known to be symmetric. Entries above the block diagonal are left as they were.
pub(crate) fn gemm_lower(
    mut c: MatMut<'_>,
    beta: f64,
    alpha: f64,
    a: Mat<'_>,
    transpose_a: bool,
    b: Mat<'_>,
) {
    let p = c.rows;
    assert!(
        c.cols == p && b.cols == p,
        "gemm_lower needs a square product"
    );
    let mut r0 = 0;
    while r0 < p {
        let rows = LOWER_BLOCK.min(p - r0);
        let cols = r0 + rows;
        let a_rows = if transpose_a {
            a.block(0, r0, a.rows, rows)
        } else {
            a.block(r0, 0, rows, a.cols)
        };
        let b_cols = b.block(0, 0, b.rows, cols);
        gemm(
            c.block_mut(r0, 0, rows, cols),
            beta,
            alpha,
            a_rows,
            transpose_a,
            b_cols,
        );
        r0 += rows;
    }
}

/// Matrix-vector products with more rows or columns than `medium` takes go to OpenBLAS `dgemv`.
const BLAS_MIN_GEMV: usize = MEDIUM_MAX + 1;

/// y <- beta y + alpha op(A) x.
pub(crate) fn gemv(y: &mut [f64], beta: f64, alpha: f64, a: Mat<'_>, transpose_a: bool, x: &[f64]) {
    let (rows, cols) = a.op_dims(transpose_a);
    assert!(
        y.len() == rows && x.len() == cols && a.is_valid(),
        "gemv shape mismatch"
    );
    // y' = x' A is the 1-row product C = X A: the register-tiled kernels.
    let as_row_product =
        |y: &mut [f64], x: &[f64], product: fn(MatMut<'_>, f64, f64, Mat<'_>, bool, Mat<'_>)| {
            let c = MatMut {
                data: y,
                rows: 1,
                cols: rows,
                stride: rows,
            };
            product(
                c,
                beta,
                alpha,
                Mat {
                    data: x,
                    rows: 1,
                    cols,
                    stride: cols,
                },
                false,
                a,
            );
        };
    if rows.max(cols) >= BLAS_MIN_GEMV {
        let trans = if transpose_a {
            CBLAS_TRANSPOSE::CblasTrans
        } else {
            CBLAS_TRANSPOSE::CblasNoTrans
        };
        // SAFETY: `a` lies inside its slice (asserted) and x, y have op(A)'s column and row
        // counts, so dgemv reads and writes only inside the three slices.
        unsafe {
            cblas_dgemv(
                CBLAS_LAYOUT::CblasRowMajor,
                trans,
                a.rows as i32,
                a.cols as i32,
                alpha,
                a.data.as_ptr(),
                a.stride.max(1) as i32,
                x.as_ptr(),
                1,
                beta,
                y.as_mut_ptr(),
                1,
            );
        }
        return;
    }
    if transpose_a {
        as_row_product(y, x, gemm);
        return;
    }
    if beta != 1.0 {
        y.iter_mut().for_each(|v| *v *= beta);
    }
    for (i, yi) in y.iter_mut().enumerate() {
        let row = &a.data[i * a.stride..i * a.stride + a.cols];
        *yi += alpha * dot(row, x);
    }
}

/// a'b over the common length, in eight interleaved partial sums (lane j takes the elements
/// j, j + 8, ...; the tail goes to lanes 0..), added pairwise at the end: the additions of one
/// lane do not wait on the others, so the loop runs on full vectors instead of one latency-bound
/// chain.
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut lanes = [0.0; 8];
    let (a_blocks, a_tail) = a.as_chunks::<8>();
    let (b_blocks, b_tail) = b.as_chunks::<8>();
    for (x, y) in a_blocks.iter().zip(b_blocks) {
        for j in 0..8 {
            lanes[j] += x[j] * y[j];
        }
    }
    for (j, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        lanes[j] += x * y;
    }
    let quads = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}

/// In-place Cholesky A = L L' of the leading `n x n` block; L overwrites the lower triangle
/// (the upper one is left as it was). Returns `false` when A is not numerically positive
/// definite.
pub(crate) fn cholesky(a: &mut MatMut<'_>) -> bool {
    let n = a.rows;
    for j in 0..n {
        let mut d = a.at(j, j);
        for k in 0..j {
            d -= a.at(j, k) * a.at(j, k);
        }
        if !d.is_finite() || d <= 0.0 {
            return false;
        }
        let ljj = d.sqrt();
        a.set(j, j, ljj);
        for i in j + 1..n {
            let mut s = a.at(i, j);
            for k in 0..j {
                s -= a.at(i, k) * a.at(j, k);
            }
            a.set(i, j, s / ljj);
        }
    }
    true
}

/// Solves L L' x = b in place, with L the lower triangle of `l`.
pub(crate) fn cholesky_solve(l: Mat<'_>, x: &mut [f64]) {
    lower_solve(l, x);
    lower_transpose_solve(l, x);
}

/// x <- L^{-1} x.
pub(crate) fn lower_solve(l: Mat<'_>, x: &mut [f64]) {
    for i in 0..l.rows {
        let mut s = x[i];
        for k in 0..i {
            s -= l.at(i, k) * x[k];
        }
        x[i] = s / l.at(i, i);
    }
}

/// x <- L^{-T} x.
pub(crate) fn lower_transpose_solve(l: Mat<'_>, x: &mut [f64]) {
    for i in (0..l.rows).rev() {
        let mut s = x[i];
        for k in i + 1..l.rows {
            s -= l.at(k, i) * x[k];
        }
        x[i] = s / l.at(i, i);
    }
}

/// Solves L L' X = B in place for a matrix right-hand side (rows of X are the unknowns' index).
pub(crate) fn cholesky_solve_matrix(l: Mat<'_>, x: &mut MatMut<'_>) {
    lower_solve_matrix(l, x);
    lower_transpose_solve_matrix(l, x);
}

/// X <- L^{-1} X: forward substitution, row_i <- (row_i - sum_{k<i} L_ik row_k) / L_ii.
pub(crate) fn lower_solve_matrix(l: Mat<'_>, x: &mut MatMut<'_>) {
    triangular_solve_matrix(Isa::detect(), l, x, false);
}

/// X <- L^{-T} X: back substitution, row_i <- (row_i - sum_{k>i} L_ki row_k) / L_ii.
pub(crate) fn lower_transpose_solve_matrix(l: Mat<'_>, x: &mut MatMut<'_>) {
    triangular_solve_matrix(Isa::detect(), l, x, true);
}

/// [`lower_solve_matrix`] (or, with `transpose`, [`lower_transpose_solve_matrix`]) compiled for
/// `isa`, which the running CPU must support: the row updates are multiply-adds along the rows
/// of X, fused where the ISA has FMA.
pub(crate) fn triangular_solve_matrix(isa: Isa, l: Mat<'_>, x: &mut MatMut<'_>, transpose: bool) {
    assert!(
        l.rows == l.cols && x.rows == l.rows && l.is_valid() && x.as_ref().is_valid(),
        "triangular solve shape mismatch"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { triangular_solve_avx512(l, x, transpose) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            // SAFETY: `isa` is one the running CPU supports (`Isa::detect`/`available`).
            unsafe { triangular_solve_avx2_fma(l, x, transpose) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => triangular_solve_body::<true>(l, x, transpose),
        Isa::Portable => triangular_solve_body::<false>(l, x, transpose),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn triangular_solve_avx512(l: Mat<'_>, x: &mut MatMut<'_>, transpose: bool) {
    triangular_solve_body::<true>(l, x, transpose);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn triangular_solve_avx2_fma(l: Mat<'_>, x: &mut MatMut<'_>, transpose: bool) {
    triangular_solve_body::<true>(l, x, transpose);
}

/// [`cholesky_solve_matrix`] inlined into a caller compiled for an ISA, `FMA` whether it fuses
/// (the fixed-size pass).
#[inline(always)]
pub(crate) fn cholesky_solve_matrix_inline<const FMA: bool>(l: Mat<'_>, x: &mut MatMut<'_>) {
    triangular_solve_body::<FMA>(l, x, false);
    triangular_solve_body::<FMA>(l, x, true);
}

#[inline(always)]
fn triangular_solve_body<const FMA: bool>(l: Mat<'_>, x: &mut MatMut<'_>, transpose: bool) {
    let (n, cols, stride) = (l.rows, x.cols, x.stride);
    for step in 0..n {
        // Forward: row i from the rows above it; back: from the rows below it.
        let i = if transpose { n - 1 - step } else { step };
        let (head, tail) = x.data.split_at_mut(i * stride);
        let (row, below) = tail.split_at_mut(cols);
        let solved = if transpose { i + 1..n } else { 0..i };
        for k in solved {
            let (coefficient, source) = if transpose {
                let start = (k - i) * stride - cols;
                (l.at(k, i), &below[start..start + cols])
            } else {
                (l.at(i, k), &head[k * stride..k * stride + cols])
            };
            for (xi, xk) in row.iter_mut().zip(source) {
                *xi = madd::<FMA>(-coefficient, *xk, *xi);
            }
        }
        let inv = 1.0 / l.at(i, i);
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Whether every value is finite; a single pass with no early exit, so it vectorises.
pub(crate) fn all_finite(data: &[f64]) -> bool {
    let mut finite = true;
    for &v in data {
        finite &= v.is_finite();
    }
    finite
}

/// Index of the first NaN or infinity, after a vectorised check that there is one.
pub(crate) fn first_non_finite(data: &[f64]) -> Option<usize> {
    if all_finite(data) {
        None
    } else {
        data.iter().position(|v| !v.is_finite())
    }
}

/// The kernels against a naive triple loop on every path and every ISA this CPU has, and the
/// fused ISAs against each other bit for bit (run by `tests/isa_paths.rs` through
/// `crate::checks`). Each check panics on a mismatch.
#[cfg(any(test, feature = "checks"))]
pub(crate) mod isa_checks {
    use super::*;

    /// C = op(A) B by the naive triple loop; A is `ar x ac`, B is q x `bc`.
    pub(crate) fn naive(
        a: &[f64],
        ar: usize,
        ac: usize,
        ta: bool,
        b: &[f64],
        bc: usize,
    ) -> Vec<f64> {
        let (p, q) = if ta { (ac, ar) } else { (ar, ac) };
        let mut c = vec![0.0; p * bc];
        for i in 0..p {
            for j in 0..bc {
                for k in 0..q {
                    let aik = if ta { a[k * ac + i] } else { a[i * ac + k] };
                    c[i * bc + j] += aik * b[k * bc + j];
                }
            }
        }
        c
    }

    /// `len` deterministic values in [-0.5, 0.5) for the kernels' checks.
    pub(crate) fn filled(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    /// C = 0.5 C0 + 2 op(A) B with the kernels of `isa`, and the same by the naive triple loop.
    fn product_and_naive(isa: Isa, p: usize, q: usize, r: usize, ta: bool) -> (Vec<f64>, Vec<f64>) {
        let (ar, ac) = if ta { (q, p) } else { (p, q) };
        let a = filled(ar * ac, 1);
        let b = filled(q * r, 2);
        let c0 = filled(p * r, 3);
        let mut c = c0.clone();
        gemm_with(
            isa,
            MatMut::new(&mut c, p, r),
            0.5,
            2.0,
            Mat::new(&a, ar, ac),
            ta,
            Mat::new(&b, q, r),
        );
        let ab = naive(&a, ar, ac, ta, &b, r);
        let expected = c0
            .iter()
            .zip(&ab)
            .map(|(c, ab)| 0.5 * c + 2.0 * ab)
            .collect();
        (c, expected)
    }

    /// Sizes on every path: width-specialised (small), tiled with every panel width and
    /// leftover rows (medium), and beyond medium's sizes (BLAS).
    const GEMM_SIZES: [(usize, usize, usize); 9] = [
        (3, 4, 5),
        (8, 8, 10),
        (20, 16, 24),
        (64, 64, 72),
        (72, 64, 72),
        (13, 29, 31),
        (160, 160, 160),
        (1, 40, 45),
        (170, 20, 30),
    ];

    /// Every product path (small, medium, BLAS; A transposed or not) on every ISA, against
    /// [`naive`] to 1e-12.
    pub fn gemm_matches_naive_product_on_every_path_and_isa() {
        for isa in Isa::available() {
            for &(p, q, r) in &GEMM_SIZES {
                for ta in [false, true] {
                    let (c, expected) = product_and_naive(isa, p, q, r, ta);
                    for (i, (x, y)) in c.iter().zip(&expected).enumerate() {
                        assert!(
                            (x - y).abs() < 1e-12,
                            "{isa:?} ({p},{q},{r}) ta={ta} element {i}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }

    /// The fused ISAs (all but portable) give bit-identical products.
    pub fn fused_isas_give_bit_identical_products() {
        let fused: Vec<Isa> = Isa::available()
            .into_iter()
            .filter(|&isa| isa != Isa::Portable)
            .collect();
        for pair in fused.windows(2) {
            for &(p, q, r) in &GEMM_SIZES {
                for ta in [false, true] {
                    let (x, _) = product_and_naive(pair[0], p, q, r, ta);
                    let (y, _) = product_and_naive(pair[1], p, q, r, ta);
                    assert_eq!(x, y, "{pair:?} ({p},{q},{r}) ta={ta}");
                }
            }
        }
    }

    /// The triangular solves L X = B and L' X = B on every ISA recover X to 1e-12 (L lower
    /// triangular, diagonal in [1, 1.5)), and the fused ISAs give bit-identical solutions.
    pub fn triangular_solves_match_naive_on_every_isa() {
        for &(n, cols) in &[(1, 3), (5, 7), (8, 32), (13, 40)] {
            let mut l = filled(n * n, 21);
            for i in 0..n {
                l[i * n + i] = 1.25 + l[i * n + i].abs();
                l[i * n + i + 1..(i + 1) * n].fill(0.0);
            }
            let x = filled(n * cols, 22);
            for transpose in [false, true] {
                let b = naive(&l, n, n, transpose, &x, cols);
                let mut fused: Option<Vec<f64>> = None;
                for isa in Isa::available() {
                    let mut solved = b.clone();
                    triangular_solve_matrix(
                        isa,
                        Mat::new(&l, n, n),
                        &mut MatMut::new(&mut solved, n, cols),
                        transpose,
                    );
                    for (i, (got, want)) in solved.iter().zip(&x).enumerate() {
                        assert!(
                            (got - want).abs() < 1e-12,
                            "{isa:?} n={n} cols={cols} transpose={transpose} element {i}: {got} vs {want}"
                        );
                    }
                    if isa != Isa::Portable {
                        match &fused {
                            None => fused = Some(solved),
                            Some(first) => assert_eq!(*first, solved, "fused ISAs differ, {isa:?}"),
                        }
                    }
                }
            }
        }
    }

    /// FNV-1a over the bits of the products of the best ISA's kernels on the sizes zplan's own
    /// kernels take, to compare machines: the fused ISAs (AVX-512F, AVX2 + FMA, NEON) give the
    /// same digest on every CPU; `None` where only the portable kernels run.
    pub fn fused_product_digest() -> Option<u64> {
        let isa = Isa::detect();
        if isa == Isa::Portable {
            return None;
        }
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for &(p, q, r) in &GEMM_SIZES {
            if p.max(q).max(r) > MEDIUM_MAX {
                continue;
            }
            for ta in [false, true] {
                for v in product_and_naive(isa, p, q, r, ta).0 {
                    for byte in v.to_bits().to_le_bytes() {
                        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                    }
                }
            }
        }
        Some(hash)
    }

    /// Matrix-vector products on every path, against [`naive`] to 1e-12.
    pub fn gemv_matches_naive_on_every_path() {
        // (rows, cols) of A: the tiled 1-row kernels, the plain loop, and dgemv.
        for &(ar, ac) in &[(5, 7), (20, 30), (24, 33), (48, 40), (170, 9), (9, 170)] {
            for ta in [false, true] {
                let a = filled(ar * ac, 5);
                let (n_out, n_in) = if ta { (ac, ar) } else { (ar, ac) };
                let x = filled(n_in, 6);
                let y0 = filled(n_out, 7);
                let mut y = y0.clone();
                gemv(&mut y, 0.5, -2.0, Mat::new(&a, ar, ac), ta, &x);
                let ax = naive(&a, ar, ac, ta, &x, 1);
                for i in 0..n_out {
                    assert!(
                        (y[i] - (0.5 * y0[i] - 2.0 * ax[i])).abs() < 1e-12,
                        "({ar},{ac}) ta={ta}"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::isa_checks::{filled, naive};
    use super::*;

    #[test]
    fn gemm_on_blocks_leaves_the_rest_untouched() {
        let mut big = vec![7.0; 6 * 6];
        let a = filled(4, 4);
        let b = filled(4, 5);
        let block = MatMut {
            data: &mut big[6 + 2..],
            rows: 2,
            cols: 2,
            stride: 6,
        };
        gemm(
            block,
            0.0,
            1.0,
            Mat::new(&a, 2, 2),
            false,
            Mat::new(&b, 2, 2),
        );
        let ab = naive(&a, 2, 2, false, &b, 2);
        assert!((big[6 + 2] - ab[0]).abs() < 1e-15);
        assert!((big[2 * 6 + 3] - ab[3]).abs() < 1e-15);
        assert_eq!(big[6 + 4], 7.0);
        assert_eq!(big[0], 7.0);
    }

    #[test]
    fn cholesky_solves_spd_systems_and_rejects_indefinite_ones() {
        let n = 5;
        let m = filled(n * n, 9);
        let mut spd = naive(&m, n, n, true, &m, n);
        for i in 0..n {
            spd[i * n + i] += 1.0;
        }
        let b = filled(n, 10);
        let mut l = spd.clone();
        assert!(cholesky(&mut MatMut::new(&mut l, n, n)));
        let mut x = b.clone();
        cholesky_solve(Mat::new(&l, n, n), &mut x);
        for i in 0..n {
            let ax: f64 = (0..n).map(|j| spd[i * n + j] * x[j]).sum();
            assert!((ax - b[i]).abs() < 1e-12);
        }
        let mut xm = filled(n * 3, 11);
        let bm = xm.clone();
        cholesky_solve_matrix(Mat::new(&l, n, n), &mut MatMut::new(&mut xm, n, 3));
        let axm = naive(&spd, n, n, false, &xm, 3);
        for i in 0..n * 3 {
            assert!((axm[i] - bm[i]).abs() < 1e-12);
        }
        let mut indefinite = vec![1.0, 2.0, 2.0, 1.0];
        assert!(!cholesky(&mut MatMut::new(&mut indefinite, 2, 2)));
    }
}
