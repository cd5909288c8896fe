//! f32 kernels of the native evaluator, on row tiles: a tile is `rows` rows of a value, row r at
//! `r * stride`, with the stride padded to a multiple of [`LANES`] so that every ISA's vectors
//! cover a row exactly.
//!
//! One generic body per kernel over a [`Simd`] vector type, compiled three times: AVX-512F,
//! AVX2 + FMA, and portable Rust; [`Isa::detect`] picks the best the CPU has, once.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Row strides and weight panels are padded to a multiple of this many f32.
pub(crate) const LANES: usize = 16;

/// `n` rounded up to a multiple of [`LANES`].
pub(crate) fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// The instruction set the kernels run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit vectors, 16 f32.
    Avx512,
    /// 256-bit vectors with fused multiply-add, 8 f32.
    Avx2Fma,
    /// Plain Rust, vectorised as far as the compiler's baseline target allows.
    Portable,
}

impl Isa {
    /// The best the running CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// Every ISA this CPU can run, best first (tests run each).
    pub fn available() -> Vec<Self> {
        let best = Self::detect();
        [Isa::Avx512, Isa::Avx2Fma, Isa::Portable]
            .into_iter()
            .skip_while(|&isa| isa != best)
            .collect()
    }

    /// The name used in reports: `AVX-512F`, `AVX2+FMA` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512F",
            Isa::Avx2Fma => "AVX2+FMA",
            Isa::Portable => "portable",
        }
    }
}

/// An element-wise function applied in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    Tanh,
    /// 1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2.
    Sigmoid,
    Relu,
    /// x for x > 0, alpha x otherwise.
    LeakyRelu(f32),
    /// x for x > 0, alpha (e^x - 1) otherwise.
    Elu(f32),
    /// ln(1 + e^x).
    Softplus,
    Neg,
}

/// How an affine layer's weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// W row-major [k, n_pad]: each row's outputs are accumulated in registers, a vector of
    /// columns at a time (wide layers).
    Panels,
    /// W' row-major [n, padded(k)] (zero beyond k): each output is a dot product of the row
    /// with a column of W, summed across the vector at the end (narrow layers, n <= 8, where
    /// panels would mostly compute padding).
    Columns,
}

impl Layout {
    /// The cheaper layout for k inputs and n outputs, by vector multiply-adds per row (plus
    /// about 8 operations per horizontal sum).
    pub fn for_shape(k: usize, n: usize) -> Self {
        let panels = k * padded(n) / LANES;
        let columns = n * (padded(k) / LANES + 8);
        if n <= MAX_COLUMNS && columns < panels {
            Layout::Columns
        } else {
            Layout::Panels
        }
    }
}

/// Most outputs of a [`Layout::Columns`] layer.
pub(crate) const MAX_COLUMNS: usize = 8;

impl Layout {
    /// W[p, j] of a matrix W [k, n] packed by [`pack`].
    pub fn weight(self, packed: &[f32], (k, n): (usize, usize), p: usize, j: usize) -> f32 {
        match self {
            Layout::Panels => packed[p * padded(n) + j],
            Layout::Columns => packed[j * padded(k) + p],
        }
    }
}

/// W [k, n], given element by element as `w(p, j)`, packed for [`affine`] in the layout
/// [`Layout::for_shape`] picks, zero in the padding.
pub(crate) fn pack(k: usize, n: usize, w: impl Fn(usize, usize) -> f32) -> (Vec<f32>, Layout) {
    let layout = Layout::for_shape(k, n);
    (pack_as(layout, k, n, w), layout)
}

/// As [`pack`], in `layout` (with [`Layout::Columns`] and n > 8, [`affine`] takes 8 columns
/// at a time from `packed[j0 * padded(k)..]`).
pub(crate) fn pack_as(
    layout: Layout,
    k: usize,
    n: usize,
    w: impl Fn(usize, usize) -> f32,
) -> Vec<f32> {
    let mut packed = vec![
        0.0;
        match layout {
            Layout::Panels => k * padded(n),
            Layout::Columns => n * padded(k),
        }
    ];
    for p in 0..k {
        for j in 0..n {
            let at = match layout {
                Layout::Panels => p * padded(n) + j,
                Layout::Columns => j * padded(k) + p,
            };
            packed[at] = w(p, j);
        }
    }
    packed
}

