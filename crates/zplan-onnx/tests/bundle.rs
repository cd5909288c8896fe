//! Bundles on the real ONNX Runtime: outputs against numpy (latent) and torch (video)
//! references, Jacobians, batch sizes, and one error per malformed-bundle case.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, IxDyn};
use serde_json::Value;
use tempfile::TempDir;
use zplan_onnx::{
    Bundle, BundleError, BundleKind, Evaluator, GraphOptimization, JacobianSpec, NetworkOptions,
    SessionSettings, VideoBundle,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// reference.json entry `key` as an f32 array.
fn reference(bundle: &str, key: &str) -> ArrayD<f32> {
    let text = std::fs::read_to_string(fixture(bundle).join("reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    fn shape_and_values(v: &Value, shape: &mut Vec<usize>, out: &mut Vec<f32>, depth: usize) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                for item in items {
                    shape_and_values(item, shape, out, depth + 1);
                }
            }
            Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            other => panic!("unexpected {other}"),
        }
    }
    let (mut shape, mut values) = (Vec::new(), Vec::new());
    shape_and_values(&json[key], &mut shape, &mut values, 0);
    ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap()
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A scratch copy of a fixture bundle, edited by `edit` on its manifest, in a temporary
/// directory removed with the guard.
fn edited(name: &str, tag: &str, edit: impl FnOnce(&mut Value)) -> (TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("zplan-bundle-{tag}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().to_path_buf();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let path = dir.join("zplan.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    (tmp, dir)
}

fn load_err(dir: &Path) -> BundleError {
    match Bundle::load(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn mlp_bundle_matches_numpy() {
    let mut bundle = Bundle::load(&fixture("mlp")).expect("mlp fixture loads");
    assert_eq!(bundle.manifest().latent_dim, 3);

    let obs = reference("mlp", "obs").into_dimensionality().unwrap();
    let mut z = Array2::<f32>::zeros((3, 3));
    bundle.encoder().encode(obs.view(), z.view_mut()).unwrap();
    assert!(max_diff(&z.clone().into_dyn(), &reference("mlp", "z_of_obs")) < 1e-5);

    let zin: Array2<f32> = reference("mlp", "z").into_dimensionality().unwrap();
    let uin: Array2<f32> = reference("mlp", "u").into_dimensionality().unwrap();
    let mut z_next = Array2::<f32>::zeros((3, 3));
    bundle
        .dynamics()
        .step(zin.view(), uin.view(), z_next.view_mut())
        .unwrap();
    assert!(max_diff(&z_next.into_dyn(), &reference("mlp", "z_next")) < 1e-5);

    let (mut a, mut b) = (
        Array3::<f32>::zeros((3, 3, 3)),
        Array3::<f32>::zeros((3, 3, 2)),
    );
    assert_eq!(bundle.dynamics().jacobian_mode(), JacobianSpec::Model);
    bundle
        .dynamics()
        .jacobians(zin.view(), uin.view(), a.view_mut(), b.view_mut())
        .unwrap();
    assert!(max_diff(&a.into_dyn(), &reference("mlp", "a")) < 1e-5);
    assert!(max_diff(&b.into_dyn(), &reference("mlp", "b")) < 1e-5);

    let mut decoded = Array4::<f32>::zeros((3, 1, 8, 8));
    bundle
        .decoder()
        .unwrap()
        .decode(zin.view(), decoded.view_mut())
        .unwrap();
    assert!(max_diff(&decoded.into_dyn(), &reference("mlp", "decoded")) < 1e-5);

    let mut r = Array1::<f32>::zeros(3);
    bundle
        .reward()
        .unwrap()
        .reward(zin.view(), uin.view(), r.view_mut())
        .unwrap();
    assert!(max_diff(&r.into_dyn(), &reference("mlp", "r")) < 1e-5);
}

#[test]
fn u8_images_are_scaled_to_unit_range() {
    let mut bundle = Bundle::load(&fixture("mlp")).unwrap();
    let bytes = Array4::from_shape_fn((2, 1, 8, 8), |(b, _, i, j)| {
        ((b * 64 + i * 8 + j) * 2) as u8
    });
    let scaled = bytes.mapv(|v| f32::from(v) / 255.0);
    let (mut z8, mut zf) = (Array2::zeros((2, 3)), Array2::zeros((2, 3)));
    bundle
        .encoder()
        .encode_u8(bytes.view(), z8.view_mut())
        .unwrap();
    bundle
        .encoder()
        .encode(scaled.view(), zf.view_mut())
        .unwrap();
    assert!(max_diff(&z8.into_dyn(), &zf.into_dyn()) < 1e-6);
}

#[test]
fn finite_difference_jacobians_match_the_exact_ones() {
    // The mlp dynamics' A/B outputs are exact Jacobians; central differences in one batched
    // call must agree.
    let (_tmp, dir) = edited("mlp", "fd", |m| {
        m["jacobians"] = serde_json::json!({"mode": "finite_differences", "step": 0.01})
    });
    // The largest difference of the bundle's A and B from the exact ones at the mlp fixture's
    // reference points.
    let jacobian_error = |dir: &Path| {
        let zin: Array2<f32> = reference("mlp", "z").into_dimensionality().unwrap();
        let uin: Array2<f32> = reference("mlp", "u").into_dimensionality().unwrap();
        let (mut a, mut b) = (
            Array3::<f32>::zeros((3, 3, 3)),
            Array3::<f32>::zeros((3, 3, 2)),
        );
        Bundle::load(dir)
            .unwrap()
            .dynamics()
            .jacobians(zin.view(), uin.view(), a.view_mut(), b.view_mut())
            .unwrap();
        max_diff(&a.into_dyn(), &reference("mlp", "a"))
            .max(max_diff(&b.into_dyn(), &reference("mlp", "b")))
    };
    assert!(jacobian_error(&dir) < 1e-3);

    // Forward differences: first-order accurate, so a looser bound, and a step 10x smaller
    // must shrink the error (what separates O(h) from a wrong formula).
    let forward_error = |step: f64| {
        let (_tmp, dir) = edited("mlp", &format!("fwd{step}"), |m| {
            m["jacobians"] = serde_json::json!({
                "mode": "finite_differences", "step": step, "scheme": "forward"
            })
        });
        jacobian_error(&dir)
    };
    let (coarse, fine) = (forward_error(0.05), forward_error(0.005));
    assert!(
        coarse < 5e-2 && fine < 5e-3 && fine < coarse / 3.0,
        "{coarse} {fine}"
    );

    // The conv bundle has no A/B outputs: differences against numpy's exact Jacobians.
    let mut conv = Bundle::load(&fixture("conv")).unwrap();
    let zin: Array2<f32> = reference("conv", "z").into_dimensionality().unwrap();
    let uin: Array2<f32> = reference("conv", "u").into_dimensionality().unwrap();
    let (mut a, mut b) = (
        Array3::<f32>::zeros((3, 4, 4)),
        Array3::<f32>::zeros((3, 4, 1)),
    );
    conv.dynamics()
        .jacobians(zin.view(), uin.view(), a.view_mut(), b.view_mut())
        .unwrap();
    assert!(max_diff(&a.into_dyn(), &reference("conv", "a")) < 1e-3);
    assert!(max_diff(&b.into_dyn(), &reference("conv", "b")) < 1e-3);
}

#[test]
fn the_shipped_models_jacobians_are_central_differences_of_their_own_z_next() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    for task in ["planar", "swing", "balance", "cartpole", "threepole"] {
        // The A/B outputs on ONNX Runtime, and zplan's reverse mode on the native kernels.
        for native in [false, true] {
            let options = NetworkOptions {
                native,
                ..NetworkOptions::default()
            };
            let mut bundle = Bundle::load_with(&models.join(task), &options).unwrap();
            assert_eq!(bundle.manifest().jacobians, JacobianSpec::Model, "{task}");
            assert_eq!(
                matches!(bundle.jacobian_evaluator(), Evaluator::Native { .. }),
                native,
                "{task}: {}",
                bundle.jacobian_evaluator()
            );
            let dynamics = bundle.dynamics();
            let (nz, nu, points) = (dynamics.latent_dim(), dynamics.action_dim(), 40);
            let z = Array2::from_shape_fn((points, nz), |(t, i)| {
                ((t * 7 + i * 3) % 13) as f32 * 0.4 - 2.4
            });
            let u =
                Array2::from_shape_fn((points, nu), |(t, j)| ((t * 5 + j) % 9) as f32 * 0.1 - 0.4);
            let (mut a, mut b) = (
                Array3::<f32>::zeros((points, nz, nz)),
                Array3::<f32>::zeros((points, nz, nu)),
            );
            dynamics
                .jacobians(z.view(), u.view(), a.view_mut(), b.view_mut())
                .unwrap();
            let h = 1e-2f32;
            for column in 0..nz + nu {
                let [mut plus, mut minus] =
                    [Array2::zeros((points, nz)), Array2::zeros((points, nz))];
                for (sign, out) in [(1.0, &mut plus), (-1.0, &mut minus)] {
                    let (mut z, mut u) = (z.clone(), u.clone());
                    if column < nz {
                        z.column_mut(column).mapv_inplace(|v| v + sign * h);
                    } else {
                        u.column_mut(column - nz).mapv_inplace(|v| v + sign * h);
                    }
                    dynamics.step(z.view(), u.view(), out.view_mut()).unwrap();
                }
                for t in 0..points {
                    for i in 0..nz {
                        let central = (plus[[t, i]] - minus[[t, i]]) / (2.0 * h);
                        let exact = if column < nz {
                            a[[t, i, column]]
                        } else {
                            b[[t, i, column - nz]]
                        };
                        assert!(
                            (exact - central).abs() <= 2e-3 * (1.0 + central.abs()),
                            "{task} (native {native}) point {t}: dz'_{i}/dx_{column} {exact}, central difference {central}"
                        );
                    }
                }
            }
        }
    }
}

/// The fixture's encoder on its reference images and its dynamics on its reference (z, u) give
/// the reference outputs (computed by numpy or torch when the fixture was made).
fn encoder_and_dynamics_match_the_reference(bundle: &mut Bundle, name: &str, nz: usize) {
    let obs: Array4<f32> = reference(name, "obs").into_dimensionality().unwrap();
    let mut z = Array2::<f32>::zeros((3, nz));
    bundle.encoder().encode(obs.view(), z.view_mut()).unwrap();
    assert!(max_diff(&z.into_dyn(), &reference(name, "z_of_obs")) < 1e-5);
    let zin: Array2<f32> = reference(name, "z").into_dimensionality().unwrap();
    let uin: Array2<f32> = reference(name, "u").into_dimensionality().unwrap();
    let mut z_next = Array2::<f32>::zeros((3, nz));
    bundle
        .dynamics()
        .step(zin.view(), uin.view(), z_next.view_mut())
        .unwrap();
    assert!(max_diff(&z_next.into_dyn(), &reference(name, "z_next")) < 1e-5);
}

#[test]
fn conv_encoder_with_stacked_frames_matches_numpy() {
    let mut bundle = Bundle::load(&fixture("conv")).unwrap();
    assert_eq!(bundle.encoder().observation().stacked_channels(), 2);
    encoder_and_dynamics_match_the_reference(&mut bundle, "conv", 4);
}

#[test]
fn torch_export_with_external_data_loads_and_matches_torch() {
    assert!(fixture("torch").join("encoder.onnx.data").is_file());
    let mut bundle = Bundle::load(&fixture("torch")).expect("torch.onnx.export defaults load");
    encoder_and_dynamics_match_the_reference(&mut bundle, "torch", 2);
}

/// The defaults and every single change from them.
fn session_settings() -> Vec<SessionSettings> {
    let all = SessionSettings::one_change_each();
    // Every graph optimisation level and three switches.
    assert_eq!(all.len(), GraphOptimization::ALL.len() + 3);
    all.into_iter().map(|(_, settings)| settings).collect()
}

#[test]
fn every_session_setting_gives_the_reference_outputs() {
    for session in session_settings() {
        let options = NetworkOptions {
            session,
            native: false,
            ..NetworkOptions::default()
        };
        // A conv encoder (the layout rewrites apply to it) and an MLP with model Jacobians.
        let mut conv = Bundle::load_with(&fixture("conv"), &options).unwrap();
        encoder_and_dynamics_match_the_reference(&mut conv, "conv", 4);
        let mut mlp = Bundle::load_with(&fixture("mlp"), &options).unwrap();
        let z: Array2<f32> = reference("mlp", "z").into_dimensionality().unwrap();
        let u: Array2<f32> = reference("mlp", "u").into_dimensionality().unwrap();
        // Twice at the same batch size, the second time on other inputs: a run on a binding
        // made for the first call must read the new inputs.
        for (zin, uin) in [(z.clone(), u.clone()), (z.clone() * 0.5, u.clone() * -1.0)] {
            let mut z_next = Array2::<f32>::zeros((3, 3));
            mlp.dynamics()
                .step(zin.view(), uin.view(), z_next.view_mut())
                .unwrap();
            let mut one = Array2::<f32>::zeros((1, 3));
            mlp.dynamics()
                .step(
                    zin.slice(ndarray::s![2..3, ..]),
                    uin.slice(ndarray::s![2..3, ..]),
                    one.view_mut(),
                )
                .unwrap();
            let diff = (&one.row(0) - &z_next.row(2)).mapv(f32::abs).sum();
            assert!(diff < 1e-5, "{session:?}: row 2 alone differs by {diff}");
            if zin == z {
                let expected = reference("mlp", "z_next");
                assert!(
                    max_diff(&z_next.into_dyn(), &expected) < 1e-5,
                    "{session:?}"
                );
            } else {
                assert!(max_diff(&z_next.into_dyn(), &reference("mlp", "z_next")) > 1e-3);
            }
        }
        // Other outputs of the same network at the same batch size: A and B.
        let (mut a, mut b) = (Array3::zeros((3, 3, 3)), Array3::zeros((3, 3, 2)));
        mlp.dynamics()
            .jacobians(z.view(), u.view(), a.view_mut(), b.view_mut())
            .unwrap();
        assert!(
            max_diff(&a.into_dyn(), &reference("mlp", "a")) < 1e-5,
            "{session:?}"
        );
        assert!(
            max_diff(&b.into_dyn(), &reference("mlp", "b")) < 1e-5,
            "{session:?}"
        );
    }
}

#[test]
fn a_nan_output_is_an_error_under_every_session_setting() {
    for session in session_settings() {
        let options = NetworkOptions {
            session,
            native: false,
            ..NetworkOptions::default()
        };
        let mut bundle = Bundle::load_with(&fixture("nan-dynamics"), &options).unwrap();
        let nz = bundle.dynamics().latent_dim();
        let nu = bundle.dynamics().action_dim();
        // z' = z + log(u + 1): NaN for u < -1.
        let (z, u) = (
            Array2::<f32>::zeros((4, nz)),
            Array2::from_elem((4, nu), -2.0f32),
        );
        let mut z_next = Array2::<f32>::zeros((4, nz));
        let result = bundle
            .dynamics()
            .step(z.view(), u.view(), z_next.view_mut());
        assert!(
            matches!(result, Err(BundleError::NonFiniteOutput { .. })),
            "{session:?}: {result:?}"
        );
    }
}

#[test]
fn batch_1_and_batch_330_give_the_same_rows() {
    let mut bundle = Bundle::load(&fixture("mlp")).unwrap();
    let z = Array2::from_shape_fn((330, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0);
    let u = Array2::from_shape_fn((330, 2), |(i, j)| ((i * 5 + j) % 7) as f32 / 3.5 - 1.0);
    let mut all = Array2::<f32>::zeros((330, 3));
    bundle
        .dynamics()
        .step(z.view(), u.view(), all.view_mut())
        .unwrap();
    for row in [0, 1, 164, 329] {
        let mut one = Array2::<f32>::zeros((1, 3));
        let (zr, ur) = (
            z.slice(ndarray::s![row..row + 1, ..]),
            u.slice(ndarray::s![row..row + 1, ..]),
        );
        bundle.dynamics().step(zr, ur, one.view_mut()).unwrap();
        for j in 0..3 {
            assert!((one[[0, j]] - all[[row, j]]).abs() < 1e-6);
        }
    }
    // And again at batch 330, reusing the preallocated outputs of that size.
    let mut again = Array2::<f32>::zeros((330, 3));
    bundle
        .dynamics()
        .step(z.view(), u.view(), again.view_mut())
        .unwrap();
    assert_eq!(all, again);
}

#[test]
fn a_missing_network_file_names_the_file_and_field() {
    let (_tmp, dir) = edited("mlp", "missing", |_| {});
    std::fs::remove_file(dir.join("decoder.onnx")).unwrap();
    match load_err(&dir) {
        BundleError::MissingFile { path, field } => {
            assert_eq!(path, dir.join("decoder.onnx"));
            assert_eq!(field, "decoder.file");
        }
        other => panic!("expected MissingFile, got {other}"),
    }
}

#[test]
fn a_latent_size_that_disagrees_with_the_networks_is_refused() {
    let (_tmp, dir) = edited("mlp", "shape", |m| m["latent_dim"] = 4.into());
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Signature { field, .. } if field == "encoder.output"),
        "{err}"
    );
    assert!(err.to_string().contains("encoder.onnx"), "{err}");
}

#[test]
fn an_ir_14_model_is_refused_before_onnx_runtime_sees_it() {
    let err = load_err(&fixture("ir14"));
    match &err {
        BundleError::Onnx {
            path,
            field,
            problem,
        } => {
            assert!(path.ends_with("encoder.onnx"));
            assert_eq!(field, "encoder.file");
            assert!(problem.contains("IR version 14"), "{problem}");
        }
        other => panic!("expected Onnx, got {other}"),
    }
}

#[test]
fn an_unknown_manifest_field_is_refused_by_name() {
    let (_tmp, dir) = edited("mlp", "unknown", |m| {
        m["observation"]["colour"] = "rgb".into()
    });
    match load_err(&dir) {
        BundleError::Json { path, message, .. } => {
            assert_eq!(path, dir.join("zplan.json"));
            assert!(message.contains("unknown field `colour`"), "{message}");
        }
        other => panic!("expected Json, got {other}"),
    }
}

#[test]
fn bad_action_bounds_and_versions_name_the_field() {
    let (_tmp, dir) = edited("mlp", "bounds", |m| {
        m["action"]["low"] = serde_json::json!([1.0, -1.0])
    });
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "action.low"),
        "{err}"
    );
    let (_tmp, dir) = edited("mlp", "version", |m| m["format_version"] = 3.into());
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "format_version"),
        "{err}"
    );
    // Version 2 names the kind; a version-1 bundle relabelled as version 2 must say "latent".
    let (_tmp, dir) = edited("mlp", "nokind", |m| m["format_version"] = 2.into());
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "kind"),
        "{err}"
    );
    let (_tmp, dir) = edited("mlp", "v2", |m| {
        m["format_version"] = 2.into();
        m["kind"] = "latent".into();
    });
    let bundle = Bundle::load(&dir).expect("a version-2 latent bundle loads");
    assert_eq!(bundle.manifest().kind, Some(BundleKind::Latent));
    let (_tmp, dir) = edited("mlp", "mode", |m| {
        m["dynamics"].as_object_mut().unwrap().remove("a_output");
        m["dynamics"].as_object_mut().unwrap().remove("b_output");
    });
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "jacobians.mode"),
        "{err}"
    );
}

