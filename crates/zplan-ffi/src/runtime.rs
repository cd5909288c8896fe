//! Process-wide functions: version, status names, the last error, ONNX Runtime.

use std::ffi::c_char;
use std::path::Path;

use zplan_onnx::Runtime;

use crate::status::{copy_last_error, copy_text, guard, utf8};
use crate::zp_status;

/// The library's version, "MAJOR.MINOR.PATCH" (static storage; never free it). Compare with
/// `ZPLAN_VERSION_STRING` to check that the header and the library match.
#[unsafe(no_mangle)]
pub extern "C" fn zp_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// A short English name of a status code (static storage; never free it); "unknown status" for
/// a number that is not a `zp_status`.
#[unsafe(no_mangle)]
pub extern "C" fn zp_status_str(status: i32) -> *const c_char {
    use zp_status::*;
    let name = match status {
        s if s == ZP_OK as i32 => c"ok",
        s if s == ZP_NULL_POINTER as i32 => c"NULL pointer argument",
        s if s == ZP_INVALID_ARGUMENT as i32 => c"invalid argument",
        s if s == ZP_SIZE_MISMATCH as i32 => c"array size mismatch",
        s if s == ZP_NON_FINITE as i32 => c"NaN or infinity in input",
        s if s == ZP_RUNTIME as i32 => c"ONNX Runtime unavailable",
        s if s == ZP_BUNDLE as i32 => c"model bundle error",
        s if s == ZP_NO_GOAL as i32 => c"no goal set",
        s if s == ZP_SOLVER as i32 => c"solver refused the problem",
        s if s == ZP_IO as i32 => c"buffer file error",
        s if s == ZP_PANIC as i32 => c"internal error",
        s if s == ZP_POISONED as i32 => c"handle poisoned by an earlier internal error",
        s if s == ZP_PENDING as i32 => c"training job still running",
        s if s == ZP_BUSY as i32 => c"a training job is running already",
        s if s == ZP_TRAINER as i32 => c"the trainer failed",
        _ => c"unknown status",
    };
    name.as_ptr()
}

/// Copies the calling thread's last error message into `buf` (`len` bytes, always
/// NUL-terminated when `len > 0`, cut to fit) and returns the message's full length in bytes
/// without the NUL, like `snprintf`: call with `len == 0` to size a buffer. 0 when no call on
/// this thread has failed. The message stays until the next failure on this thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_last_error_message(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: `buf` is NULL or `len` writable bytes (the contract).
    unsafe { copy_last_error(buf, len) }
}

/// Loads ONNX Runtime once for the process; call it before any other function that runs a
/// model. `library_path` names the shared library (file or directory); NULL searches, in
/// order, the environment variables `ZPLAN_ORT_DYLIB` and `ORT_DYLIB_PATH`, then `zplan/`
/// beside the installed libzplan (PREFIX/lib/zplan/, where `make install` puts it; for a
/// program linked with libzplan.a, PREFIX/lib/zplan/ for the program in PREFIX/bin), then the
/// source tree's setup location. Calling it again with NULL or the same path succeeds; another path
/// fails (one ONNX Runtime per process). Thread-safe. Before it loads the library it sets
/// `ORT_DISABLE_TELEMETRY=1` in the process environment, which keeps ONNX Runtime's event
/// uploader from starting: no socket is opened, ever. Call it before starting threads that read
/// or change the environment.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_runtime_init(library_path: *const c_char) -> zp_status {
    guard(|| {
        let path = if library_path.is_null() {
            None
        } else {
            // SAFETY: a NUL-terminated string (the contract).
            Some(Path::new(unsafe { utf8(library_path, "library_path") }?))
        };
        Runtime::init(path)?;
        Ok(())
    })
}

/// Copies the loaded ONNX Runtime's version (e.g. "1.31.1") into `buf` like
/// `zp_last_error_message` and returns its length; 0 before `zp_runtime_init` succeeded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_runtime_version(buf: *mut c_char, len: usize) -> usize {
    // SAFETY: `buf` is NULL or `len` writable bytes (the contract).
    Runtime::get().map_or(0, |runtime| unsafe {
        copy_text(runtime.version(), buf, len)
    })
}
