//! Finding, loading and version-checking the ONNX Runtime shared library.
//!
//! zplan links ONNX Runtime at run time (`ort`'s `load-dynamic`), so the library is looked up in
//! this order, and the first source that is *given* is the one used (a given path that fails is an
//! error, never a silent fall-through to the next source):
//!
//! 1. the explicit path passed to [`Runtime::init`];
//! 2. the environment variable `ZPLAN_ORT_DYLIB`;
//! 3. the environment variable `ORT_DYLIB_PATH` (the `ort` crate's own);
//! 4. the installed location beside zplan's own code, where `make install PREFIX=...` puts the
//!    library: `DIR/zplan/` for the file in DIR that holds zplan (PREFIX/lib/libzplan.so), then
//!    `DIR/../lib/zplan/` (PREFIX/bin/zplan, or a program linked with libzplan.a);
//! 5. the setup location `.deps/onnxruntime/` of the source tree, filled by `make deps`.
//!
//! The installed and setup locations are searched: one that holds no library is passed over.
//! A path may name the library file or a directory holding it. The library is loaded once per
//! process; [`Runtime::init`] is idempotent and safe to call from several threads.
//!
//! No network traffic: ONNX Runtime 1.31's Linux build carries an event uploader (1DS) that
//! starts threads which resolve and contact a collector host some seconds after the runtime is
//! initialised, whatever `DisableTelemetryEvents` says afterwards. Only the environment variable
//! [`ORT_DISABLE_TELEMETRY`] = `1`, present when the library initialises, keeps it from
//! starting, so [`Runtime::init`] sets it in the process environment before it opens the
//! library (and child processes inherit it).

use std::ffi::CStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::RuntimeError;

/// Version of ONNX Runtime that `make deps` installs and the one zplan is tested against.
pub const SETUP_VERSION: &str = "1.31.1";

/// Oldest ONNX Runtime accepted, as (major, minor): the `api-31` level `ort` is built for.
pub const MINIMUM_VERSION: (u32, u32) = (1, 31);

/// Environment variable naming the library (file or directory), checked before `ORT_DYLIB_PATH`.
pub const ZPLAN_ORT_DYLIB: &str = "ZPLAN_ORT_DYLIB";

/// The `ort` crate's environment variable for the library, checked after `ZPLAN_ORT_DYLIB`.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

/// The environment variable that keeps ONNX Runtime's event uploader from starting; set to `1`
/// by [`Runtime::init`] before the library is opened.
pub const ORT_DISABLE_TELEMETRY: &str = "ORT_DISABLE_TELEMETRY";

/// File names looked for inside a directory, most specific first.
const LIBRARY_NAMES: [&str; 2] = ["libonnxruntime.so.1.31.1", "libonnxruntime.so"];

/// Where a library path came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    /// Passed to [`Runtime::init`].
    Explicit,
    /// The `ZPLAN_ORT_DYLIB` environment variable.
    ZplanEnv,
    /// The `ORT_DYLIB_PATH` environment variable.
    OrtEnv,
    /// `zplan/` beside the library or program that holds zplan's code, as `make install` lays
    /// it out.
    Installed,
    /// `.deps/onnxruntime/` in the source tree, put there by `make deps`.
    SetupLocation,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Explicit => "explicit path",
            Self::ZplanEnv => ZPLAN_ORT_DYLIB,
            Self::OrtEnv => ORT_DYLIB_PATH,
            Self::Installed => "installed location",
            Self::SetupLocation => "setup location",
        })
    }
}

/// The loaded ONNX Runtime: one per process, shared by every session zplan creates.
pub struct Runtime {
    library: PathBuf,
    source: LibrarySource,
    version: String,
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

impl Runtime {
    /// Loads ONNX Runtime (see the module docs for the search order) or returns the one already
    /// loaded in this process.
    ///
    /// Once a library is loaded, `init(None)` returns it whatever the environment says now, and
    /// `init(Some(path))` returns it when `path` names the same file and fails with
    /// [`RuntimeError::AlreadyLoaded`] otherwise: a process holds one ONNX Runtime.
    pub fn init(explicit: Option<&Path>) -> Result<&'static Runtime, RuntimeError> {
        if let Some(runtime) = RUNTIME.get() {
            return runtime.same_library(explicit);
        }
        let _guard = INIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = RUNTIME.get() {
            return runtime.same_library(explicit);
        }
        let runtime = Self::load(explicit)?;
        Ok(RUNTIME.get_or_init(|| runtime))
    }