#[test]
fn planner_choices_load_and_absurd_ones_name_the_field() {
    let (_tmp, dir) =
        edited(
            "mlp",
            "planner",
            |m| {
                m["planner"] =
                    serde_json::json!({"terminal_steps": 7, "chosen_on": "validation draws"})
            },
        );
    let bundle = Bundle::load(&dir).expect("a bundle with planner choices loads");
    let choices = bundle.manifest().planner.as_ref().expect("parsed");
    assert_eq!(choices.terminal_steps, 7);
    let (_tmp, dir) = edited("mlp", "steps", |m| {
        m["planner"] = serde_json::json!({"terminal_steps": 1_000_000})
    });
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "planner.terminal_steps"),
        "{err}"
    );
    let (_tmp, dir) = edited("mlp", "horizon", |m| {
        m["planner"] = serde_json::json!({"terminal_steps": 5, "horizon": 9})
    });
    match load_err(&dir) {
        BundleError::Json { message, .. } => {
            assert!(message.contains("unknown field `horizon`"), "{message}")
        }
        other => panic!("expected Json, got {other}"),
    }
}

#[test]
fn wrong_image_size_and_nan_inputs_are_errors() {
    let mut bundle = Bundle::load(&fixture("mlp")).unwrap();
    let mut z = Array2::<f32>::zeros((1, 3));
    let small = Array4::<f32>::zeros((1, 1, 7, 8));
    let err = bundle
        .encoder()
        .encode(small.view(), z.view_mut())
        .unwrap_err();
    assert!(
        err.to_string().contains("[1, 1, 7, 8]") && err.to_string().contains("[1, 1, 8, 8]"),
        "{err}"
    );

    let mut obs = Array4::<f32>::zeros((1, 1, 8, 8));
    obs[[0, 0, 3, 3]] = f32::NAN;
    let err = bundle
        .encoder()
        .encode(obs.view(), z.view_mut())
        .unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::NonFinite {
                network: "encoder",
                input: "observation",
                index: 27
            }
        ),
        "{err}"
    );

    let zin = Array2::from_elem((1, 3), f32::NAN);
    let mut z_next = Array2::<f32>::zeros((1, 3));
    let err = bundle
        .dynamics()
        .step(zin.view(), Array2::zeros((1, 2)).view(), z_next.view_mut())
        .unwrap_err();
    assert!(
        matches!(
            err,
            BundleError::NonFinite {
                network: "dynamics",
                input: "z",
                index: 0
            }
        ),
        "{err}"
    );
}

