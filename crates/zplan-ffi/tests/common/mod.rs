//! Building and running the C and C++ programs of ffi-tests/ against libzplan and
//! include/, with the compilers the `cc` crate finds.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The directory of the libzplan.so that cargo built with these tests (target/<profile>/deps),
/// with the link from its SONAME (libzplan.so.N) to it that an installation makes, so that
/// programs linked against it load it.
pub fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    assert!(
        dir.join("libzplan.so").is_file(),
        "{}: no libzplan.so (cargo builds it with the tests of zplan-ffi)",
        dir.display()
    );
    let soname = dir.join(env!("ZPLAN_SONAME"));
    if std::fs::read_link(&soname).is_err() {
        // Tests run in parallel: another may have made the link first.
        let _ = std::os::unix::fs::symlink("libzplan.so", &soname);
    }
    assert!(soname.is_file(), "{}: not made", soname.display());
    dir
}

/// The ONNX Runtime library of `make deps`.
pub fn ort_library() -> PathBuf {
    let path =
        zplan_onnx::setup_dir().join(format!("libonnxruntime.so.{}", zplan_onnx::SETUP_VERSION));
    assert!(
        path.is_file(),
        "{}: missing; run `make deps`",
        path.display()
    );
    path
}

/// A fresh scratch directory under target/tmp.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The C (`cpp == false`) or C++ compiler, with warnings as errors.
fn compiler(cpp: bool) -> Command {
    let target = env!("ZPLAN_TARGET");
    let tool = cc::Build::new()
        .cpp(cpp)
        .target(target)
        .host(target)
        .opt_level(0)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler();
    let mut cmd = Command::new(tool.path());
    cmd.args(["-g", "-Wall", "-Wextra", "-Werror", "-pedantic"]);
    cmd
}

/// Compiles `sources` (relative to the workspace root) into the executable `out`, with
/// include/ on the include path and linked against libzplan.so.
pub fn build(cpp: bool, std: &str, sources: &[&str], extra: &[&str], out: &Path) {
    let root = root();
    let lib = library_dir();
    let mut cmd = compiler(cpp);
    cmd.arg(format!("-std={std}"))
        .arg("-I")
        .arg(root.join("include"))
        .args(extra)
        .args(sources.iter().map(|s| root.join(s)))
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lzplan")
        .arg("-lm");
    if cpp {
        cmd.arg("-pthread");
    }
    run_ok(&mut cmd, "compile");
}

/// Compiles `source` to an object file only (a header compiles on its own).
pub fn compile_only(cpp: bool, std: &str, source: &Path, out: &Path) {
    let mut cmd = compiler(cpp);
    cmd.arg(format!("-std={std}"))
        .arg("-I")
        .arg(root().join("include"))
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(out);
    run_ok(&mut cmd, "compile");
}

/// Runs `cmd`, failing the test with its output when it fails; returns its stdout.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}): {cmd:?}\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