    /// The runtime loaded in this process, if [`Runtime::init`] has succeeded.
    pub fn get() -> Option<&'static Runtime> {
        RUNTIME.get()
    }

    /// Path of the loaded library file.
    pub fn library_path(&self) -> &Path {
        &self.library
    }

    /// Where the library path came from.
    pub fn source(&self) -> LibrarySource {
        self.source
    }

    /// The library's own version string, e.g. `"1.31.1"`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The process-wide `ort` environment that sessions are built from.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }

    fn load(explicit: Option<&Path>) -> Result<Runtime, RuntimeError> {
        let (library, source) = locate(explicit)?;
        if std::env::var_os(ORT_DISABLE_TELEMETRY).is_none_or(|v| v != "1") {
            // SAFETY: `init` holds INIT_LOCK, so no other zplan thread touches the environment;
            // the host is told (zplan.h, zp_runtime_init) to initialise before starting threads
            // that read or write it.
            unsafe { std::env::set_var(ORT_DISABLE_TELEMETRY, "1") };
        }
        if !library.is_file() {
            return Err(RuntimeError::Missing {
                path: library,
                origin: source,
            });
        }
        // Keep our handle open until `ort` holds its own, so the library is mapped once.
        let (_handle, version) = probe_version(&library, source)?;
        check_version(&version).map_err(|required| RuntimeError::TooOld {
            path: library.clone(),
            origin: source,
            found: version.clone(),
            required,
        })?;
        let environment = ort::init_from(&library)
            .map_err(|e| RuntimeError::Open {
                path: library.clone(),
                origin: source,
                reason: e.to_string(),
            })?
            .with_name("zplan")
            .with_telemetry(false)
            .with_logger(std::sync::Arc::new(
                |level, _category, _id, _location, message| {
                    crate::log::log(level.into(), &format!("ONNX Runtime: {message}"))
                },
            ))
            .build()
            .map_err(|e| RuntimeError::Environment {
                path: library.clone(),
                reason: e.to_string(),
            })?;
        environment.set_log_level(crate::log::log_level().into());
        crate::log::log(
            crate::LogLevel::Info,
            &format!(
                "ONNX Runtime {version} loaded from {} ({source})",
                library.display()
            ),
        );
        Ok(Runtime {
            library,
            source,
            version,
            environment,
        })
    }

    fn same_library(
        &'static self,
        explicit: Option<&Path>,
    ) -> Result<&'static Runtime, RuntimeError> {
        let Some(requested) = explicit.map(resolve) else {
            return Ok(self);
        };
        let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        if canonical(&requested) == canonical(&self.library) {
            Ok(self)
        } else {
            Err(RuntimeError::AlreadyLoaded {
                loaded: self.library.clone(),
                requested,
            })
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("source", &self.source)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// `.deps/onnxruntime/` of the source tree this crate was built from.
pub fn setup_dir() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // crates/zplan-onnx -> workspace root
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest_dir);
    root.join(".deps").join("onnxruntime")
}

/// Picks the library path by the search order, without opening it.
fn locate(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource), RuntimeError> {
    if let Some(path) = explicit {
        return Ok((resolve(path), LibrarySource::Explicit));
    }
    for (var, source) in [
        (ZPLAN_ORT_DYLIB, LibrarySource::ZplanEnv),
        (ORT_DYLIB_PATH, LibrarySource::OrtEnv),
    ] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Ok((resolve(Path::new(&value)), source));
        }
    }
    let installed = installed_dirs();
    let setup = setup_dir();
    let searched = installed
        .iter()
        .map(|dir| (dir, LibrarySource::Installed))
        .chain([(&setup, LibrarySource::SetupLocation)]);
    for (dir, source) in searched {
        let library = resolve(dir);
        if dir.is_dir() && library.is_file() {
            return Ok((library, source));
        }
    }
    Err(RuntimeError::NotInstalled {
        searched: installed.into_iter().chain([setup]).collect(),
    })
}