/// `out[r, j] = bias[j] + sum_{p < k} x[r, p] w[p, j]` for r < rows and j < n_pad (all n_pad
/// columns for panels, the first n for columns), with w as `layout` says and `bias` [n_pad];
/// x has stride `x_stride`, out has stride n_pad. With `accumulate` the sum is added to what
/// `out` holds.
pub(crate) fn affine(isa: Isa, tile: AffineTile<'_>) {
    tile.check();
    match isa {
        // SAFETY: `detect` saw the features; `check` bounded every index the kernel touches.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { affine_avx512(tile) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { affine_avx2(tile) },
        // SAFETY: as above; the portable vector needs no CPU feature.
        _ => unsafe { affine_any::<Portable>(tile) },
    }
}

/// Applies `activation` to `values` in place.
pub(crate) fn activate(isa: Isa, activation: Activation, values: &mut [f32]) {
    match activation {
        Activation::Tanh | Activation::Sigmoid => match isa {
            // SAFETY: `detect` saw the features; the slice bounds every access.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { squash_avx512(activation, values) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { squash_avx2(activation, values) },
            // SAFETY: as above.
            _ => unsafe { squash::<Portable>(activation, values) },
        },
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::LeakyRelu(alpha) => values
            .iter_mut()
            .for_each(|v| *v = if *v > 0.0 { *v } else { alpha * *v }),
        Activation::Elu(alpha) => values
            .iter_mut()
            .for_each(|v| *v = if *v > 0.0 { *v } else { alpha * v.exp_m1() }),
        Activation::Softplus => values.iter_mut().for_each(|v| {
            // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), exact for large |x|.
            *v = v.max(0.0) + (-v.abs()).exp().ln_1p()
        }),
        Activation::Neg => values.iter_mut().for_each(|v| *v = -*v),
    }
}

/// The operands of [`affine`].
pub(crate) struct AffineTile<'a> {
    pub rows: usize,
    pub k: usize,
    pub x: &'a [f32],
    pub x_stride: usize,
    pub weights: &'a [f32],
    pub bias: &'a [f32],
    pub out: &'a mut [f32],
    pub accumulate: bool,
    pub layout: Layout,
    /// Outputs (columns of W) that are not padding.
    pub n: usize,
}

impl AffineTile<'_> {
    fn n_pad(&self) -> usize {
        self.bias.len()
    }

    /// Every bound the unchecked kernels rely on.
    fn check(&self) {
        let n_pad = self.n_pad();
        assert!(n_pad.is_multiple_of(LANES) && self.n <= n_pad);
        // Columns read whole vectors of x, up to padded(k).
        let row = match self.layout {
            Layout::Panels => self.k,
            Layout::Columns => padded(self.k),
        };
        assert!(row <= self.x_stride);
        match self.layout {
            Layout::Panels => assert!(self.weights.len() >= self.k * n_pad),
            Layout::Columns => {
                assert!(self.n <= MAX_COLUMNS && self.weights.len() >= self.n * padded(self.k))
            }
        }
        if self.rows > 0 {
            assert!(self.x.len() >= (self.rows - 1) * self.x_stride + row);
            assert!(self.out.len() >= self.rows * n_pad);
        }
    }
}

