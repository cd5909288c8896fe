//! Status codes, the thread-local last error message, and the panic boundary every entry point
//! goes through.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use zplan_buffer::BufferError;
use zplan_lqr::SolveError;
use zplan_mpc::PlanError;
use zplan_onnx::{BundleError, RuntimeError};

/// What a call did. The numbers are stable: a code is never reused for another meaning.
/// `zp_status_str` names each; `zp_last_error_message` says what went wrong, per thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum zp_status {
    /// Success: the out-parameters are written.
    ZP_OK = 0,
    /// A required pointer argument was NULL.
    ZP_NULL_POINTER = 1,
    /// An argument is invalid (a setting, a path that is not UTF-8, a task name).
    ZP_INVALID_ARGUMENT = 2,
    /// An array's length does not match what the model or problem needs.
    ZP_SIZE_MISMATCH = 3,
    /// An input holds NaN or an infinity.
    ZP_NON_FINITE = 4,
    /// ONNX Runtime could not be loaded, or `zp_runtime_init` has not succeeded yet.
    ZP_RUNTIME = 5,
    /// A model bundle failed to load or a network failed to run.
    ZP_BUNDLE = 6,
    /// `zp_planner_plan` before its goal: a latent planner's goal image (`zp_planner_set_goal`,
    /// goal objective) or an observation planner's pixel goals (`zp_planner_set_pixel_goal`).
    ZP_NO_GOAL = 7,
    /// The solver refused the problem (e.g. a cost that is not convex in u).
    ZP_SOLVER = 8,
    /// A file of a transition buffer could not be read or written, or is corrupt.
    ZP_IO = 9,
    /// An internal error (a Rust panic) was caught; the handle used is now poisoned.
    ZP_PANIC = 10,
    /// The handle was poisoned by an earlier ZP_PANIC and refuses every call but its `_free`.
    ZP_POISONED = 11,
    /// `zp_trainer_poll`: the training job is still running; poll again later.
    ZP_PENDING = 12,
    /// `zp_trainer_start`: a job is running already (collect it first).
    ZP_BUSY = 13,
    /// A training job could not start its trainer, or the trainer failed.
    ZP_TRAINER = 14,
}

/// A failed call: its status and the message `zp_last_error_message` returns.
pub(crate) struct Failure {
    pub(crate) status: zp_status,
    pub(crate) message: String,
}

pub(crate) type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    pub(crate) fn new(status: zp_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        Failure::new(zp_status::ZP_RUNTIME, e.to_string())
    }
}

impl From<BundleError> for Failure {
    fn from(e: BundleError) -> Self {
        let status = match &e {
            BundleError::Runtime(_) => zp_status::ZP_RUNTIME,
            BundleError::NonFinite { .. } => zp_status::ZP_NON_FINITE,
            BundleError::Input { .. } => zp_status::ZP_INVALID_ARGUMENT,
            _ => zp_status::ZP_BUNDLE,
        };
        Failure::new(status, e.to_string())
    }
}

impl From<SolveError> for Failure {
    fn from(e: SolveError) -> Self {
        let status = match &e {
            SolveError::Dimension { .. } | SolveError::HorizonTooLong { .. } => {
                zp_status::ZP_SIZE_MISMATCH
            }
            SolveError::NonFinite { .. } => zp_status::ZP_NON_FINITE,
            SolveError::InvalidBounds { .. } | SolveError::InvalidSettings { .. } => {
                zp_status::ZP_INVALID_ARGUMENT
            }
            _ => zp_status::ZP_SOLVER,
        };
        Failure::new(status, e.to_string())
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Bundle(e) => e.into(),
            PlanError::Solve(e) => e.into(),
            PlanError::NoGoal | PlanError::NoPixelGoal => {
                Failure::new(zp_status::ZP_NO_GOAL, e.to_string())
            }
            PlanError::BundleMismatch(_) | PlanError::FrameLength { .. } => {
                Failure::new(zp_status::ZP_SIZE_MISMATCH, e.to_string())
            }
            e => Failure::new(zp_status::ZP_INVALID_ARGUMENT, e.to_string()),
        }
    }
}

