//! Fuzz target `native_encoder`: see crates/zplan-fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zplan_fuzz::native_encoder(data));
