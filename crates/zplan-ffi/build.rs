//! Gives libzplan.so its SONAME, and passes the target triple to the tests that compile the C
//! and C++ programs of ffi-tests/.

fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    println!("cargo:rustc-env=ZPLAN_TARGET={target}");
    if target.contains("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzplan.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
