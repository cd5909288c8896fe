//! Replays every input of `fuzz/corpus/<target>/` through its target on stable Rust: the seeds,
//! and every reproducer a fuzzing run found (they are added there), stay regression tests.

use std::path::Path;

#[test]
fn every_corpus_input_runs_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, target) in zplan_fuzz::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{}: no seed inputs", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", input.display());
        }
    }
}

/// The reproducers of the first fuzzing run: each is now a clear error naming what is wrong.
fn repro(name: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    std::fs::read(root.join(name)).unwrap()
}

#[test]
fn an_onnx_length_near_2_to_the_64_is_a_truncated_model() {
    let data = repro("onnx_header/repro-onnx_header_opset_len_overflow.onnx");
    let err = zplan_onnx::OnnxHeader::from_bytes(&data).unwrap_err();
    assert!(err.contains("past the end"), "{err}");
}

#[test]
fn image_dimensions_whose_product_overflows_name_the_field() {
    let data = repro("manifest/repro-manifest_frames_overflow.json");
    let text = std::str::from_utf8(&data).unwrap();
    match zplan_onnx::Manifest::from_json(text, Path::new("zplan.json")) {
        Err(zplan_onnx::BundleError::Field { field, .. }) => {
            assert_eq!(field, "observation.frames")
        }
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn buffer_sizes_that_overflow_are_corrupt_files_named() {
    for (name, file, words) in [
        (
            "buffer/repro-buffer_chunk_rows_overflow",
            "meta.json",
            "chunk_rows",
        ),
        (
            "buffer/repro-buffer_npy_capacity_overflow",
            "obs.npy",
            "too large",
        ),
    ] {
        let (_guard, dir) = zplan_fuzz::corrupted_buffer(&repro(name)).unwrap();
        for open in [zplan_buffer::Buffer::open_read, zplan_buffer::Buffer::open] {
            match open(&dir) {
                Err(zplan_buffer::BufferError::Corrupt { path, problem }) => {
                    assert_eq!(path, dir.join(file), "{name}");
                    assert!(problem.contains(words), "{name}: {problem}");
                }
                other => panic!("{name}: expected Corrupt, got {:?}", other.err()),
            }
        }
    }
}