/// A vector of f32 lanes. The methods are only called from functions compiled with the
/// features the implementation needs.
trait Simd {
    const WIDTH: usize;
    /// Vectors per column panel of the affine kernel (MR rows x PANEL accumulators).
    const PANEL: usize;
    /// Most rows per block of the affine kernel, MR (at most 6). AVX2 takes 6 x 2 vectors:
    /// 12 accumulators, 2 vectors of W and a broadcast of x fill its 16 registers.
    const ROWS: usize;
    type V: Copy;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn splat(x: f32) -> Self::V;
    /// a b + c.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// 1 / a to within an ulp or two: the hardware estimate refined by one Newton step,
    /// r' = r + r (1 - a r), where the ISA has an estimate.
    unsafe fn recip(a: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// The sum of the lanes.
    unsafe fn sum(a: Self::V) -> f32;
}

#[cfg(target_arch = "x86_64")]
struct Avx512;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx512 {
    const WIDTH: usize = 16;
    const PANEL: usize = 4;
    const ROWS: usize = 4;
    type V = __m512;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller runs with AVX-512F and passes a pointer to WIDTH floats.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: the caller runs with AVX-512F and passes a pointer to WIDTH floats.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn recip(a: __m512) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe {
            let r = _mm512_rcp14_ps(a);
            _mm512_fmadd_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(1.0)), r)
        }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sum(a: __m512) -> f32 {
        // SAFETY: the caller runs with AVX-512F (the trait's contract).
        unsafe { _mm512_reduce_add_ps(a) }
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    const WIDTH: usize = 8;
    const PANEL: usize = 2;
    const ROWS: usize = 6;
    type V = __m256;
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA and passes a pointer to WIDTH floats.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: the caller runs with AVX2 and FMA and passes a pointer to WIDTH floats.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn recip(a: __m256) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe {
            let r = _mm256_rcp_ps(a);
            _mm256_fmadd_ps(r, _mm256_fnmadd_ps(a, r, _mm256_set1_ps(1.0)), r)
        }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sum(a: __m256) -> f32 {
        // SAFETY: the caller runs with AVX2 and FMA (the trait's contract).
        unsafe {
            let half = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
            let pairs = _mm_add_ps(half, _mm_movehl_ps(half, half));
            _mm_cvtss_f32(_mm_add_ss(pairs, _mm_shuffle_ps::<1>(pairs, pairs)))
        }
    }
}

/// Four f32 in plain Rust (a b + c as two roundings: a fused operation would call libm).
struct Portable;

