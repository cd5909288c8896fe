//! `scripts/install.sh` (what `make install` runs) into a scratch prefix, then two consumers of
//! the installed package build examples/cpp/robot_loop.cpp and run it on models/planar: one
//! with CMake's find_package(zplan CONFIG REQUIRED), one with `pkg-config --cflags --libs zplan`
//! that finds libzplan by its rpath and ONNX Runtime beside it. The installed zplan command
//! finds the installed ONNX Runtime too.

mod common;

use std::path::Path;
use std::process::Command;

use common::{library_dir, root, run_ok, scratch};

/// The zplan command cargo built beside these tests (target/<profile>/zplan).
fn zplan_command() -> std::path::PathBuf {
    let exe = library_dir().parent().unwrap().join("zplan");
    assert!(
        exe.is_file(),
        "{}: missing; `cargo test --workspace` builds it",
        exe.display()
    );
    exe
}

/// Installs into a fresh prefix (the libraries cargo built with these tests).
fn install(name: &str) -> std::path::PathBuf {
    let prefix = scratch(name).join("prefix");
    run_ok(
        Command::new(root().join("scripts/install.sh"))
            .arg(&prefix)
            .arg(library_dir())
            .arg(zplan_command().parent().unwrap()),
        "scripts/install.sh",
    );
    for file in [
        concat!("lib/", env!("ZPLAN_SONAME")),
        "lib/libzplan.so",
        "lib/libzplan.a",
        "bin/zplan",
        "share/zplan/valgrind.supp",
        "include/zplan.h",
        "include/zplan.hpp",
        "lib/cmake/zplan/zplanConfig.cmake",
        "lib/cmake/zplan/zplanConfigVersion.cmake",
        "lib/pkgconfig/zplan.pc",
    ] {
        assert!(prefix.join(file).is_file(), "{file} is not installed");
    }
    prefix
}

/// Runs robot_loop and checks it got closer to the goal and recorded its 20 steps.
fn run_robot_loop(exe: &Path, buffer: &Path, ort: Option<&Path>) {
    let mut cmd = Command::new(exe);
    cmd.arg(root().join("models/planar")).arg(buffer);
    if let Some(ort) = ort {
        cmd.arg(ort);
    }
    let stdout = run_ok(
        cmd.env_remove("LD_LIBRARY_PATH")
            .env_remove("ZPLAN_ORT_DYLIB")
            .env_remove("ORT_DYLIB_PATH"),
        "robot_loop",
    );
    assert!(stdout.contains("20 transitions recorded"), "{stdout}");
    let distances: Vec<f64> = stdout
        .split("goal ")
        .nth(1)
        .and_then(|s| s.split(" px").next())
        .map(|s| s.split(" -> ").map(|d| d.parse().unwrap()).collect())
        .unwrap();
    assert!(distances[1] < distances[0] - 10.0, "{stdout}");
    assert!(buffer.join("meta.json").is_file());
}

#[test]
fn cmake_find_package_consumer_builds_and_plans() {
    let prefix = install("install-cmake");
    let build = prefix.parent().unwrap().join("build");
    run_ok(
        Command::new("cmake")
            .arg("-S")
            .arg(root().join("examples/cpp"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
        "cmake configure",
    );
    run_ok(
        Command::new("cmake").arg("--build").arg(&build),
        "cmake build",
    );
    // The ONNX Runtime path comes from the package (zplan_ONNXRUNTIME_LIBRARY).
    run_robot_loop(&build.join("robot_loop"), &build.join("buffer"), None);
}

#[test]
fn pkg_config_consumer_builds_and_plans() {
    let prefix = install("install-pkg-config");
    let dir = prefix.parent().unwrap();
    let pkg_config = |args: &[&str]| {
        run_ok(
            Command::new("pkg-config")
                .args(args)
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
            "pkg-config",
        )
        .trim()
        .to_string()
    };
    let flags = pkg_config(&["--cflags", "--libs", "zplan"]);
    let ort = pkg_config(&["--variable=onnxruntime_library", "zplan"]);
    let exe = dir.join("robot_loop");
    run_ok(
        Command::new("c++")
            .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(root().join("examples/cpp/robot_loop.cpp"))
            .arg("-o")
            .arg(&exe)
            .args(flags.split_whitespace()),
        "c++ with pkg-config flags",
    );
    assert!(Path::new(&ort).is_file(), "{ort}");
    // No ONNX Runtime path and no LD_LIBRARY_PATH: libzplan comes by the rpath pkg-config
    // gives, and zp_runtime_init(NULL) finds ONNX Runtime beside it.
    assert!(flags.contains("-Wl,-rpath,"), "{flags}");
    run_robot_loop(&exe, &dir.join("buffer"), None);
}

#[test]
fn installed_libraries_carry_their_soname_and_no_debug_info_and_the_command_runs() {
    let prefix = install("install-layout");
    let lib = prefix.join("lib");
    let readelf = |args: &[&str], file: &Path| {
        run_ok(Command::new("readelf").args(args).arg(file), "readelf")
    };
    let shared = lib.join(env!("ZPLAN_SONAME"));
    let dynamic = readelf(&["-d"], &shared);
    assert!(
        dynamic.contains(&format!("Library soname: [{}]", env!("ZPLAN_SONAME"))),
        "{dynamic}"
    );
    assert_eq!(
        std::fs::read_link(lib.join("libzplan.so")).unwrap(),
        Path::new(env!("ZPLAN_SONAME"))
    );
    for file in [shared, lib.join("libzplan.a"), prefix.join("bin/zplan")] {
        let sections = readelf(&["-S", "-W"], &file);
        for debug in [".debug_info", ".debug_line"] {
            assert!(
                !sections.contains(debug),
                "{} keeps {debug}",
                file.display()
            );
        }
    }
    // The installed command, with nothing in the environment, takes the installed ONNX Runtime.
    let doctor = run_ok(
        Command::new(prefix.join("bin/zplan"))
            .arg("doctor")
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("ZPLAN_ORT_DYLIB")
            .env_remove("ORT_DYLIB_PATH"),
        "zplan doctor",
    );
    let ort_dir = prefix.join("lib/zplan");
    assert!(
        doctor.contains(&format!("at {}/libonnxruntime.so", ort_dir.display())),
        "{doctor}"
    );
    assert!(doctor.contains("(from installed location)"), "{doctor}");
}