fn video_load_err(dir: &Path) -> BundleError {
    match VideoBundle::load(dir) {
        Ok(_) => panic!("{} loaded as a video bundle but should not", dir.display()),
        Err(e) => e,
    }
}

/// The video fixture's reference inputs and torch's outputs, as 4-D arrays (u 2-D).
fn video_reference() -> [ArrayD<f32>; 5] {
    ["frames", "u", "maps", "next_frame", "next_maps"].map(|key| reference("video", key))
}

#[test]
fn video_bundle_matches_torch_and_keeps_maps_normalised() {
    assert_eq!(
        BundleKind::of_bundle(&fixture("video")).unwrap(),
        BundleKind::Video
    );
    assert_eq!(
        BundleKind::of_bundle(&fixture("mlp")).unwrap(),
        BundleKind::Latent
    );
    let mut bundle = VideoBundle::load(&fixture("video")).expect("video fixture loads");
    assert_eq!(bundle.manifest().predictor.max_maps, 4);
    let [frames, u, maps, want_frame, want_maps] = video_reference();
    let frames: Array4<f32> = frames.into_dimensionality().unwrap();
    let u: Array2<f32> = u.into_dimensionality().unwrap();
    let maps: Array4<f32> = maps.into_dimensionality().unwrap();
    let mut frame = Array4::<f32>::zeros((3, 1, 16, 16));
    let mut next_maps = Array4::<f32>::zeros((3, 2, 16, 16));
    let predictor = bundle.predictor();
    predictor
        .predict(
            frames.view(),
            u.view(),
            maps.view(),
            frame.view_mut(),
            next_maps.view_mut(),
        )
        .unwrap();
    assert!(max_diff(&frame.clone().into_dyn(), &want_frame) < 1e-5);
    assert!(max_diff(&next_maps.clone().into_dyn(), &want_maps) < 1e-5);
    let sums = next_maps
        .sum_axis(ndarray::Axis(3))
        .sum_axis(ndarray::Axis(2));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums}");
    assert!(next_maps.iter().all(|&v| v >= 0.0));

    // One point and one map at a time give the same rows: the batch and maps axes are free.
    for b in 0..3 {
        let mut one_frame = Array4::<f32>::zeros((1, 1, 16, 16));
        let mut one_map = Array4::<f32>::zeros((1, 1, 16, 16));
        predictor
            .predict(
                frames.slice(ndarray::s![b..b + 1, .., .., ..]),
                u.slice(ndarray::s![b..b + 1, ..]),
                maps.slice(ndarray::s![b..b + 1, 1..2, .., ..]),
                one_frame.view_mut(),
                one_map.view_mut(),
            )
            .unwrap();
        let frame_row = frame.slice(ndarray::s![b..b + 1, .., .., ..]).to_owned();
        let map_row = next_maps
            .slice(ndarray::s![b..b + 1, 1..2, .., ..])
            .to_owned();
        assert!(max_diff(&one_frame.into_dyn(), &frame_row.into_dyn()) < 1e-6);
        assert!(max_diff(&one_map.into_dyn(), &map_row.into_dyn()) < 1e-6);
    }
}

