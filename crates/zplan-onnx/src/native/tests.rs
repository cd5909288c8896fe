//! The native evaluator against ONNX Runtime on real ONNX files, with every kernel set the CPU
//! has.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::*;
use crate::network::{Net, NetworkOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Inputs in [-scale, scale), deterministic.
fn inputs(rows: usize, cols: usize, seed: u64, scale: f32) -> Array2<f32> {
    let mut s = seed;
    Array2::from_shape_fn((rows, cols), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
    })
}

/// ONNX Runtime's z_next for (z, u).
fn onnxruntime(path: &Path, z: &Array2<f32>, u: &Array2<f32>) -> Array2<f32> {
    let dir = path.parent().unwrap();
    let file = path.file_name().unwrap().to_str().unwrap();
    let mut net = Net::open(dir, file, "dynamics", &NetworkOptions::default()).unwrap();
    net.set_outputs(vec![("z_next".into(), vec![z.ncols()])]);
    let mut out = Array2::zeros(z.raw_dim());
    let inputs = [("z", z.view().into_dyn()), ("u", u.view().into_dyn())];
    let mut outputs = [Some(out.view_mut().into_dyn())];
    net.run(z.nrows(), &inputs, &mut outputs).unwrap();
    out
}

/// Compiles `path`, runs 200 rows (three full tiles and a partial one) with every ISA and
/// compares with ONNX Runtime.
fn agrees_with_onnxruntime(path: &Path, (nz, nu): (usize, usize)) {
    let z = inputs(200, nz, 1, 3.0);
    let u = inputs(200, nu, 2, 1.5);
    let expected = onnxruntime(path, &z, &u);
    for isa in Isa::available() {
        let mut native = NativeNet::compile(path, ("z", "u"), "z_next", (nz, nu))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .with_isa(isa);
        let mut found = Array2::from_elem((200, nz), f32::NAN);
        native.run(z.view(), u.view(), found.view_mut());
        for ((index, &f), &e) in found.indexed_iter().zip(&expected) {
            assert!(
                (f - e).abs() <= 2e-5 * (1.0 + e.abs()),
                "{} {isa:?} {index:?}: native {f}, onnxruntime {e}",
                path.display()
            );
        }
    }
}

#[test]
fn the_shipped_dynamics_run_natively_as_onnxruntime_runs_them() {
    for (task, dims) in [
        ("planar", (2, 2)),
        ("swing", (3, 1)),
        ("balance", (3, 1)),
        ("cartpole", (8, 1)),
        ("threepole", (8, 3)),
    ] {
        agrees_with_onnxruntime(
            &root().join("models").join(task).join("dynamics.onnx"),
            dims,
        );
    }
}

#[test]
fn every_supported_operation_and_external_weights_run_as_onnxruntime_runs_them() {
    agrees_with_onnxruntime(&fixtures().join("native/activations.onnx"), (3, 2));
    // torch.onnx.export's defaults: Concat, Gemm, weights in dynamics.onnx.data.
    agrees_with_onnxruntime(&fixtures().join("torch/dynamics.onnx"), (2, 1));
    // Two MatMuls summed, and z_next beside A and B outputs the evaluator does not compute.
    agrees_with_onnxruntime(&fixtures().join("mlp/dynamics.onnx"), (3, 2));
    agrees_with_onnxruntime(&fixtures().join("linear/dynamics.onnx"), (3, 2));
}

#[test]
fn an_unsupported_operation_is_named() {
    let path = fixtures().join("nan-dynamics/dynamics.onnx");
    let err = NativeNet::compile(&path, ("z", "u"), "z_next", (1, 1))
        .err()
        .unwrap();
    assert!(
        err.contains("Log") && err.contains("not supported"),
        "{err}"
    );
}

#[test]
fn a_truncated_file_is_an_error() {
    let bytes = std::fs::read(fixtures().join("mlp/dynamics.onnx")).unwrap();
    for cut in [1, bytes.len() / 3, bytes.len() - 1] {
        let err = Graph::from_bytes(&bytes[..cut], None).unwrap_err();
        assert!(err.contains("not an ONNX model"), "cut at {cut}: {err}");
    }
}

#[test]
fn external_data_outside_the_model_directory_is_refused() {
    let mut bytes = std::fs::read(fixtures().join("native/activations.onnx")).unwrap();
    let at = bytes
        .windows(22)
        .position(|w| w == b"activations.onnx.data\0" || w.starts_with(b"activations.onnx.data"))
        .unwrap();
    bytes[at..at + 3].copy_from_slice(b"../");
    let err = Graph::from_bytes(&bytes, Some(&fixtures().join("native"))).unwrap_err();
    assert!(err.contains("outside the model's directory"), "{err}");
}
