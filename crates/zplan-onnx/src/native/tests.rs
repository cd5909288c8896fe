//! The native evaluator against ONNX Runtime on real ONNX files, with every kernel set the CPU
//! has.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};

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

/// The reverse-mode Jacobians of `path` at 200 points (several tiles of points and a partial
/// one) with every ISA, as `check(point, row, column, found)` sees them (columns: z then u).
fn native_jacobians(
    path: &Path,
    (nz, nu): (usize, usize),
    z: &Array2<f32>,
    u: &Array2<f32>,
    mut check: impl FnMut(usize, usize, usize, f32),
) {
    let points = z.nrows();
    for isa in Isa::available() {
        let mut native = NativeNet::compile_differentiable(path, ("z", "u"), "z_next", (nz, nu))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .with_isa(isa);
        let mut a = Array3::from_elem((points, nz, nz), f32::NAN);
        let mut b = Array3::from_elem((points, nz, nu), f32::NAN);
        native.jacobians(z.view(), u.view(), a.view_mut(), b.view_mut());
        for ((t, i, j), &found) in a.indexed_iter() {
            check(t, i, j, found);
        }
        for ((t, i, j), &found) in b.indexed_iter() {
            check(t, i, nz + j, found);
        }
    }
}

#[test]
fn native_jacobians_are_the_models_own_a_and_b_outputs() {
    // The trainer's exact A/B (shipped models) and the fixture's two summed MatMuls.
    let mut paths = vec![(fixtures().join("mlp/dynamics.onnx"), (3, 2))];
    for (task, dims) in [
        ("planar", (2, 2)),
        ("swing", (3, 1)),
        ("balance", (3, 1)),
        ("cartpole", (8, 1)),
        ("threepole", (8, 3)),
    ] {
        paths.push((root().join("models").join(task).join("dynamics.onnx"), dims));
    }
    for (path, (nz, nu)) in paths {
        let z = inputs(200, nz, 3, 3.0);
        let u = inputs(200, nu, 4, 1.0);
        let dir = path.parent().unwrap();
        let mut net =
            Net::open(dir, "dynamics.onnx", "dynamics", &NetworkOptions::default()).unwrap();
        net.set_outputs(vec![
            ("z_next".into(), vec![nz]),
            ("A".into(), vec![nz, nz]),
            ("B".into(), vec![nz, nu]),
        ]);
        let mut a = Array3::zeros((200, nz, nz));
        let mut b = Array3::zeros((200, nz, nu));
        let mut z_next = Array2::zeros((200, nz));
        let feeds = [("z", z.view().into_dyn()), ("u", u.view().into_dyn())];
        let mut outputs = [
            Some(z_next.view_mut().into_dyn()),
            Some(a.view_mut().into_dyn()),
            Some(b.view_mut().into_dyn()),
        ];
        net.run(200, &feeds, &mut outputs).unwrap();
        native_jacobians(&path, (nz, nu), &z, &u, |t, i, j, found| {
            let expected = if j < nz {
                a[[t, i, j]]
            } else {
                b[[t, i, j - nz]]
            };
            assert!(
                (found - expected).abs() <= 2e-5 * (1.0 + expected.abs()),
                "{} point {t}, d{i}/d{j}: native {found}, the model's output {expected}",
                path.display()
            );
        });
    }
}

