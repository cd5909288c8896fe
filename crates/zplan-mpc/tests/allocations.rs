//! Heap allocations of a plan call (encoder, solver, network runs), counted by a global
//! allocator that only this test binary uses.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array4;
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::Bundle;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator; the contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_plan_call_allocates_nothing_once_its_batch_sizes_have_been_seen() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zplan-onnx/tests/fixtures/mlp");
    let settings = PlannerSettings {
        horizon: 6,
        ..PlannerSettings::reference("planar").unwrap()
    };
    let mut planner = Planner::new(Bundle::load(&dir).unwrap(), settings).unwrap();
    let goal = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| if i == j { 255u8 } else { 0 });
    let obs = Array4::from_shape_fn((1, 1, 8, 8), |(_, _, i, j)| ((i * 8 + j) * 3) as u8);
    planner.set_goal(goal.view()).unwrap();
    // Setup: the first calls meet every batch size (candidates x stages, step sizes, ...).
    for _ in 0..5 {
        planner.plan(obs.view()).unwrap();
    }
    for _ in 0..3 {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        planner.plan(obs.view()).unwrap();
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let iterations: usize = planner.candidates().iter().map(|c| c.iterations()).sum();
        assert!(
            iterations > planner.candidates().len(),
            "the solver iterated"
        );
        assert_eq!(allocations, 0, "heap allocations in one plan call");
    }
}
