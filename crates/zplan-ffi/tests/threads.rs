//! The C API under threads, and bundles that own their networks:
//! - the C program ffi-tests/c/thread_count.c, run with OPENBLAS_NUM_THREADS=4, finds OpenBLAS
//!   on one thread after zp_runtime_init and no thread started by loading, planner making and
//!   planning with the default options (`thread_count_program_...`);
//! - eight threads call the `const` functions of one bundle and one planner 10 000 times each
//!   at once, and every answer is the one a single thread gets;
//! - a bundle loaded before a trainer rewrites (here: breaks) its directory swaps in the
//!   networks it loaded, and plans as a planner built from the intact files does.

mod common;

use std::ffi::CString;
use std::path::Path;
use std::process::Command;
use std::ptr;

use common::{build, ort_library, root, run_ok, scratch};
use zplan::*;

#[test]
fn thread_count_program_sees_no_thread_start_after_init_and_openblas_on_one() {
    let exe = scratch("thread-count").join("thread_count");
    build(false, "c99", &["ffi-tests/c/thread_count.c"], &[], &exe);
    let stdout = run_ok(
        Command::new(&exe)
            .arg(ort_library())
            .arg(root().join("models/planar"))
            .env("OPENBLAS_NUM_THREADS", "4")
            .env_remove("LD_LIBRARY_PATH"),
        "thread_count",
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}

const THREADS: usize = 8;
const CALLS: usize = 10_000;

fn planar_frame(row: usize, col: usize) -> Vec<u8> {
    let mut image = vec![0u8; 1600];
    for r in row..row + 2 {
        for c in col..col + 2 {
            image[r * 40 + c] = 255;
        }
    }
    image
}

fn load(dir: &Path) -> *mut zp_bundle {
    let dir = CString::new(dir.to_str().unwrap()).unwrap();
    let mut bundle = ptr::null_mut();
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    unsafe {
        assert_eq!(zp_runtime_init(ptr::null()), zp_status::ZP_OK);
        assert_eq!(zp_bundle_load(dir.as_ptr(), &mut bundle), zp_status::ZP_OK);
    }
    bundle
}

fn planar_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/planar")
}

/// A planner over `*bundle` (taken), with the goal set and one plan made from `obs`.
fn planner(bundle: &mut *mut zp_bundle, obs: &[u8]) -> (*mut zp_planner, [f64; 2]) {
    let mut planner = ptr::null_mut();
    let mut action = [0.0; 2];
    // SAFETY: live handles, valid out-pointers, arrays of the stated lengths.
    unsafe {
        let mut settings = zp_planner_settings_default();
        assert_eq!(
            zp_planner_settings_reference(c"planar".as_ptr(), &mut settings),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_new(bundle, &settings, &mut planner),
            zp_status::ZP_OK
        );
        assert!(bundle.is_null(), "the planner took the bundle");
        let goal = planar_frame(36, 36);
        assert_eq!(
            zp_planner_set_goal(planner, goal.as_ptr(), goal.len()),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_plan(planner, obs.as_ptr(), obs.len(), action.as_mut_ptr(), 2),
            zp_status::ZP_OK
        );
    }
    (planner, action)
}

/// What the const functions of a planner answer.
fn planner_answers(planner: *const zp_planner) -> (zp_planner_info, zp_plan_info, Vec<f64>) {
    let mut info = zp_planner_info::default();
    let mut plan = zp_plan_info::default();
    let mut arrays = vec![0.0; 22 + 20 + 40 + 4];
    let (states, rest) = arrays.split_at_mut(22);
    let (actions, rest) = rest.split_at_mut(20);
    let (gains, bounds) = rest.split_at_mut(40);
    let (low, high) = bounds.split_at_mut(2);
    // SAFETY: a live planner, only shared; out-pointers and arrays of the stated lengths.
    unsafe {
        assert_eq!(zp_planner_get_info(planner, &mut info), zp_status::ZP_OK);
        assert_eq!(
            zp_planner_get_plan_info(planner, &mut plan),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_get_plan(planner, states.as_mut_ptr(), 22, actions.as_mut_ptr(), 20),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_get_gains(planner, gains.as_mut_ptr(), 40),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_get_action_bounds(planner, low.as_mut_ptr(), high.as_mut_ptr(), 2),
            zp_status::ZP_OK
        );
    }
    (info, plan, arrays)
}

#[test]
fn eight_threads_call_const_functions_on_one_bundle_and_one_planner() {
    let mut bundle = load(&planar_dir());
    let mut expected = zp_bundle_info::default();
    // SAFETY: a live bundle and a valid out-pointer.
    let status = unsafe { zp_bundle_get_info(bundle, &mut expected) };
    assert_eq!(status, zp_status::ZP_OK);
    assert_eq!(expected.observation_len, 1600);

    // Handles cross threads as addresses; the C contract allows const calls from any thread.
    let shared_bundle = bundle as usize;
    let calls: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(move || {
                    let bundle = shared_bundle as *const zp_bundle;
                    let mut ok = 0;
                    for _ in 0..CALLS {
                        let mut info = zp_bundle_info::default();
                        // SAFETY: the bundle outlives the scope and is only shared inside it.
                        let status = unsafe { zp_bundle_get_info(bundle, &mut info) };
                        ok += usize::from(status == zp_status::ZP_OK && info == expected);
                    }
                    ok
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(
        calls,
        THREADS * CALLS,
        "every call answered as on one thread"
    );

    let (planner, _) = planner(&mut bundle, &planar_frame(5, 5));
    let reference = planner_answers(planner);
    assert_eq!(reference.0.horizon, 10);
    let shared_planner = planner as usize;
    let matching: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let reference = &reference;
                scope.spawn(move || {
                    let planner = shared_planner as *const zp_planner;
                    (0..CALLS / 4)
                        .filter(|_| planner_answers(planner) == *reference)
                        .count()
                        * 4
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(matching, THREADS * CALLS);
    // SAFETY: no other thread uses the planner any more.
    unsafe { zp_planner_free(planner) };
}

/// The first action after swapping `*staged` into a planner that planned once from `obs`.
fn swap_and_plan(mut staged: *mut zp_bundle, obs: &[u8]) -> [f64; 2] {
    let (planner, _) = planner(&mut load(&planar_dir()), obs);
    let mut action = [0.0; 2];
    // SAFETY: live handles, valid arrays.
    unsafe {
        assert_eq!(zp_planner_reset(planner), zp_status::ZP_OK);
        assert_eq!(
            zp_planner_swap_bundle(planner, &mut staged),
            zp_status::ZP_OK
        );
        assert!(staged.is_null(), "the planner took the bundle");
        assert_eq!(
            zp_planner_plan(planner, obs.as_ptr(), obs.len(), action.as_mut_ptr(), 2),
            zp_status::ZP_OK
        );
        zp_planner_free(planner);
    }
    action
}

#[test]
fn a_loaded_bundle_is_unchanged_by_a_rewrite_of_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(planar_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let obs = planar_frame(5, 5);
    let staged = load(dir.path());
    // A trainer rewrites the directory: the manifest no longer parses, the encoder is gone.
    std::fs::write(dir.path().join("zplan.json"), "{ half-written").unwrap();
    std::fs::remove_file(dir.path().join("encoder.onnx")).unwrap();

    let swapped = swap_and_plan(staged, &obs);
    let intact = swap_and_plan(load(&planar_dir()), &obs);
    assert_eq!(
        swapped, intact,
        "the networks loaded before the rewrite plan"
    );
    assert!(
        swapped[0] > 0.0 && swapped[1] > 0.0,
        "towards the goal: {swapped:?}"
    );
}