#[test]
fn native_jacobians_of_every_supported_operation_are_central_differences() {
    // Every activation, Add/Sub/Mul of values and constants, Concat, Gemm and MatMul.
    for (path, (nz, nu)) in [
        (fixtures().join("native/activations.onnx"), (3, 2)),
        (fixtures().join("native/chain.onnx"), (3, 2)),
        (fixtures().join("torch/dynamics.onnx"), (2, 1)),
        (fixtures().join("linear/dynamics.onnx"), (3, 2)),
    ] {
        let (z, u) = (inputs(200, nz, 5, 3.0), inputs(200, nu, 6, 1.5));
        let mut forward = NativeNet::compile(&path, ("z", "u"), "z_next", (nz, nu)).unwrap();
        let h = 1e-3f32;
        // f(x + s h e_j) for s = -1, 0, 1, as [3][column] of [points, nz].
        let shifted: Vec<Vec<Array2<f32>>> = [-1.0f32, 0.0, 1.0]
            .iter()
            .map(|&s| {
                (0..nz + nu)
                    .map(|j| {
                        let (mut z, mut u) = (z.clone(), u.clone());
                        if j < nz {
                            z.column_mut(j).mapv_inplace(|v| v + s * h);
                        } else {
                            u.column_mut(j - nz).mapv_inplace(|v| v + s * h);
                        }
                        let mut y = Array2::zeros((200, nz));
                        forward.run(z.view(), u.view(), y.view_mut());
                        y
                    })
                    .collect()
            })
            .collect();
        let mut checked = 0;
        native_jacobians(&path, (nz, nu), &z, &u, |t, i, j, found| {
            let [minus, centre, plus] = [0, 1, 2].map(|s| shifted[s][j][[t, i]]);
            let (left, right) = ((centre - minus) / h, (plus - centre) / h);
            // Where a kink (ReLU at 0) lies within h the one-sided slopes differ: skipped.
            if (left - right).abs() > 1e-2 * (1.0 + left.abs()) {
                return;
            }
            let central = (plus - minus) / (2.0 * h);
            checked += 1;
            assert!(
                (found - central).abs() <= 1e-2 * (1.0 + central.abs()),
                "{} point {t}, d{i}/d{j}: native {found}, central difference {central}",
                path.display()
            );
        });
        let total = Isa::available().len() * 200 * nz * (nz + nu);
        assert!(
            checked * 10 > total * 9,
            "{}: {checked} of {total} checked",
            path.display()
        );
    }
}

#[test]
fn dense_chains_take_the_chain_product_and_agree_with_the_reverse_program() {
    let mut cases = vec![
        (
            fixtures().join("native/chain.onnx"),
            (3, 2),
            NativeJacobians::DenseChain,
        ),
        (
            fixtures().join("torch/dynamics.onnx"),
            (2, 1),
            NativeJacobians::DenseChain,
        ),
        (
            fixtures().join("native/activations.onnx"),
            (3, 2),
            NativeJacobians::ReverseProgram,
        ),
        (
            fixtures().join("mlp/dynamics.onnx"),
            (3, 2),
            NativeJacobians::ReverseProgram,
        ),
    ];
    for (task, dims) in [
        ("planar", (2, 2)),
        ("cartpole", (8, 1)),
        ("threepole", (8, 3)),
    ] {
        let path = root().join("models").join(task).join("dynamics.onnx");
        cases.push((path, dims, NativeJacobians::DenseChain));
    }
    for (path, (nz, nu), method) in cases {
        let (z, u) = (inputs(150, nz, 7, 2.0), inputs(150, nu, 8, 1.0));
        for isa in Isa::available() {
            let compile = || {
                NativeNet::compile_differentiable(&path, ("z", "u"), "z_next", (nz, nu))
                    .unwrap()
                    .with_isa(isa)
            };
            let mut net = compile();
            assert_eq!(net.jacobian_method(), Some(method), "{}", path.display());
            let mut program = compile().with_reverse_program();
            let mut found = [Array3::zeros((150, nz, nz)), Array3::zeros((150, nz, nu))];
            let mut expected = found.clone();
            let [a, b] = &mut found;
            net.jacobians(z.view(), u.view(), a.view_mut(), b.view_mut());
            let [a, b] = &mut expected;
            program.jacobians(z.view(), u.view(), a.view_mut(), b.view_mut());
            for (found, expected) in found.iter().zip(&expected) {
                for (f, e) in found.iter().zip(expected) {
                    assert!(
                        (f - e).abs() <= 1e-5 * (1.0 + e.abs()),
                        "{} ({isa:?}): {f} against the reverse program's {e}",
                        path.display()
                    );
                }
            }
        }
    }
}