impl From<BufferError> for Failure {
    fn from(e: BufferError) -> Self {
        let status = match &e {
            BufferError::NonFinite { .. } => zp_status::ZP_NON_FINITE,
            BufferError::Input { field: "spec", .. } => zp_status::ZP_INVALID_ARGUMENT,
            BufferError::Input { .. } => zp_status::ZP_SIZE_MISMATCH,
            _ => zp_status::ZP_IO,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    /// The message of this thread's last failed call (kept until the next failure).
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    LAST_ERROR.with(|last| *last.borrow_mut() = message);
}

/// Copies `text` into `buf` (NUL-terminated, cut to `len - 1` bytes; nothing when `buf` is
/// NULL or `len` is 0) and returns the text's full length in bytes, like `snprintf`.
///
/// # Safety
/// `buf` is NULL or points to `len` writable bytes.
pub(crate) unsafe fn copy_text(text: &str, buf: *mut c_char, len: usize) -> usize {
    let bytes = text.as_bytes();
    if !buf.is_null() && len > 0 {
        let n = bytes.len().min(len - 1);
        // SAFETY: the caller gives `len` writable bytes at `buf`; n + 1 <= len.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, n);
            *buf.add(n) = 0;
        }
    }
    bytes.len()
}

/// `copy_text` of this thread's last error message.
///
/// # Safety
/// As for [`copy_text`].
pub(crate) unsafe fn copy_last_error(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: the caller's contract is copy_text's.
    LAST_ERROR.with(|last| unsafe { copy_text(&last.borrow(), buf, len) })
}

/// Runs `f` behind the panic boundary: a panic becomes ZP_PANIC, an error its status; either
/// sets the thread's last error message.
pub(crate) fn guard(f: impl FnOnce() -> Result<()>) -> zp_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => zp_status::ZP_OK,
        Ok(Err(failure)) => {
            set_last_error(failure.message);
            failure.status
        }
        Err(panic) => {
            set_last_error(format!("internal error: {}", panic_message(&panic)));
            zp_status::ZP_PANIC
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// A handle that a panic inside a call poisons. `Sync`, because the C API lets several threads
/// call the functions that take it `const` at once (they get `&Self`).
pub(crate) trait Handle: Sync {
    /// The type's C name, for messages.
    const NAME: &'static str;
    /// Set (never cleared) when a call on the handle panicked.
    fn poison(&self) -> &AtomicBool;
}

/// Refuses a poisoned handle.
pub(crate) fn check_poison<H: Handle>(h: &H) -> Result<()> {
    if h.poison().load(Ordering::Acquire) {
        Err(Failure::new(
            zp_status::ZP_POISONED,
            format!(
                "{}: the handle is poisoned by an earlier internal error; free it",
                H::NAME
            ),
        ))
    } else {
        Ok(())
    }
}

fn null_handle<H: Handle>() -> zp_status {
    set_last_error(format!("{}: the handle is NULL", H::NAME));
    zp_status::ZP_NULL_POINTER
}

/// Runs `f` on the handle behind `handle` (NULL and poisoned handles are refused); a panic
/// poisons the handle.
///
/// # Safety
/// `handle` is NULL or a live handle of this library that no other thread uses during the call
/// (the contract of every non-`const` handle argument).
pub(crate) unsafe fn with_handle<H: Handle>(
    handle: *mut H,
    f: impl FnOnce(&mut H) -> Result<()>,
) -> zp_status {
    // SAFETY: the caller's contract: live, and ours alone for the call.
    let Some(h) = (unsafe { handle.as_mut() }) else {
        return null_handle::<H>();
    };
    let status = guard(|| {
        check_poison(&*h)?;
        f(&mut *h)
    });
    if status == zp_status::ZP_PANIC {
        h.poison().store(true, Ordering::Release);
    }
    status
}

/// As [`with_handle`] for a call that only reads the handle: `f` gets a shared reference, so
/// calls from several threads at once are sound.
///
/// # Safety
/// `handle` is NULL or a live handle of this library, not freed or used mutably during the
/// call (the contract of every `const` handle argument).
pub(crate) unsafe fn with_handle_ref<H: Handle>(
    handle: *const H,
    f: impl FnOnce(&H) -> Result<()>,
) -> zp_status {
    // SAFETY: the caller's contract: live, and only shared during the call.
    let Some(h) = (unsafe { handle.as_ref() }) else {
        return null_handle::<H>();
    };
    let status = guard(|| {
        check_poison(h)?;
        f(h)
    });
    if status == zp_status::ZP_PANIC {
        h.poison().store(true, Ordering::Release);
    }
    status
}

/// Fails with ZP_NULL_POINTER naming `what` when `ptr` is NULL.
pub(crate) fn non_null<T>(ptr: *const T, what: &str) -> Result<()> {
    if ptr.is_null() {
        Err(Failure::new(
            zp_status::ZP_NULL_POINTER,
            format!("{what} is NULL"),
        ))
    } else {
        Ok(())
    }
}

/// The C string at `ptr` as UTF-8.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn utf8<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    non_null(ptr, what)?;
    // SAFETY: non-NULL, and the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| {
        Failure::new(
            zp_status::ZP_INVALID_ARGUMENT,
            format!("{what} is not valid UTF-8"),
        )
    })
}

