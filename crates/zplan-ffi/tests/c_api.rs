//! The C99 program ffi-tests/c/test_zplan.c against libzplan: every function, bad inputs,
//! the version macros against Cargo.toml, and the same program under valgrind memcheck.

mod common;

use std::process::Command;

use common::{build, compile_only, ort_library, root, run_ok, scratch};

fn build_c_test(name: &str) -> std::path::PathBuf {
    let exe = scratch(name).join("test_zplan");
    let version = format!("-DZPLAN_EXPECTED_VERSION=\"{}\"", env!("CARGO_PKG_VERSION"));
    build(
        false,
        "c99",
        &["ffi-tests/c/test_zplan.c"],
        &[&version],
        &exe,
    );
    exe
}

fn c_test(exe: &std::path::Path, wrapper: &[&str]) -> String {
    let scratch = scratch(&format!(
        "{}-scratch",
        exe.parent().unwrap().file_name().unwrap().to_string_lossy()
    ));
    let (program, args) = match wrapper.split_first() {
        Some((first, rest)) => (
            first.to_string(),
            rest.iter().map(|s| s.to_string()).collect(),
        ),
        None => (exe.display().to_string(), Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if !wrapper.is_empty() {
        cmd.arg(exe);
    }
    cmd.arg(ort_library())
        .arg(root().join("models/planar"))
        .arg(&scratch)
        .arg(root().join("crates/zplan-onnx/tests/fixtures/linear"))
        .arg(root().join("crates/zplan-onnx/tests/fixtures/video-shift"))
        .arg(chosen_bundle(&scratch))
        // cargo's LD_LIBRARY_PATH would win over the program's RUNPATH and could load another
        // build's libzplan.so.
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ZPLAN_ORT_DYLIB")
        .env_remove("ORT_DYLIB_PATH");
    run_ok(&mut cmd, "test_zplan")
}

/// A copy of models/planar in `scratch` whose manifest records planner choices of its own
/// (terminal_steps 12).
fn chosen_bundle(scratch: &std::path::Path) -> std::path::PathBuf {
    let (from, to) = (root().join("models/planar"), scratch.join("planar-chosen"));
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let manifest = to.join("zplan.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    json["planner"] = serde_json::json!({ "terminal_steps": 12 });
    std::fs::write(&manifest, json.to_string()).unwrap();
    to
}

#[test]
fn c99_program_exercises_every_function() {
    let exe = build_c_test("c99");
    let stdout = c_test(&exe, &[]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn c99_program_is_clean_under_valgrind_memcheck() {
    let exe = build_c_test("c99-valgrind");
    let stdout = c_test(
        &exe,
        &[
            "valgrind",
            "--quiet",
            &format!(
                "--suppressions={}",
                root().join("ffi-tests/valgrind.supp").display()
            ),
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
        ],
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn header_compiles_on_its_own_in_c_and_cpp() {
    let dir = scratch("header-alone");
    for (cpp, std, name) in [(false, "c99", "alone.c"), (true, "c++17", "alone.cpp")] {
        let source = dir.join(name);
        std::fs::write(&source, "#include \"zplan.h\"\n#include \"zplan.h\"\n").unwrap();
        compile_only(cpp, std, &source, &dir.join(format!("{name}.o")));
    }
}

#[test]
fn cpp_wrapper_refuses_a_standard_before_cpp17_by_name() {
    let dir = scratch("cpp14");
    let source = dir.join("old.cpp");
    std::fs::write(&source, "#include \"zplan.hpp\"\n").unwrap();
    let output = Command::new("c++")
        .args(["-std=c++14", "-c", "-I"])
        .arg(root().join("include"))
        .arg(&source)
        .arg("-o")
        .arg(dir.join("old.o"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("zplan.hpp needs C++17"), "{stderr}");
}

#[test]
fn cpp17_wrapper_and_threads() {
    let exe = scratch("cpp17").join("test_zplan_cpp");
    build(true, "c++17", &["ffi-tests/cpp/test_zplan.cpp"], &[], &exe);
    let stdout = c_test(&exe, &[]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
