//! Per-call latency, single thread: the shipped encoders (batch 1) through zplan's native
//! evaluator and through ONNX Runtime side by side, and the dynamics at batch 1, 10, 330 (a DDP linearisation)
//! and 1000 (a sampling planner's step) through zplan's native evaluator and through ONNX
//! Runtime side by side. The networks are the random-weight bench fixtures of zplan-onnx
//! (make_fixtures.py); the Jacobians of a linearisation are timed on the shipped planar,
//! cart-pole and three-link-arm bundles.

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndarray::{Array2, Array3, Array4};
use zplan_onnx::{Bundle, NetworkOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/zplan-onnx/tests/fixtures")
        .join(name)
}

fn bench(c: &mut Criterion) {
    // The shipped encoders: MLPs on 1x40x40 and 2x48x48, convolutions on 2x80x80.
    let mut group = c.benchmark_group("encoder");
    for (task, label) in [
        ("planar", "planar_1x40x40_mlp"),
        ("swing", "swing_2x48x48_mlp"),
        ("cartpole", "cartpole_2x80x80_conv"),
        ("threepole", "threepole_2x80x80_conv"),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(task);
        for (evaluator, native_encoder) in [("native", true), ("onnxruntime", false)] {
            let options = NetworkOptions {
                native_encoder,
                ..NetworkOptions::default()
            };
            let mut bundle = Bundle::load_with(&path, &options).expect("shipped bundle loads");
            let obs = bundle.encoder().observation();
            let nz = bundle.encoder().latent_dim();
            let image =
                Array4::<f32>::from_elem((1, obs.stacked_channels(), obs.height, obs.width), 0.5);
            let mut z = Array2::<f32>::zeros((1, nz));
            group.bench_function(BenchmarkId::new(evaluator, label), |b| {
                b.iter(|| {
                    bundle
                        .encoder()
                        .encode(image.view(), z.view_mut())
                        .expect("encodes")
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("dynamics_nz8_nu1_mlp64");
    for (evaluator, native) in [("native", true), ("onnxruntime", false)] {
        let options = NetworkOptions {
            native,
            ..NetworkOptions::default()
        };
        let mut bundle =
            Bundle::load_with(&fixture("bench-cartpole"), &options).expect("bench fixture loads");
        for batch in [1, 10, 330, 1000] {
            let z = Array2::<f32>::from_elem((batch, 8), 0.1);
            let u = Array2::<f32>::from_elem((batch, 1), 0.2);
            let mut z_next = Array2::<f32>::zeros((batch, 8));
            group.bench_function(BenchmarkId::new(evaluator, batch), |b| {
                b.iter(|| {
                    bundle
                        .dynamics()
                        .step(z.view(), u.view(), z_next.view_mut())
                        .expect("steps")
                })
            });
        }
    }
    group.finish();

    // A linearisation of the MPC step (7 candidates x 20 steps) on the shipped bundles with
    // model Jacobians: the native kernels (a dense chain's product) against the A/B outputs on
    // ONNX Runtime.
    for task in ["planar", "cartpole", "threepole"] {
        let mut group = c.benchmark_group(format!("jacobians_{task}_140_points"));
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models")
            .join(task);
        for (evaluator, native) in [("native", true), ("onnxruntime", false)] {
            let options = NetworkOptions {
                native,
                ..NetworkOptions::default()
            };
            let mut bundle = Bundle::load_with(&path, &options).expect("shipped model loads");
            let (nz, nu) = (
                bundle.dynamics().latent_dim(),
                bundle.dynamics().action_dim(),
            );
            let z = Array2::from_shape_fn((140, nz), |(i, j)| ((i + 3 * j) % 7) as f32 * 0.3 - 1.0);
            let u = Array2::from_shape_fn((140, nu), |(i, j)| ((i + j) % 5) as f32 * 0.5 - 1.0);
            let mut a = Array3::<f32>::zeros((140, nz, nz));
            let mut b = Array3::<f32>::zeros((140, nz, nu));
            group.bench_function(evaluator, |bench| {
                bench.iter(|| {
                    bundle
                        .dynamics()
                        .jacobians(z.view(), u.view(), a.view_mut(), b.view_mut())
                        .expect("linearises")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
