//! A bundle reads only its own files, and misbehaving networks are clear errors:
//! - a manifest `file` that leaves the directory (`..`, an absolute path, a symbolic link) and
//!   an ONNX external-data location outside it are refused, even where the target exists and
//!   would load;
//! - a network that asks ONNX Runtime for an absurd allocation fails to load with its message;
//! - a network that produces NaN or an infinity is named as its source;
//! - a manifest whose image dimensions overflow when multiplied is refused by field.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};
use serde_json::Value;
use tempfile::TempDir;
use zplan_onnx::{Bundle, BundleError, Evaluator, NetworkOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of fixture `name` in `<tmp>/bundle`, with `<tmp>` beside it for files outside.
fn copy(name: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    (tmp, dir)
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("zplan.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

fn load_err(dir: &Path) -> BundleError {
    match Bundle::load(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn a_network_file_outside_the_bundle_is_refused() {
    let (tmp, dir) = copy("mlp");
    // A valid encoder outside the bundle: loading it would succeed if it were allowed.
    let outside = tmp.path().join("encoder.onnx");
    std::fs::copy(dir.join("encoder.onnx"), &outside).unwrap();
    for file in [
        "../encoder.onnx".to_string(),
        "sub/../../encoder.onnx".to_string(),
        outside.display().to_string(),
        "../../../../../../etc/passwd".to_string(),
    ] {
        edit_manifest(&dir, |m| m["encoder"]["file"] = file.clone().into());
        let err = load_err(&dir);
        assert!(
            matches!(&err, BundleError::Field { field, problem, .. }
                if field == "encoder.file" && problem.contains("leaves the bundle directory")),
            "{file}: {err}"
        );
    }
    // A symbolic link inside the bundle that points outside it.
    edit_manifest(&dir, |m| m["encoder"]["file"] = "linked.onnx".into());
    std::os::unix::fs::symlink(&outside, dir.join("linked.onnx")).unwrap();
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, problem, .. }
            if field == "encoder.file" && problem.contains("outside the bundle directory")),
        "{err}"
    );
    // A link that stays inside is fine.
    std::fs::remove_file(dir.join("linked.onnx")).unwrap();
    std::os::unix::fs::symlink("encoder.onnx", dir.join("linked.onnx")).unwrap();
    Bundle::load(&dir).expect("a link inside the bundle loads");
}

/// The torch fixture's encoder with its external-data location (`encoder.onnx.data`, 17 bytes
/// in the protobuf) replaced by `location` of the same length, the data copied there too.
fn relocate_external_data(dir: &Path, location: &str) {
    let path = dir.join("encoder.onnx");
    let bytes = std::fs::read(&path).unwrap();
    let old = b"encoder.onnx.data";
    assert_eq!(
        location.len(),
        old.len(),
        "same length keeps the protobuf valid"
    );
    let at = bytes
        .windows(old.len())
        .position(|w| w == old)
        .expect("the location string");
    let mut patched = bytes.clone();
    patched[at..at + old.len()].copy_from_slice(location.as_bytes());
    std::fs::write(&path, patched).unwrap();
    let target = if Path::new(location).is_absolute() {
        PathBuf::from(location)
    } else {
        dir.join(location)
    };
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(dir.join("encoder.onnx.data"), &target).unwrap();
}

#[test]
fn external_data_outside_the_bundle_is_refused() {
    let (_tmp, dir) = copy("torch");
    Bundle::load(&dir).expect("the fixture loads as it is");
    for location in ["../outside.data.x", "../../zp-data.bin"] {
        let (_tmp, dir) = copy("torch");
        relocate_external_data(&dir, location);
        let err = load_err(&dir);
        assert!(
            matches!(&err, BundleError::Session { path, .. } if path.ends_with("encoder.onnx")),
            "{location}: {err}"
        );
    }
    // An absolute location (17 bytes, as the name it replaces).
    let (_tmp, dir) = copy("torch");
    let absolute = "/tmp/zplan-x.data";
    relocate_external_data(&dir, absolute);
    let err = load_err(&dir);
    let _ = std::fs::remove_file(absolute);
    assert!(matches!(&err, BundleError::Session { .. }), "{err}");
}

#[test]
fn an_absurd_allocation_fails_the_load_with_onnx_runtimes_reason() {
    let err = load_err(&fixture("huge-alloc"));
    let text = err.to_string();
    assert!(text.contains("encoder.onnx"), "{text}");
    assert!(text.contains("allocate"), "{text}");
}

#[test]
fn a_non_finite_network_output_names_the_network() {
    let mut bundle = Bundle::load(&fixture("nan-encoder")).unwrap();
    let mut z = Array2::<f32>::zeros((1, 1));
    let black = Array4::<u8>::zeros((1, 1, 4, 4));
    let err = bundle
        .encoder()
        .encode_u8(black.view(), z.view_mut())
        .unwrap_err();
    assert!(
        matches!(&err, BundleError::NonFiniteOutput { network: "encoder", output, index: 0, .. }
            if output == "z"),
        "{err}"
    );
    assert!(err.to_string().contains("the encoder produced"), "{err}");
    let grey = Array4::<u8>::from_elem((1, 1, 4, 4), 128);
    bundle
        .encoder()
        .encode_u8(grey.view(), z.view_mut())
        .unwrap();
    assert!(z[[0, 0]].is_finite());
}

#[test]
fn image_dimensions_whose_product_overflows_are_refused_by_field() {
    let (_tmp, dir) = copy("mlp");
    for frames in [u64::MAX, (1 << 63) + 1, 1 << 40] {
        edit_manifest(&dir, |m| m["observation"]["frames"] = frames.into());
        let err = load_err(&dir);
        assert!(
            matches!(&err, BundleError::Field { field, .. } if field == "observation.frames"),
            "{frames}: {err}"
        );
    }
    edit_manifest(&dir, |m| m["observation"]["frames"] = 1.into());
    edit_manifest(&dir, |m| m["latent_dim"] = (1u64 << 62).into());
    let err = load_err(&dir);
    assert!(
        matches!(&err, BundleError::Field { field, .. } if field == "latent_dim"),
        "{err}"
    );
}

#[test]
fn the_shipped_encoders_encode_natively_as_onnx_runtime_does() {
    for task in ["planar", "cartpole"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(task);
        let mut z = Vec::new();
        for native_encoder in [true, false] {
            let options = NetworkOptions {
                native_encoder,
                ..NetworkOptions::default()
            };
            let mut bundle = Bundle::load_with(&dir, &options).unwrap();
            match bundle.encoder_evaluator() {
                Evaluator::Native { multiply_adds, .. } => {
                    assert!(native_encoder && *multiply_adds > 0)
                }
                Evaluator::OnnxRuntime { reason } => {
                    assert!(!native_encoder && reason == "not asked for", "{reason}")
                }
            }
            let obs = bundle.encoder().observation();
            let shape = (1, obs.stacked_channels(), obs.height, obs.width);
            let image =
                Array4::from_shape_fn(shape, |(_, c, i, j)| ((c + 3 * i + 7 * j) % 256) as u8);
            let mut out = Array2::<f32>::zeros((1, bundle.encoder().latent_dim()));
            bundle
                .encoder()
                .encode_u8(image.view(), out.view_mut())
                .unwrap();
            z.push(out);
        }
        for (native, onnx) in z[0].iter().zip(&z[1]) {
            assert!(
                (native - onnx).abs() <= 1e-4 * (1.0 + onnx.abs()),
                "{task}: {z:?}"
            );
        }
    }
}

#[test]
fn an_overflowing_dynamics_output_is_an_error_on_either_evaluator() {
    // z' = A z + B u on the linear fixture: finite inputs near f32::MAX overflow to infinity.
    for native in [true, false] {
        let options = NetworkOptions {
            native,
            ..NetworkOptions::default()
        };
        let mut bundle = Bundle::load_with(&fixture("linear"), &options).unwrap();
        assert_eq!(
            matches!(bundle.dynamics_evaluator(), Evaluator::Native { .. }),
            native
        );
        let z = Array2::<f32>::from_elem((2, 3), 3e38);
        let u = Array2::<f32>::zeros((2, 2));
        let mut z_next = Array2::<f32>::zeros((2, 3));
        let err = bundle
            .dynamics()
            .step(z.view(), u.view(), z_next.view_mut())
            .unwrap_err();
        assert!(
            matches!(&err, BundleError::NonFiniteOutput { network: "dynamics", output, .. }
                if output == "z_next"),
            "native {native}: {err}"
        );
        let z = Array2::<f32>::from_elem((2, 3), 0.5);
        bundle
            .dynamics()
            .step(z.view(), u.view(), z_next.view_mut())
            .unwrap();
        assert!(z_next.iter().all(|v| v.is_finite()));
    }
}
