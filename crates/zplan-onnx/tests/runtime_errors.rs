//! Libraries that must be refused, each with its own error. Nothing in this process ever loads
//! ONNX Runtime, so every call reaches the loader.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use zplan_onnx::{LibrarySource, Runtime, RuntimeError};

/// `name` in a temporary directory removed with the guard.
fn scratch(name: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix("zplan-runtime-errors-")
        .tempdir()
        .unwrap();
    let path = tmp.path().join(name);
    (tmp, path)
}

/// A shared library that is certainly mapped into this process and is not ONNX Runtime.
fn libc_path() -> PathBuf {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/libc.so") || path.contains("/libc-"))
        .map(PathBuf::from)
        .expect("libc is mapped")
}

#[test]
fn a_path_that_does_not_exist_is_missing() {
    let path = Path::new("/nonexistent/zplan/libonnxruntime.so.1.31.1");
    let err = Runtime::init(Some(path)).unwrap_err();
    match &err {
        RuntimeError::Missing { path: p, origin } => {
            assert_eq!(p, path);
            assert_eq!(*origin, LibrarySource::Explicit);
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("/nonexistent/zplan/libonnxruntime.so.1.31.1")
    );
    assert!(Runtime::get().is_none());
}

#[test]
fn an_empty_directory_names_the_file_it_looked_for() {
    let (_tmp, dir) = scratch("empty-dir");
    std::fs::create_dir_all(&dir).unwrap();
    match Runtime::init(Some(&dir)).unwrap_err() {
        RuntimeError::Missing { path, .. } => {
            assert_eq!(path, dir.join("libonnxruntime.so.1.31.1"))
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_library_cannot_be_opened() {
    let (_tmp, path) = scratch("libonnxruntime.so");
    std::fs::write(&path, b"not an ELF file").unwrap();
    let err = Runtime::init(Some(&path)).unwrap_err();
    match &err {
        RuntimeError::Open {
            path: p, reason, ..
        } => {
            assert_eq!(p, &path);
            assert!(!reason.is_empty());
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(err.to_string().contains("cannot open ONNX Runtime library"));
}

#[test]
fn a_library_without_the_onnx_runtime_api_is_refused() {
    let libc = libc_path();
    match Runtime::init(Some(&libc)).unwrap_err() {
        RuntimeError::NotOnnxRuntime { path, origin } => {
            assert_eq!(path, libc);
            assert_eq!(origin, LibrarySource::Explicit);
        }
        other => panic!("expected NotOnnxRuntime, got {other:?}"),
    }
    assert!(Runtime::get().is_none());
}
