//! Fuzz target `manifest`: see crates/zplan-fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zplan_fuzz::manifest(data));
