//! No network traffic and no surprise threads: ffi-tests/c/plan_loop.c loads ONNX Runtime and a
//! bundle through the C API and plans for 45 s under strace, which records every socket-family
//! system call and every thread or process started, in the process and all its threads.
//! ONNX Runtime's event uploader, when it runs, starts threads that resolve its collector host
//! about 9 s after initialisation and again later; any such call fails the test. With
//! `OPENBLAS_NUM_THREADS=1` (as `make` sets it; OpenBLAS otherwise starts its pool when it is
//! loaded) and one intra-op thread per session, planning starts no thread at all.

mod common;

use std::process::Command;

use common::{build, ort_library, root, run_ok, scratch};

/// Longer than the uploader's first three attempts (about 9, 15 and 23 s after start).
const SECONDS: f64 = 45.0;

#[test]
fn a_plan_loop_opens_no_socket_and_starts_no_thread() {
    let dir = scratch("no-network");
    let exe = dir.join("plan_loop");
    build(false, "c99", &["ffi-tests/c/plan_loop.c"], &[], &exe);
    let trace = dir.join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=%network,clone,clone3,fork,vfork",
        "-o",
    ])
    .arg(&trace)
    .arg(&exe)
    .arg(ort_library())
    .arg(root().join("models/planar"))
    .arg(SECONDS.to_string())
    .env_remove("LD_LIBRARY_PATH")
    .env_remove("ORT_DISABLE_TELEMETRY")
    .env("OPENBLAS_NUM_THREADS", "1");
    let stdout = run_ok(&mut cmd, "strace plan_loop (strace comes with `make deps`)");
    let seconds: f64 = stdout
        .split_whitespace()
        .skip_while(|w| *w != "seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("plan_loop printed {stdout:?}"));
    assert!(seconds >= SECONDS, "the loop ran {seconds} s");
    let calls = std::fs::read_to_string(&trace).unwrap();
    assert!(
        calls.trim().is_empty(),
        "the process made network system calls or started threads:\n{calls}"
    );
}
