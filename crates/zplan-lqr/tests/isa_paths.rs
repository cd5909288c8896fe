//! The kernels on every ISA path this CPU has (`zplan_lqr::checks`), run one after another on
//! the main thread without libtest, so that the same binary also runs under qemu-user.

/// [`zplan_lqr::checks::fused_product_digest`] on every CPU with fused kernels: the same on
/// AVX-512F and AVX2 + FMA (x86_64) and NEON (aarch64, under qemu-user). A change of the order
/// of the kernels' multiply-adds changes it.
const FUSED_PRODUCT_DIGEST: u64 = 0x4ffa_76ba_d1b6_b3fa;

fn main() {
    let checks: [(&str, fn()); 5] = [
        (
            "gemm_matches_naive_product_on_every_path_and_isa",
            zplan_lqr::checks::gemm_matches_naive_product_on_every_path_and_isa,
        ),
        (
            "fused_isas_give_bit_identical_products",
            zplan_lqr::checks::fused_isas_give_bit_identical_products,
        ),
        (
            "gemv_matches_naive_on_every_path",
            zplan_lqr::checks::gemv_matches_naive_on_every_path,
        ),
        (
            "triangular_solves_match_naive_on_every_isa",
            zplan_lqr::checks::triangular_solves_match_naive_on_every_isa,
        ),
        (
            "fixed_size_and_general_passes_agree_on_every_isa",
            zplan_lqr::checks::fixed_size_and_general_passes_agree_on_every_isa,
        ),
    ];
    println!(
        "ISA paths of this CPU: {}",
        zplan_lqr::checks::isas().join(", ")
    );
    if let Some(digest) = zplan_lqr::checks::fused_product_digest() {
        assert_eq!(
            digest, FUSED_PRODUCT_DIGEST,
            "the fused kernels' products differ from those of the other fused ISAs"
        );
        println!("test fused_product_digest ... ok ({digest:#018x})");
    }
    for (name, check) in checks {
        check();
        println!("test {name} ... ok");
    }
}