#[test]
fn video_inputs_of_the_wrong_shape_or_with_nan_are_errors() {
    let mut bundle = VideoBundle::load(&fixture("video")).unwrap();
    let predictor = bundle.predictor();
    let frames = Array4::<f32>::from_elem((2, 2, 16, 16), 0.5);
    let u = Array2::<f32>::zeros((2, 2));
    let mut frame = Array4::<f32>::zeros((2, 1, 16, 16));
    let mut run = |frames: &Array4<f32>, maps: &Array4<f32>| {
        let mut next = Array4::<f32>::zeros(maps.raw_dim());
        predictor.predict(
            frames.view(),
            u.view(),
            maps.view(),
            frame.view_mut(),
            next.view_mut(),
        )
    };
    let maps = |p| Array4::<f32>::from_elem((2, p, 16, 16), 1.0 / 256.0);
    match run(&frames, &maps(5)) {
        Err(BundleError::Input { input, problem, .. }) => {
            assert_eq!(input, "maps");
            assert!(problem.contains("1 to 4"), "{problem}");
        }
        other => panic!("expected Input, got {other:?}"),
    }
    let small = Array4::<f32>::from_elem((2, 2, 15, 16), 0.5);
    assert!(matches!(
        run(&small, &maps(1)),
        Err(BundleError::Input {
            input: "frames",
            ..
        })
    ));
    let mut nan = maps(1);
    nan[[1, 0, 3, 4]] = f32::NAN;
    match run(&frames, &nan) {
        Err(BundleError::NonFinite { input, index, .. }) => {
            assert_eq!(input, "maps");
            assert_eq!(index, 256 + 3 * 16 + 4);
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    assert!(run(&frames, &maps(4)).is_ok());
}

#[test]
fn a_bundle_of_the_other_kind_is_refused_with_the_loader_to_use() {
    match load_err(&fixture("video")) {
        BundleError::Field { field, problem, .. } => {
            assert_eq!(field, "kind");
            assert!(problem.contains("VideoBundle"), "{problem}");
        }
        other => panic!("expected Field, got {other}"),
    }
    match video_load_err(&fixture("mlp")) {
        BundleError::Field { field, problem, .. } => {
            assert_eq!(field, "kind");
            assert!(problem.contains("latent"), "{problem}");
        }
        other => panic!("expected Field, got {other}"),
    }
}

#[test]
fn malformed_video_manifests_name_the_field() {
    let field_of = |err: BundleError| match err {
        BundleError::Field { field, .. } | BundleError::Signature { field, .. } => field,
        BundleError::MissingFile { field, .. } => field,
        other => panic!("expected an error naming a field, got {other}"),
    };
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, &str); 7] = [
        (
            "maxmaps",
            |m| m["predictor"]["max_maps"] = 0.into(),
            "predictor.max_maps",
        ),
        (
            "escape",
            |m| m["predictor"]["file"] = "../predictor.onnx".into(),
            "predictor.file",
        ),
        (
            "missing",
            |m| m["predictor"]["file"] = "nowhere.onnx".into(),
            "predictor.file",
        ),
        (
            "input",
            |m| m["predictor"]["maps_input"] = "map".into(),
            "predictor.maps_input",
        ),
        (
            "same",
            |m| m["predictor"]["maps_input"] = "frames".into(),
            "predictor.maps_input",
        ),
        (
            "frames",
            |m| m["observation"]["frames"] = 3.into(),
            "predictor.frames_input",
        ),
        ("v1", |m| m["format_version"] = 1.into(), "kind"),
    ];
    for (tag, edit, field) in cases {
        let (_tmp, dir) = edited("video", tag, edit);
        assert_eq!(field_of(video_load_err(&dir)), field, "case {tag}");
    }
    // Swapped outputs: the probe's frame has 2 channels, the manifest's observation 1.
    let (_tmp, dir) = edited("video", "swap", |m| {
        m["predictor"]["frame_output"] = "next_maps".into();
        m["predictor"]["maps_output"] = "next_frame".into();
    });
    assert_eq!(field_of(video_load_err(&dir)), "observation");
    let (_tmp, dir) = edited("video", "unknown", |m| {
        m["predictor"]["colour"] = "rgb".into()
    });
    match video_load_err(&dir) {
        BundleError::Json { message, .. } => {
            assert!(message.contains("unknown field `colour`"), "{message}")
        }
        other => panic!("expected Json, got {other}"),
    }
}
