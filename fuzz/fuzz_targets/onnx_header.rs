//! Fuzz target `onnx_header`: see crates/zplan-fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zplan_fuzz::onnx_header(data));
