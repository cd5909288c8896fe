//! Fuzz target `native_graph`: see crates/zplan-fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zplan_fuzz::native_graph(data));
