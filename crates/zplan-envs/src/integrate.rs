//! One step of an ODE with the action held: classic fourth-order Runge-Kutta on equal substeps.

/// x <- x + integral over `dt` of f(x), by RK4 on `substeps` equal steps.
pub(crate) fn rk4<const N: usize>(
    x: &mut [f64; N],
    dt: f64,
    substeps: usize,
    f: impl Fn(&[f64; N]) -> [f64; N],
) {
    let h = dt / substeps as f64;
    let axpy =
        |x: &[f64; N], a: f64, k: &[f64; N]| std::array::from_fn::<f64, N, _>(|i| x[i] + a * k[i]);
    for _ in 0..substeps {
        let k1 = f(x);
        let k2 = f(&axpy(x, h / 2.0, &k1));
        let k3 = f(&axpy(x, h / 2.0, &k2));
        let k4 = f(&axpy(x, h, &k3));
        for i in 0..N {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
}

/// Wraps x into [low, high] by whole periods (the reference's `wrap`).
pub(crate) fn wrap(mut x: f64, low: f64, high: f64) -> f64 {
    let period = high - low;
    while x > high {
        x -= period;
    }
    while x < low {
        x += period;
    }
    x
}
