//! Checks of the ISA-dispatched kernels on every instruction set the running CPU has: the
//! products and triangular solves against naive loops, the fused ISAs against each other bit for bit, and the
//! fixed-size Riccati pass against the general one. Each is a plain function that panics on a
//! mismatch, so that `tests/isa_paths.rs` runs them on the main thread, also under a user-mode
//! emulator where threads are not available (`make test-aarch64` checks the NEON path that way
//! on an x86_64 machine). Not part of the solver's API.

pub use crate::dense::isa_checks::{
    fused_isas_give_bit_identical_products, fused_product_digest,
    gemm_matches_naive_product_on_every_path_and_isa, gemv_matches_naive_on_every_path,
    triangular_solves_match_naive_on_every_isa,
};
pub use crate::riccati::isa_checks::fixed_size_and_general_passes_agree_on_every_isa;

/// The instruction sets the checks run on this CPU, best first.
pub fn isas() -> Vec<String> {
    crate::dense::Isa::available()
        .iter()
        .map(|isa| isa.name().to_string())
        .collect()
}