/// The shipped encoders compiled with every ISA give ONNX Runtime's z on images of values
/// spread over [0, 1] (two images: the batch loop).
#[test]
fn the_shipped_encoders_run_natively_as_onnxruntime_runs_them() {
    for (task, image, nz) in [
        ("planar", [1, 40, 40], 2),
        ("swing", [2, 48, 48], 3),
        ("balance", [2, 48, 48], 3),
        ("cartpole", [2, 80, 80], 8),
        ("threepole", [2, 80, 80], 8),
    ] {
        let dir = root().join("models").join(task);
        let len = image.iter().product::<usize>();
        let images = inputs(2, len, 7, 0.5).mapv(|v| v + 0.5);
        let mut net =
            Net::open(&dir, "encoder.onnx", "encoder", &NetworkOptions::default()).unwrap();
        net.set_outputs(vec![("z".into(), vec![nz])]);
        let shaped = images
            .view()
            .into_shape_with_order((2, image[0], image[1], image[2]));
        let mut expected = Array2::zeros((2, nz));
        net.run(
            2,
            &[("obs", shaped.unwrap().into_dyn())],
            &mut [Some(expected.view_mut().into_dyn())],
        )
        .unwrap();
        for isa in Isa::available() {
            let path = dir.join("encoder.onnx");
            let mut native = NativeEncoder::compile(&path, "obs", "z", image, nz)
                .unwrap_or_else(|e| panic!("{task}: {e}"))
                .with_isa(isa);
            let mut found = Array2::from_elem((2, nz), f32::NAN);
            native.run(images.as_slice().unwrap(), found.as_slice_mut().unwrap());
            for ((index, &f), &e) in found.indexed_iter().zip(&expected) {
                assert!(
                    (f - e).abs() <= 1e-4 * (1.0 + e.abs()),
                    "{task} {isa:?} {index:?}: native {f}, onnxruntime {e}"
                );
            }
        }
    }
}

fn tensor(dims: &[usize], seed: u64) -> (Vec<usize>, Vec<f32>) {
    let len = dims.iter().product();
    (
        dims.to_vec(),
        inputs(1, len, seed, 1.0).into_raw_vec_and_offset().0,
    )
}

fn ints(name: &str, values: &[i64]) -> graph::Attribute {
    graph::Attribute {
        name: name.into(),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<graph::Attribute>) -> Node {
    Node {
        op_type: op.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: vec![output.into()],
        attributes,
        ..Default::default()
    }
}

/// y[o, py, px] = b[o] + sum x[c, sy py + i - pt, sx px + j - pl] W[o, c, i, j], zero outside.
#[allow(clippy::too_many_arguments)]
fn convolve(
    x: &[f64],
    (c, h, w): (usize, usize, usize),
    weights: &[f32],
    bias: &[f32],
    (o, kh, kw): (usize, usize, usize),
    (sy, sx): (usize, usize),
    [pt, pl, pb, pr]: [usize; 4],
) -> (Vec<f64>, (usize, usize, usize)) {
    let (ho, wo) = ((h + pt + pb - kh) / sy + 1, (w + pl + pr - kw) / sx + 1);
    let mut y = vec![0.0; o * ho * wo];
    for oc in 0..o {
        for py in 0..ho {
            for px in 0..wo {
                let mut sum = f64::from(bias[oc]);
                for ci in 0..c {
                    for i in 0..kh {
                        for j in 0..kw {
                            let (yy, xx) = (
                                (py * sy + i) as isize - pt as isize,
                                (px * sx + j) as isize - pl as isize,
                            );
                            if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                                sum += x[(ci * h + yy as usize) * w + xx as usize]
                                    * f64::from(weights[((oc * c + ci) * kh + i) * kw + j]);
                            }
                        }
                    }
                }
                y[(oc * ho + py) * wo + px] = sum;
            }
        }
    }
    (y, (o, ho, wo))
}

