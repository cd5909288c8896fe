//! Passes the target triple to the tests that compile the C and C++ programs of ffi-tests/.

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=ZPLAN_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
