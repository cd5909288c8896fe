//! Gives libzplan.so its SONAME, libzplan.so.N for ZPLAN_ABI_VERSION N (src/lib.rs), and passes
//! the target triple and that SONAME to the tests that compile the C and C++ programs of
//! ffi-tests/.

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=ZPLAN_TARGET={target}");
    let lib = std::fs::read_to_string("src/lib.rs").expect("src/lib.rs");
    let abi: u32 = lib
        .lines()
        .find_map(|line| line.strip_prefix("pub const ZPLAN_ABI_VERSION: u32 = "))
        .and_then(|rest| rest.trim_end_matches(';').parse().ok())
        .expect("src/lib.rs defines `pub const ZPLAN_ABI_VERSION: u32 = N;`");
    let soname = format!("libzplan.so.{abi}");
    println!("cargo:rustc-env=ZPLAN_SONAME={soname}");
    if target.contains("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/lib.rs");
}