/// Padded, strided, non-square convolutions (channel-major input, then pixel-major maps of 17
/// channels: not a multiple of the vector width), a flatten and a Gemm of 11 outputs (a partial
/// group of columns) against the definition, with every ISA.
#[test]
fn padded_strided_convolutions_match_their_definition() {
    let (c, h, w) = (3, 9, 7);
    let (w1, b1) = (tensor(&[17, 3, 3, 2], 11), tensor(&[17], 12));
    let (w2, b2) = (tensor(&[5, 17, 2, 3], 13), tensor(&[5], 14));
    let mut graph = Graph::default();
    let mut flat = 0;
    for (name, (dims, values)) in [
        ("w1", w1.clone()),
        ("b1", b1.clone()),
        ("w2", w2.clone()),
        ("b2", b2.clone()),
    ] {
        graph.initializers.insert(
            name.into(),
            Tensor {
                dims,
                values: Some(values),
            },
        );
    }
    // Reference.
    let x = inputs(1, c * h * w, 15, 1.0).into_raw_vec_and_offset().0;
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let (y1, s1) = convolve(
        &x64,
        (c, h, w),
        &w1.1,
        &b1.1,
        (17, 3, 2),
        (2, 1),
        [1, 0, 0, 1],
    );
    let y1: Vec<f64> = y1.iter().map(|v| v.max(0.0)).collect();
    let (y2, s2) = convolve(&y1, s1, &w2.1, &b2.1, (5, 2, 3), (1, 2), [0, 1, 1, 0]);
    flat += s2.0 * s2.1 * s2.2;
    let (w3, b3) = (tensor(&[11, flat], 16), tensor(&[11], 17));
    let expected: Vec<f64> = (0..11)
        .map(|j| {
            f64::from(b3.1[j])
                + (0..flat)
                    .map(|p| y2[p] * f64::from(w3.1[j * flat + p]))
                    .sum::<f64>()
        })
        .collect();
    graph.initializers.insert(
        "w3".into(),
        Tensor {
            dims: w3.0,
            values: Some(w3.1),
        },
    );
    graph.initializers.insert(
        "b3".into(),
        Tensor {
            dims: b3.0,
            values: Some(b3.1),
        },
    );
    graph.nodes = vec![
        node(
            "Conv",
            &["obs", "w1", "b1"],
            "c1",
            vec![ints("strides", &[2, 1]), ints("pads", &[1, 0, 0, 1])],
        ),
        node("Relu", &["c1"], "r1", vec![]),
        node(
            "Conv",
            &["r1", "w2", "b2"],
            "c2",
            vec![
                ints("strides", &[1, 2]),
                ints("pads", &[0, 1, 1, 0]),
                ints("kernel_shape", &[2, 3]),
            ],
        ),
        node("Flatten", &["c2"], "f", vec![]),
        node(
            "Gemm",
            &["f", "w3", "b3"],
            "z",
            vec![graph::Attribute {
                name: "transB".into(),
                int: Some(1),
                ..Default::default()
            }],
        ),
    ];
    for isa in Isa::available() {
        let mut native = NativeEncoder::from_graph(&graph, "obs", "z", [c, h, w], 11)
            .unwrap()
            .with_isa(isa);
        let mut z = vec![f32::NAN; 11];
        native.run(&x, &mut z);
        for (j, (&f, &e)) in z.iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(f) - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "{isa:?} z[{j}]: {f}, expected {e}"
            );
        }
    }
    // What it does not compile is named.
    graph.nodes[1].op_type = "Log".into();
    let err = NativeEncoder::from_graph(&graph, "obs", "z", [c, h, w], 11)
        .err()
        .unwrap();
    assert!(
        err.contains("Log") && err.contains("not supported"),
        "{err}"
    );
    graph.nodes[1].op_type = "Relu".into();
    graph.nodes[0].attributes.push(ints("dilations", &[2, 2]));
    let err = NativeEncoder::from_graph(&graph, "obs", "z", [c, h, w], 11)
        .err()
        .unwrap();
    assert!(err.contains("dilations"), "{err}");
}

/// The seeds of the `native_encoder` fuzz target compile and run: the fuzzer starts from
/// encoders the evaluator takes ([c, h, w, nz] as zplan-fuzz maps them, then the model).
#[test]
fn the_native_encoder_fuzz_seeds_compile() {
    let dir = root().join("fuzz/corpus/native_encoder");
    for (name, image, nz) in [
        ("seed-conv-1x8x8-z3", [1, 8, 8], 3),
        ("seed-mlp-2x4x4-z2", [2, 4, 4], 2),
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let mut native = NativeEncoder::from_bytes(&bytes[4..], "obs", "z", image, nz)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut z = vec![f32::NAN; nz];
        native.run(&vec![0.5; image.iter().product()], &mut z);
        assert!(z.iter().all(|v| v.is_finite()), "{name}: {z:?}");
    }
}
