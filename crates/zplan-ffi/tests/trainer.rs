//! Retraining through the C ABI: ffi-tests/c/retrain_loop.c plans while a trainer runs on the
//! library's worker thread, swaps the new bundle in, and sees each failure as its status and
//! message; the same program under valgrind memcheck (no leak when a trainer is freed with a
//! job running).

mod common;

use std::process::Command;

use common::{build, ort_library, root, run_ok, scratch};

fn retrain_loop(name: &str, wrapper: &[&str]) -> String {
    let exe = scratch(name).join("retrain_loop");
    build(false, "c99", &["ffi-tests/c/retrain_loop.c"], &[], &exe);
    let work = scratch(&format!("{name}-scratch"));
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.arg(ort_library())
        .arg(root().join("models/planar"))
        .arg(&work)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("ZPLAN_ORT_DYLIB")
        .env_remove("ORT_DYLIB_PATH");
    run_ok(&mut cmd, "retrain_loop")
}

#[test]
fn control_loop_plans_while_the_trainer_runs_then_swaps() {
    let stdout = retrain_loop("retrain", &[]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn retrain_loop_is_clean_under_valgrind_memcheck() {
    let suppressions = format!(
        "--suppressions={}",
        root().join("ffi-tests/valgrind.supp").display()
    );
    let stdout = retrain_loop(
        "retrain-valgrind",
        &[
            "valgrind",
            "--quiet",
            &suppressions,
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
        ],
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
