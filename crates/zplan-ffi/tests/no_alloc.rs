//! `zp_planner_plan` and `zp_planner_plan_frame` allocate nothing on the Rust side once the planner (latent or
//! observation) has met its batch sizes, counted by zplan-lqr's counting allocator (installed in
//! this test binary only); and the whole process allocates nothing in a latent plan with the
//! default options, counted by the C program ffi-tests/c/alloc_count.c, which replaces the C
//! library's allocation functions for every library in it (ONNX Runtime's included).

mod common;
#[path = "../../zplan-lqr/tests/counting_alloc/mod.rs"]
mod counting_alloc;

use std::ptr;

use std::process::Command;

use common::{build, ort_library, root, run_ok, scratch};
use counting_alloc::allocations_during;
use zplan::*;

#[test]
fn plan_calls_allocate_nothing_after_the_first() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/planar\0");
    let (mut bundle, mut planner) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid NUL-terminated strings, out-pointers and arrays of the stated lengths.
    unsafe {
        assert_eq!(zp_runtime_init(ptr::null()), zp_status::ZP_OK);
        assert_eq!(
            zp_bundle_load(dir.as_ptr().cast(), &mut bundle),
            zp_status::ZP_OK
        );
        let mut settings = zp_planner_settings_default();
        assert_eq!(
            zp_planner_settings_reference(c"planar".as_ptr(), &mut settings),
            zp_status::ZP_OK
        );
        assert_eq!(
            zp_planner_new(&mut bundle, &settings, &mut planner),
            zp_status::ZP_OK
        );
        let frame = |row: usize, col: usize| {
            let mut image = vec![0u8; 1600];
            for r in row..row + 2 {
                for c in col..col + 2 {
                    image[r * 40 + c] = 255;
                }
            }
            image
        };
        let (goal, obs) = (frame(36, 36), frame(5, 5));
        let mut action = [0.0; 2];
        assert_eq!(
            zp_planner_set_goal(planner, goal.as_ptr(), 1600),
            zp_status::ZP_OK
        );
        for _ in 0..5 {
            let status = zp_planner_plan(planner, obs.as_ptr(), 1600, action.as_mut_ptr(), 2);
            assert_eq!(status, zp_status::ZP_OK);
        }
        for _ in 0..3 {
            let mut status = zp_status::ZP_PANIC;
            let allocations = allocations_during(|| {
                status = zp_planner_plan(planner, obs.as_ptr(), 1600, action.as_mut_ptr(), 2);
            });
            assert_eq!(status, zp_status::ZP_OK);
            assert_eq!(allocations, 0, "heap allocations in one zp_planner_plan");
        }
        // One camera frame per call: the planner's own stack, sized when it was made.
        let plan_frame = |action: &mut [f64; 2]| {
            zp_planner_plan_frame(planner, obs.as_ptr(), 1600, action.as_mut_ptr(), 2)
        };
        assert_eq!(plan_frame(&mut action), zp_status::ZP_OK);
        for _ in 0..3 {
            let mut status = zp_status::ZP_PANIC;
            let allocations = allocations_during(|| status = plan_frame(&mut action));
            assert_eq!(status, zp_status::ZP_OK);
            assert_eq!(
                allocations, 0,
                "heap allocations in one zp_planner_plan_frame"
            );
        }
        zp_planner_free(planner);
        zp_bundle_free(bundle);
    }
    observation_plan_calls_allocate_nothing_after_the_first();
}

/// The observation planner's case, run inside the test above: the allocator counts every
/// thread, so two tests running at once would count each other's allocations.
fn observation_plan_calls_allocate_nothing_after_the_first() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../zplan-onnx/tests/fixtures/video-shift\0"
    );
    let (mut bundle, mut planner) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid NUL-terminated strings, out-pointers and arrays of the stated lengths.
    unsafe {
        assert_eq!(zp_runtime_init(ptr::null()), zp_status::ZP_OK);
        assert_eq!(
            zp_bundle_load(dir.as_ptr().cast(), &mut bundle),
            zp_status::ZP_OK
        );
        let settings = zp_observation_settings_default();
        assert_eq!(
            zp_planner_new_observation(&mut bundle, &settings, &mut planner),
            zp_status::ZP_OK
        );
        let frames: Vec<u8> = (0..512).map(|i| (i % 16 * 16) as u8).collect();
        let (from, to) = ([4.5, 4.5], [11.5, 10.5]);
        assert_eq!(
            zp_planner_set_pixel_goal(planner, 1, from.as_ptr(), to.as_ptr()),
            zp_status::ZP_OK
        );
        let mut action = [0.0; 2];
        for _ in 0..3 {
            let status = zp_planner_plan(planner, frames.as_ptr(), 512, action.as_mut_ptr(), 2);
            assert_eq!(status, zp_status::ZP_OK);
        }
        let mut status = zp_status::ZP_PANIC;
        let allocations = allocations_during(|| {
            status = zp_planner_plan(planner, frames.as_ptr(), 512, action.as_mut_ptr(), 2);
        });
        assert_eq!(status, zp_status::ZP_OK);
        assert_eq!(allocations, 0, "heap allocations in one observation plan");
        zp_planner_free(planner);
    }
}

#[test]
fn the_whole_process_allocates_nothing_in_a_plan_of_any_shipped_latent_bundle() {
    let exe = scratch("alloc-count").join("alloc_count");
    build(false, "c11", &["ffi-tests/c/alloc_count.c"], &[], &exe);
    let stdout = run_ok(
        Command::new(&exe)
            .arg(ort_library())
            .arg(root().join("models")),
        "alloc_count",
    );
    eprintln!("{stdout}");
    assert!(stdout.ends_with("ok\n"), "{stdout}");
}