impl Simd for Portable {
    const WIDTH: usize = 4;
    const PANEL: usize = 4;
    const ROWS: usize = 4;
    type V = [f32; 4];
    #[inline(always)]
    unsafe fn load(p: *const f32) -> [f32; 4] {
        // SAFETY: the caller passes a pointer to WIDTH floats.
        unsafe { p.cast::<[f32; 4]>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: [f32; 4]) {
        // SAFETY: the caller passes a pointer to WIDTH floats.
        unsafe { p.cast::<[f32; 4]>().write_unaligned(v) }
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> [f32; 4] {
        [x; 4]
    }
    #[inline(always)]
    unsafe fn fma(a: [f32; 4], b: [f32; 4], c: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    unsafe fn mul(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn recip(a: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| 1.0 / a[i])
    }
    #[inline(always)]
    unsafe fn min(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i].min(b[i]))
    }
    #[inline(always)]
    unsafe fn max(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
        std::array::from_fn(|i| a[i].max(b[i]))
    }
    #[inline(always)]
    unsafe fn sum(a: [f32; 4]) -> f32 {
        (a[0] + a[1]) + (a[2] + a[3])
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn affine_avx512(tile: AffineTile<'_>) {
    // SAFETY: compiled with the features Avx512 needs; the tile was checked.
    unsafe { affine_any::<Avx512>(tile) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn affine_avx2(tile: AffineTile<'_>) {
    // SAFETY: compiled with the features Avx2 needs; the tile was checked.
    unsafe { affine_any::<Avx2>(tile) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn squash_avx512(activation: Activation, values: &mut [f32]) {
    // SAFETY: compiled with the features Avx512 needs.
    unsafe { squash::<Avx512>(activation, values) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn squash_avx2(activation: Activation, values: &mut [f32]) {
    // SAFETY: compiled with the features Avx2 needs.
    unsafe { squash::<Avx2>(activation, values) }
}

#[inline(always)]
unsafe fn affine_any<S: Simd>(tile: AffineTile<'_>) {
    // SAFETY: the caller runs with S's features and checked the tile.
    unsafe {
        match tile.layout {
            Layout::Panels => affine_rows::<S>(tile),
            Layout::Columns => affine_columns::<S>(tile),
        }
    }
}

/// Row by row, all n outputs at once: one vector of x against the same vector of each of
/// the n columns of W per step, n accumulators, each summed across its lanes at the end.
#[inline(always)]
unsafe fn affine_columns<S: Simd>(tile: AffineTile<'_>) {
    let (n_pad, k_pad) = (tile.n_pad(), padded(tile.k));
    for r in 0..tile.rows {
        // SAFETY: row r of x holds k_pad values and row r of out n_pad (`AffineTile::check`).
        unsafe {
            let x = tile.x.as_ptr().add(r * tile.x_stride);
            let out = tile.out.as_mut_ptr().add(r * n_pad);
            let args = (
                x,
                k_pad,
                tile.weights.as_ptr(),
                tile.bias.as_ptr(),
                out,
                tile.accumulate,
            );
            match tile.n {
                1 => dots::<S, 1>(args),
                2 => dots::<S, 2>(args),
                3 => dots::<S, 3>(args),
                4 => dots::<S, 4>(args),
                5 => dots::<S, 5>(args),
                6 => dots::<S, 6>(args),
                7 => dots::<S, 7>(args),
                _ => dots::<S, 8>(args),
            }
        }
    }
}

/// out[j] (+)= bias[j] + x . w[j] for the N columns of W' [N, k_pad].
#[inline(always)]
unsafe fn dots<S: Simd, const N: usize>(
    (x, k_pad, w, bias, out, accumulate): (
        *const f32,
        usize,
        *const f32,
        *const f32,
        *mut f32,
        bool,
    ),
) {
    // SAFETY: x holds k_pad floats, w N rows of k_pad, bias and out N (`affine_columns`).
    unsafe {
        let mut acc = [S::splat(0.0); N];
        let mut p = 0;
        while p < k_pad {
            let xv = S::load(x.add(p));
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = S::fma(xv, S::load(w.add(j * k_pad + p)), *acc);
            }
            p += S::WIDTH;
        }
        for (j, &acc) in acc.iter().enumerate() {
            let value = S::sum(acc) + *bias.add(j);
            *out.add(j) = if accumulate {
                *out.add(j) + value
            } else {
                value
            };
        }
    }
}

/// Rows in blocks of at most MR = S::ROWS, columns in panels of S::PANEL vectors (the last
/// panel narrower): each block keeps MR x PANEL accumulators in registers over the whole k
/// loop.
#[inline(always)]
unsafe fn affine_rows<S: Simd>(tile: AffineTile<'_>) {
    let n_pad = tile.n_pad();
    // ceil(rows / ROWS) blocks, the rows shared out evenly: 7 rows are 4 + 3, not 6 + 1,
    // whose one-row block would wait on its FMA latency as long as a full block computes.
    let blocks = tile.rows.div_ceil(S::ROWS);
    let mut r = 0;
    for block in 0..blocks {
        let mr = tile.rows / blocks + usize::from(block < tile.rows % blocks);
        let mut j = 0;
        while j < n_pad {
            let vectors = ((n_pad - j) / S::WIDTH).min(S::PANEL);
            // SAFETY: rows r..r + mr and columns j..j + vectors * WIDTH are inside the tile
            // (checked by `AffineTile::check`).
            unsafe {
                let x = tile.x.as_ptr().add(r * tile.x_stride);
                let w = tile.weights.as_ptr().add(j);
                let b = tile.bias.as_ptr().add(j);
                let out = tile.out.as_mut_ptr().add(r * n_pad + j);
                let args = (x, tile.x_stride, tile.k, w, n_pad, b, out, tile.accumulate);
                match mr {
                    6 => row_block::<S, 6>(vectors, args),
                    5 => row_block::<S, 5>(vectors, args),
                    4 => row_block::<S, 4>(vectors, args),
                    3 => row_block::<S, 3>(vectors, args),
                    2 => row_block::<S, 2>(vectors, args),
                    _ => row_block::<S, 1>(vectors, args),
                }
            }
            j += vectors * S::WIDTH;
        }
        r += mr;
    }
}

/// [`block`] for MR rows and `vectors` (1 to 4) vectors of columns.
#[inline(always)]
unsafe fn row_block<S: Simd, const MR: usize>(vectors: usize, args: BlockArgs) {
    // SAFETY: as for `block`.
    unsafe {
        match vectors {
            4 => block::<S, MR, 4>(args),
            3 => block::<S, MR, 3>(args),
            2 => block::<S, MR, 2>(args),
            _ => block::<S, MR, 1>(args),
        }
    }
}

type BlockArgs = (
    *const f32,
    usize,
    usize,
    *const f32,
    usize,
    *const f32,
    *mut f32,
    bool,
);

/// out[r, v] (+)= bias[v] + sum_p x[r, p] w[p, v] for MR rows and NV vectors of columns.
#[inline(always)]
unsafe fn block<S: Simd, const MR: usize, const NV: usize>(
    (x, x_stride, k, w, w_stride, bias, out, accumulate): BlockArgs,
) {
    // SAFETY: MR rows of x (k floats each), k rows of w and NV vectors of bias and of MR rows
    // of out are in bounds (`affine_rows`).
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; MR];
        for v in 0..NV {
            let b = S::load(bias.add(v * S::WIDTH));
            for (r, row) in acc.iter_mut().enumerate() {
                row[v] = if accumulate {
                    S::fma(
                        S::splat(1.0),
                        S::load(out.add(r * w_stride + v * S::WIDTH)),
                        b,
                    )
                } else {
                    b
                };
            }
        }
        for p in 0..k {
            let wp = w.add(p * w_stride);
            let mut wv = [S::splat(0.0); NV];
            for (v, wv) in wv.iter_mut().enumerate() {
                *wv = S::load(wp.add(v * S::WIDTH));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let xv = S::splat(*x.add(r * x_stride + p));
                for v in 0..NV {
                    row[v] = S::fma(xv, wv[v], row[v]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, &a) in row.iter().enumerate() {
                S::store(out.add(r * w_stride + v * S::WIDTH), a);
            }
        }
    }
}

/// Applies tanh, or the sigmoid through (1 + tanh(x / 2)) / 2, to `values` in place.
#[inline(always)]
unsafe fn squash<S: Simd>(activation: Activation, values: &mut [f32]) {
    let (scale, offset) = match activation {
        Activation::Sigmoid => (0.5, 0.5),
        _ => (1.0, 0.0),
    };
    // SAFETY: the caller runs with S's features; whole vectors are read and written inside
    // `values`, the rest through a local array of 16.
    unsafe {
        let chunks = values.len() / S::WIDTH;
        let ptr = values.as_mut_ptr();
        for c in 0..chunks {
            let at = ptr.add(c * S::WIDTH);
            let x = S::mul(S::load(at), S::splat(scale));
            S::store(at, S::fma(tanh::<S>(x), S::splat(scale), S::splat(offset)));
        }
        for v in &mut values[chunks * S::WIDTH..] {
            let mut lane = [0.0f32; 16];
            lane[0] = *v * scale;
            S::store(lane.as_mut_ptr(), tanh::<S>(S::load(lane.as_ptr())));
            *v = lane[0] * scale + offset;
        }
    }
}

/// tanh(x) as a rational function p(x) / q(x) of degrees 13 and 6 on x clamped to
/// [-7.9053, 7.9053] (where tanh rounds to +-1 in f32): p odd, q even, coefficients of Eigen's
/// float tanh; 1 / q from the reciprocal estimate and a Newton step, which costs a
/// third of a division. Maximum error a few ulp.
#[inline(always)]
unsafe fn tanh<S: Simd>(x: S::V) -> S::V {
    const CLAMP: f32 = 7.905_311;
    const P: [f32; 7] = [
        -2.760_768_5e-16,
        2.000_188e-13,
        -8.604_672e-11,
        5.122_297e-8,
        1.485_722_4e-5,
        6.372_619_3e-4,
        4.893_524_6e-3,
    ];
    const Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_6e-3, 4.893_525e-3];
    // SAFETY: the caller runs with S's features.
    unsafe {
        let x = S::max(S::min(x, S::splat(CLAMP)), S::splat(-CLAMP));
        let x2 = S::mul(x, x);
        let mut p = S::splat(P[0]);
        for &c in &P[1..] {
            p = S::fma(p, x2, S::splat(c));
        }
        let mut q = S::splat(Q[0]);
        for &c in &Q[1..] {
            q = S::fma(q, x2, S::splat(c));
        }
        S::mul(S::mul(p, x), S::recip(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic sequence in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn affine_matches_a_triple_loop_on_odd_sizes_for_every_isa_and_layout() {
        let sizes = [
            (1, 1, 1),
            (3, 5, 17),
            (7, 64, 64),
            (9, 13, 70),
            (4, 64, 3),
            (5, 33, 8),
            (2, 9, 33),
            (6, 7, 16),
            (13, 20, 40),
        ];
        for isa in Isa::available() {
            for (rows, k, n) in sizes {
                let layouts: &[Layout] = if n <= MAX_COLUMNS {
                    &[Layout::Panels, Layout::Columns]
                } else {
                    &[Layout::Panels]
                };
                for &layout in layouts {
                    for accumulate in [false, true] {
                        affine_case(isa, layout, accumulate, (rows, k, n));
                    }
                }
            }
        }
    }

    /// W [k, n] and x [rows, k] of values in [-1, 1); the kernel's result against f64 sums.
    fn affine_case(
        isa: Isa,
        layout: Layout,
        accumulate: bool,
        (rows, k, n): (usize, usize, usize),
    ) {
        let (n_pad, x_stride) = (padded(n), padded(k));
        let x = values(rows * x_stride, 1);
        let w = values(k * n, 2);
        let mut bias = values(n_pad, 3);
        bias[n..].fill(0.0);
        let weights: Vec<f32> = match layout {
            Layout::Panels => (0..k * n_pad)
                .map(|i| {
                    if i % n_pad < n {
                        w[i / n_pad * n + i % n_pad]
                    } else {
                        0.0
                    }
                })
                .collect(),
            Layout::Columns => (0..n * x_stride)
                .map(|i| {
                    if i % x_stride < k {
                        w[i % x_stride * n + i / x_stride]
                    } else {
                        0.0
                    }
                })
                .collect(),
        };
        let before = values(rows * n_pad, 4);
        let mut out = before.clone();
        let tile = AffineTile {
            rows,
            k,
            x: &x,
            x_stride,
            weights: &weights,
            bias: &bias,
            out: &mut out,
            accumulate,
            layout,
            n,
        };
        affine(isa, tile);
        for r in 0..rows {
            for j in 0..n {
                let start = if accumulate {
                    f64::from(before[r * n_pad + j])
                } else {
                    0.0
                };
                let expected = (0..k).fold(start + f64::from(bias[j]), |acc, p| {
                    acc + f64::from(x[r * x_stride + p]) * f64::from(w[p * n + j])
                });
                let got = f64::from(out[r * n_pad + j]);
                assert!(
                    (got - expected).abs() <= 1e-5 * (1.0 + k as f64),
                    "{isa:?} {layout:?} accumulate {accumulate} ({rows},{k},{n}) [{r},{j}]: \
                     {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn tanh_and_sigmoid_are_within_a_few_ulp_for_every_isa() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.005).collect();
        for isa in Isa::available() {
            for activation in [Activation::Tanh, Activation::Sigmoid] {
                let mut ys = xs.clone();
                activate(isa, activation, &mut ys);
                for (&x, &y) in xs.iter().zip(&ys) {
                    let x64 = f64::from(x);
                    let exact = match activation {
                        Activation::Tanh => x64.tanh(),
                        _ => 1.0 / (1.0 + (-x64).exp()),
                    };
                    assert!(
                        (f64::from(y) - exact).abs() <= 4.0 * f64::from(f32::EPSILON),
                        "{isa:?} {activation:?}({x}) = {y}, exact {exact}"
                    );
                }
            }
        }
    }
}