/// The `len` elements at `ptr` (non-NULL), checked against the `expected` length.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable elements that outlive `'a` and that nothing
/// writes meanwhile.
pub(crate) unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
    expected: usize,
    what: &str,
) -> Result<&'a [T]> {
    non_null(ptr, what)?;
    if len != expected {
        return Err(Failure::new(
            zp_status::ZP_SIZE_MISMATCH,
            format!("{what}: {len} elements given, {expected} expected"),
        ));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// As `slice`, writable.
///
/// # Safety
/// `ptr` is NULL or points to `len` writable elements that outlive `'a` and that nothing else
/// reads or writes meanwhile.
pub(crate) unsafe fn slice_mut<'a, T>(
    ptr: *mut T,
    len: usize,
    expected: usize,
    what: &str,
) -> Result<&'a mut [T]> {
    // SAFETY: the caller's contract covers the read-only check.
    unsafe { slice(ptr.cast_const(), len, expected, what) }?;
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Fails with ZP_NON_FINITE naming `what` and the index of the first NaN or infinity.
pub(crate) fn finite<T: Copy + Into<f64>>(values: &[T], what: &str) -> Result<()> {
    match values.iter().position(|v| !(*v).into().is_finite()) {
        Some(i) => Err(Failure::new(
            zp_status::ZP_NON_FINITE,
            format!("{what}[{i}] is not finite"),
        )),
        None => Ok(()),
    }
}