/// The installed locations: `DIR/zplan` and `DIR/../lib/zplan` for the directory DIR of the
/// file that holds this code (libzplan.so, or the program it is linked into); none when the
/// dynamic loader cannot say which file that is.
pub fn installed_dirs() -> Vec<PathBuf> {
    let Some(file) = code_file() else {
        return Vec::new();
    };
    let Some(dir) = file.parent() else {
        return Vec::new();
    };
    let mut dirs = vec![dir.join("zplan")];
    dirs.extend(dir.parent().map(|up| up.join("lib").join("zplan")));
    dirs
}

/// Path of the shared library or program that this function's code was loaded from.
fn code_file() -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::uninit();
    let address = code_file as *const () as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables and fills `info`; a non-zero return means
    // `dli_fname` is a NUL-terminated string owned by the loader, valid while the file is
    // mapped (zplan's own code: for the life of this call).
    let name = unsafe {
        if libc::dladdr(address, info.as_mut_ptr()) == 0 {
            return None;
        }
        let info = info.assume_init();
        if info.dli_fname.is_null() {
            return None;
        }
        PathBuf::from(std::ffi::OsStr::from_encoded_bytes_unchecked(
            CStr::from_ptr(info.dli_fname).to_bytes(),
        ))
    };
    // For the main program the loader reports argv[0], which may be a bare name.
    if name.is_absolute() {
        Some(name)
    } else {
        std::env::current_exe().ok()
    }
}

/// A directory stands for the library inside it; anything else is taken as the file itself.
fn resolve(path: &Path) -> PathBuf {
    if path.is_dir() {
        LIBRARY_NAMES
            .iter()
            .map(|name| path.join(name))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| path.join(LIBRARY_NAMES[0]))
    } else {
        path.to_path_buf()
    }
}

/// Opens the library and asks it for its version through `OrtGetApiBase`.
fn probe_version(
    path: &Path,
    source: LibrarySource,
) -> Result<(libloading::Library, String), RuntimeError> {
    // SAFETY: loading runs the library's initialisers; an ONNX Runtime library (or any ordinary
    // shared library, which we then reject below) has no initialisers with preconditions.
    let library =
        unsafe { libloading::Library::new(path.as_os_str()) }.map_err(|e| RuntimeError::Open {
            path: path.to_path_buf(),
            origin: source,
            reason: e.to_string(),
        })?;
    let not_ort = || RuntimeError::NotOnnxRuntime {
        path: path.to_path_buf(),
        origin: source,
    };
    type GetApiBase = unsafe extern "system" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_api_base =
        unsafe { library.get::<GetApiBase>(b"OrtGetApiBase\0") }.map_err(|_| not_ort())?;
    // SAFETY: the symbol is ONNX Runtime's, takes no arguments and returns a static table.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(not_ort());
    }
    // SAFETY: `base` is non-null and points at ONNX Runtime's static `OrtApiBase`, whose
    // `GetVersionString` returns a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) }
        .to_string_lossy()
        .into_owned();
    Ok((library, version))
}

/// `Err(required)` when `version` is older than [`MINIMUM_VERSION`] or cannot be read.
fn check_version(version: &str) -> Result<(), String> {
    let required = format!("{}.{}", MINIMUM_VERSION.0, MINIMUM_VERSION.1);
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= MINIMUM_VERSION => Ok(()),
        _ => Err(required),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_accepts_minimum_and_newer() {
        assert!(check_version("1.31.0").is_ok());
        assert!(check_version("1.31.1").is_ok());
        assert!(check_version("1.32.0").is_ok());
        assert!(check_version("2.0.0").is_ok());
    }

    #[test]
    fn version_check_rejects_older_and_garbage() {
        assert_eq!(check_version("1.30.9"), Err("1.31".to_string()));
        assert_eq!(check_version("1.9.0"), Err("1.31".to_string()));
        assert!(check_version("").is_err());
        assert!(check_version("one.two").is_err());
    }

    #[test]
    fn a_directory_resolves_to_the_library_inside_it() {
        let dir = std::env::temp_dir().join(format!("zplan-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(resolve(&dir), dir.join(LIBRARY_NAMES[0]));
        std::fs::write(dir.join("libonnxruntime.so"), b"").unwrap();
        assert_eq!(resolve(&dir), dir.join("libonnxruntime.so"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn setup_dir_is_under_the_workspace_root() {
        let dir = setup_dir();
        assert!(dir.ends_with(".deps/onnxruntime"));
        assert!(
            dir.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("Cargo.toml")
                .is_file()
        );
    }
}
