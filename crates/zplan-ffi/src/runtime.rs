//! Process-wide functions: version, status names, the last error, ONNX Runtime.

use std::ffi::{CString, c_char, c_void};
use std::path::Path;
use std::sync::Once;

use zplan_onnx::{LogLevel, Runtime};

use crate::status::{Failure, copy_last_error, copy_text, guard, utf8};
use crate::{ZP_LOG_ERROR, ZP_LOG_FATAL, ZP_LOG_INFO, ZP_LOG_VERBOSE, ZP_LOG_WARNING, zp_status};

/// Done once OpenBLAS's threads were set: by the first `zp_runtime_init` that succeeds (to 1),
/// or by the caller (`zp_set_blas_threads`), whichever comes first.
static BLAS_THREADS_SET: Once = Once::new();

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
/// or change the environment. Its first success also sets OpenBLAS to one thread, whatever
/// `OPENBLAS_NUM_THREADS` says, unless `zp_set_blas_threads` was called before.
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
        BLAS_THREADS_SET.call_once(|| zplan_lqr::set_blas_threads(1));
        Ok(())
    })
}

/// Sets how many threads OpenBLAS splits one of the solver's large products over (products up
/// to 160 in every dimension run in zplan's own kernels on the calling thread). 1, what
/// `zp_runtime_init` sets, keeps every product on the calling thread; ZP_INVALID_ARGUMENT for
/// 0. A multithreaded OpenBLAS starts its pool when the process loads it, before any zplan
/// call, sized by `OPENBLAS_NUM_THREADS` or the core count: this chooses how many of those
/// threads work, not how many exist (`OPENBLAS_NUM_THREADS=1` in the environment, or the serial
/// OpenBLAS, makes the pool empty). Process-wide; call it while no plan or solve runs.
#[unsafe(no_mangle)]
pub extern "C" fn zp_set_blas_threads(threads: usize) -> zp_status {
    guard(|| {
        if threads == 0 {
            return Err(Failure::new(
                zp_status::ZP_INVALID_ARGUMENT,
                "zp_set_blas_threads: threads is 0; 1 keeps products on the calling thread",
            ));
        }
        BLAS_THREADS_SET.call_once(|| {});
        zplan_lqr::set_blas_threads(threads);
        Ok(())
    })
}

/// Receives zplan's and ONNX Runtime's messages (`zp_set_log_callback`): the level (a
/// `ZP_LOG_*` value), the message (NUL-terminated, valid during the call only) and the `user`
/// pointer given with the callback.
pub type zp_log_callback =
    Option<unsafe extern "C" fn(level: u32, message: *const c_char, user: *mut c_void)>;

/// The host's callback and its pointer, called from whichever thread logs.
struct HostLog {
    callback: unsafe extern "C" fn(u32, *const c_char, *mut c_void),
    user: *mut c_void,
}

impl HostLog {
    fn send(&self, level: u32, message: &CString) {
        // SAFETY: the host's callback with its own pointer (`zp_set_log_callback`'s contract).
        unsafe { (self.callback)(level, message.as_ptr(), self.user) }
    }
}

// SAFETY: `zp_set_log_callback`'s contract: the callback may be called from any thread with
// `user`, and the host made both fit for that.
unsafe impl Send for HostLog {}
// SAFETY: as for Send; the callback only receives `user`, it never goes through a reference.
unsafe impl Sync for HostLog {}

/// Routes zplan's messages and ONNX Runtime's at `min_level` and above (a `ZP_LOG_*` value) to
/// `callback`, with `user` passed through; NULL: to standard error (the default, with
/// `ZP_LOG_WARNING`). Messages below `min_level` are dropped, and ONNX Runtime's own filter is
/// set to it. The callback runs on whichever thread logs (a loading thread, ONNX Runtime's),
/// so it must be thread-safe; it must not call zplan. Nothing is logged while planning: zplan
/// logs when it loads ONNX Runtime and bundles (ZP_LOG_INFO), ONNX Runtime when it has
/// something to say. Process-wide; ZP_INVALID_ARGUMENT for a level that is not a `ZP_LOG_*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_set_log_callback(
    callback: zp_log_callback,
    user: *mut c_void,
    min_level: u32,
) -> zp_status {
    guard(|| {
        let level = match min_level {
            ZP_LOG_VERBOSE => LogLevel::Verbose,
            ZP_LOG_INFO => LogLevel::Info,
            ZP_LOG_WARNING => LogLevel::Warning,
            ZP_LOG_ERROR => LogLevel::Error,
            ZP_LOG_FATAL => LogLevel::Fatal,
            other => {
                return Err(Failure::new(
                    zp_status::ZP_INVALID_ARGUMENT,
                    format!("min_level {other}: not a ZP_LOG_* level (0 to 4)"),
                ));
            }
        };
        let sink = callback.map(|callback| {
            let host = HostLog { callback, user };
            Box::new(move |level: LogLevel, message: &str| {
                let code = match level {
                    LogLevel::Verbose => ZP_LOG_VERBOSE,
                    LogLevel::Info => ZP_LOG_INFO,
                    LogLevel::Warning => ZP_LOG_WARNING,
                    LogLevel::Error => ZP_LOG_ERROR,
                    LogLevel::Fatal => ZP_LOG_FATAL,
                };
                // A message with a NUL inside is cut there.
                let end = message.find('\0').unwrap_or(message.len());
                let text = CString::new(&message[..end]).unwrap_or_default();
                host.send(code, &text);
            }) as zplan_onnx::LogSink
        });
        zplan_onnx::set_log_sink(level, sink);
        Ok(())
    })
}

/// How many threads OpenBLAS splits one product over (`zp_set_blas_threads`).
#[unsafe(no_mangle)]
pub extern "C" fn zp_blas_threads() -> usize {
    zplan_lqr::blas_threads()
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