/// Writes `value` to the out-parameter `out`, refusing NULL.
///
/// # Safety
/// `out` is NULL or points to writable memory for a `T`.
pub(crate) unsafe fn write<T>(out: *mut T, value: T, what: &str) -> Result<()> {
    non_null(out, what)?;
    // SAFETY: non-NULL, and the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// The `ZP_SOLVE_*` number of a solver outcome.
pub(crate) fn solve_status(status: zplan_lqr::Status) -> u32 {
    use zplan_lqr::Status;
    match status {
        Status::Unsolved => crate::ZP_SOLVE_UNSOLVED,
        Status::Converged => crate::ZP_SOLVE_CONVERGED,
        Status::MaxIterations => crate::ZP_SOLVE_MAX_ITERATIONS,
        Status::TimeBudget => crate::ZP_SOLVE_TIME_BUDGET,
        Status::RegularizationLimit => crate::ZP_SOLVE_REGULARIZATION_LIMIT,
        Status::Outranked => crate::ZP_SOLVE_OUTRANKED,
    }
}

/// Drops a handle made by `Box::into_raw` (NULL is ignored), behind the panic boundary.
///
/// # Safety
/// `handle` is NULL or made by this library's constructor and not freed before, and no other
/// thread uses it (the documented contract of every `_free`).
pub(crate) unsafe fn free_handle<H>(handle: *mut H) {
    if !handle.is_null() {
        // SAFETY: the caller's contract.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(handle) })));
    }
}

/// Moves `value` to the heap and writes the new handle to `out`.
///
/// # Safety
/// As for [`write`].
pub(crate) unsafe fn write_handle<H>(out: *mut *mut H, value: H) -> Result<()> {
    non_null(out, "out")?;
    // SAFETY: non-NULL, and the caller's contract.
    unsafe { out.write(Box::into_raw(Box::new(value))) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dummy {
        poison: AtomicBool,
        calls: usize,
    }

    impl Handle for Dummy {
        const NAME: &'static str = "dummy";
        fn poison(&self) -> &AtomicBool {
            &self.poison
        }
    }

    fn last_error() -> String {
        let mut buf = [0 as c_char; 256];
        // SAFETY: 256 writable bytes.
        let len = unsafe { copy_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: copy_last_error NUL-terminated the buffer.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(len, text.len());
        text
    }

    #[test]
    fn a_panic_is_caught_reported_and_poisons_the_handle() {
        let mut dummy = Dummy {
            poison: AtomicBool::new(false),
            calls: 0,
        };
        let handle: *mut Dummy = &mut dummy;
        let count = |d: &mut Dummy| {
            d.calls += 1;
            Ok(())
        };
        // SAFETY: `handle` points to `dummy`, used by this thread alone.
        unsafe {
            assert_eq!(with_handle(handle, count), zp_status::ZP_OK);
            let panicked = with_handle(handle, |d| {
                d.calls += 1;
                panic!("index 7 out of range")
            });
            assert_eq!(panicked, zp_status::ZP_PANIC);
            assert_eq!(last_error(), "internal error: index 7 out of range");
            assert_eq!(with_handle(handle, count), zp_status::ZP_POISONED);
            assert!(last_error().contains("poisoned"));
            assert_eq!(
                with_handle_ref(handle, |_| Ok(())),
                zp_status::ZP_POISONED,
                "a poisoned handle refuses const calls too"
            );
            assert_eq!(
                with_handle(std::ptr::null_mut::<Dummy>(), count),
                zp_status::ZP_NULL_POINTER
            );
        }
        assert_eq!(dummy.calls, 2, "a poisoned handle runs nothing");
    }

    #[test]
    fn a_panic_in_a_const_call_poisons_the_handle_for_every_thread() {
        let dummy = Dummy {
            poison: AtomicBool::new(false),
            calls: 0,
        };
        let handle: *const Dummy = &dummy;
        // SAFETY: `handle` points to `dummy`, only shared.
        let panicked = unsafe { with_handle_ref(handle, |_| panic!("boom")) };
        assert_eq!(panicked, zp_status::ZP_PANIC);
        let address = handle as usize;
        let status = std::thread::spawn(move || {
            // SAFETY: `dummy` outlives the joined thread and is only shared.
            unsafe { with_handle_ref(address as *const Dummy, |_| Ok(())) }
        })
        .join()
        .unwrap();
        assert_eq!(status, zp_status::ZP_POISONED);
    }

    #[test]
    fn messages_are_cut_to_the_buffer_and_sized_like_snprintf() {
        let status = guard(|| Err(Failure::new(zp_status::ZP_IO, "0123456789")));
        assert_eq!(status, zp_status::ZP_IO);
        let mut small = [1 as c_char; 4];
        // SAFETY: 4 writable bytes; NULL with 0.
        unsafe {
            assert_eq!(copy_last_error(small.as_mut_ptr(), small.len()), 10);
            assert_eq!(small, [b'0' as c_char, b'1' as c_char, b'2' as c_char, 0]);
            assert_eq!(copy_last_error(std::ptr::null_mut(), 0), 10);
        }
    }
}
