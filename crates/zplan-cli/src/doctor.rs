//! `zplan doctor`: what zplan found on this machine, and how to fix what is missing.

use std::ffi::{CStr, c_char, c_int};
use std::path::{Path, PathBuf};

use clap::Args;
use zplan_onnx::Runtime;

/// Report what zplan finds on this machine (ONNX Runtime, BLAS, CPU, threads); exit 1 when
/// something it needs is missing.
#[derive(Args)]
pub struct DoctorCommand {
    /// ONNX Runtime library file or directory to use instead of the search order
    /// (ZPLAN_ORT_DYLIB, ORT_DYLIB_PATH, PREFIX/lib/zplan/ of an installed zplan, the setup
    /// location .deps/onnxruntime/).
    #[arg(long, value_name = "PATH")]
    ort: Option<PathBuf>,
}

/// One line of the report: a label, what was found, and for a failure the fix; a finding that
/// works but runs slower than this machine allows carries a warning and its fix.
struct Finding {
    label: &'static str,
    found: Result<String, (String, String)>,
    warning: Option<(String, String)>,
}

impl Finding {
    fn ok(label: &'static str, found: String) -> Self {
        Self {
            label,
            found: Ok(found),
            warning: None,
        }
    }
    fn missing(label: &'static str, what: String, fix: String) -> Self {
        Self {
            label,
            found: Err((what, fix)),
            warning: None,
        }
    }
}

impl DoctorCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        report(self.ort.as_deref())
    }
}

fn report(ort: Option<&Path>) -> anyhow::Result<()> {
    let findings = [
        onnx_runtime(ort),
        blas(),
        Finding::ok(
            "solver",
            format!(
                "zplan-lqr kernels: {} (products up to 160 in every dimension; OpenBLAS beyond)",
                zplan_lqr::kernel_isa()
            ),
        ),
        Finding::ok("CPU", cpu()),
        Finding::ok("threads", threads()),
    ];
    println!("zplan {}", env!("CARGO_PKG_VERSION"));
    let mut healthy = true;
    for finding in &findings {
        match &finding.found {
            Ok(found) => println!("  {:<13} {found}", finding.label),
            Err((what, fix)) => {
                healthy = false;
                println!("  {:<13} MISSING: {what}", finding.label);
                println!("  {:<13} fix: {fix}", "");
            }
        }
        if let Some((what, fix)) = &finding.warning {
            println!("  {:<13} WARNING: {what}", "");
            println!("  {:<13} fix: {fix}", "");
        }
    }
    if healthy {
        println!("everything zplan needs is in place");
        Ok(())
    } else {
        anyhow::bail!("zplan cannot run until what is MISSING above is fixed")
    }
}

fn onnx_runtime(explicit: Option<&Path>) -> Finding {
    match Runtime::init(explicit) {
        Ok(runtime) => Finding::ok(
            "ONNX Runtime",
            format!(
                "{} at {} (from {})",
                runtime.version(),
                runtime.library_path().display(),
                runtime.source()
            ),
        ),
        Err(err) => Finding::missing(
            "ONNX Runtime",
            err.to_string(),
            "run `make deps` (installs ONNX Runtime 1.31.1 into .deps/onnxruntime/) or `make \
             install` (into PREFIX/lib/zplan/), or set ZPLAN_ORT_DYLIB to a libonnxruntime.so of \
             version 1.31 or newer"
                .to_string(),
        ),
    }
}

/// OpenBLAS as the dynamic loader resolves it for this process.
fn blas() -> Finding {
    const SONAME: &str = "libopenblas.so.0";
    let fix = "run `make deps` (installs Debian libopenblas-dev), or as root: apt-get install \
               libopenblas-dev"
        .to_string();
    // SAFETY: loading OpenBLAS runs its initialiser, which only sizes its thread pool.
    let library = match unsafe { libloading::Library::new(SONAME) } {
        Ok(library) => library,
        Err(err) => return Finding::missing("BLAS", format!("{SONAME}: {err}"), fix),
    };
    // SAFETY: both symbols are OpenBLAS's, take no arguments and return static strings.
    let describe = |symbol: &[u8]| unsafe {
        library
            .get::<unsafe extern "C" fn() -> *const c_char>(symbol)
            .ok()
            .map(|f| f())
            .filter(|s| !s.is_null())
            .map(|s| CStr::from_ptr(s).to_string_lossy().trim().to_string())
    };
    let config = describe(b"openblas_get_config\0").unwrap_or_else(|| "OpenBLAS".into());
    let core = describe(b"openblas_get_corename\0").unwrap_or_else(|| "unknown".into());
    // SAFETY: `openblas_get_num_threads` takes no arguments and returns an int.
    let threads =
        unsafe { library.get::<unsafe extern "C" fn() -> c_int>(b"openblas_get_num_threads\0") }
            .map(|f| unsafe { f() }.to_string())
            .unwrap_or_else(|_| "?".into());
    let path =
        mapped_path("libopenblas").map_or_else(|| SONAME.to_string(), |p| p.display().to_string());
    let mut finding = Finding::ok(
        "BLAS",
        format!("{config} (core {core}, {threads} threads) at {path}"),
    );
    finding.warning =
        better_openblas_core(&core, cpu_has("avx512f"), cpu_has("avx2") && cpu_has("fma")).map(
            |better| {
                (
                    format!(
                        "OpenBLAS runs its {core} kernels, older than this CPU supports: its DGEMM \
                     reaches a fraction of the core's peak (zplan's own kernels, which do the \
                     solver's products up to 160, do not depend on it)"
                    ),
                    format!("set OPENBLAS_CORETYPE={better} in the environment"),
                )
            },
        );
    finding
}

/// The OpenBLAS core to ask for (OPENBLAS_CORETYPE) when the one it loaded is older than the
/// CPU supports, as Debian's OpenBLAS does on CPUs newer than itself (it falls back to
/// "Prescott"); `None` when the loaded core fits the CPU.
fn better_openblas_core(core: &str, avx512f: bool, avx2_fma: bool) -> Option<&'static str> {
    const AVX512_CORES: [&str; 3] = ["skylakex", "cooperlake", "sapphirerapids"];
    const AVX2_CORES: [&str; 4] = ["haswell", "zen", "excavator", "alderlake"];
    let core = core.to_ascii_lowercase();
    let is = |cores: &[&str]| cores.contains(&core.as_str());
    if avx512f && !is(&AVX512_CORES) {
        Some("SkylakeX")
    } else if avx2_fma && !avx512f && !is(&AVX2_CORES) && !is(&AVX512_CORES) {
        Some("Haswell")
    } else {
        None
    }
}

/// Whether the running CPU has an x86 feature (always false elsewhere).
fn cpu_has(feature: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match feature {
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            _ => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        false
    }
}

/// The file a loaded library was mapped from, read from /proc/self/maps.
fn mapped_path(name: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| {
            Path::new(path)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(name))
        })
        .map(PathBuf::from)
}

fn cpu() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(
            || std::env::consts::ARCH.to_string(),
            |(_, m)| m.trim().to_string(),
        );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{model}, {cores} logical cores, features: {}",
        cpu_features()
    )
}

#[cfg(target_arch = "x86_64")]
fn cpu_features() -> String {
    let mut found = Vec::new();
    macro_rules! probe {
        ($($feature:tt),*) => {$(
            if std::arch::is_x86_feature_detected!($feature) {
                found.push($feature);
            }
        )*};
    }
    probe!("sse4.2", "avx", "avx2", "fma", "avx512f", "avx512vl");
    found.join(" ")
}

#[cfg(target_arch = "aarch64")]
fn cpu_features() -> String {
    let mut found = Vec::new();
    if std::arch::is_aarch64_feature_detected!("neon") {
        found.push("neon");
    }
    if std::arch::is_aarch64_feature_detected!("sve") {
        found.push("sve");
    }
    found.join(" ")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_features() -> String {
    "not probed on this architecture".to_string()
}

fn threads() -> String {
    let openblas = match std::env::var("OPENBLAS_NUM_THREADS") {
        Ok(n) if n == "1" => "1".to_string(),
        Ok(n) => format!("{n} (1 is faster for the solver's small matrices)"),
        Err(_) => "unset (set 1: the solver's matrices are small)".to_string(),
    };
    let omp = std::env::var("OMP_NUM_THREADS").unwrap_or_else(|_| "unset".into());
    format!("OPENBLAS_NUM_THREADS={openblas}; OMP_NUM_THREADS={omp}")
}

#[cfg(test)]
mod tests {
    use super::better_openblas_core;

    #[test]
    fn a_fallback_openblas_core_gets_the_coretype_that_fits_the_cpu() {
        // The fallback core on CPUs newer than the OpenBLAS build.
        assert_eq!(
            better_openblas_core("Prescott", true, true),
            Some("SkylakeX")
        );
        assert_eq!(
            better_openblas_core("Prescott", false, true),
            Some("Haswell")
        );
        // An AVX2 core on an AVX-512 CPU is older than it supports.
        assert_eq!(
            better_openblas_core("Haswell", true, true),
            Some("SkylakeX")
        );
        // Cores that fit.
        assert_eq!(better_openblas_core("Cooperlake", true, true), None);
        assert_eq!(better_openblas_core("SkylakeX", true, true), None);
        assert_eq!(better_openblas_core("Zen", false, true), None);
        assert_eq!(better_openblas_core("Haswell", false, true), None);
        // Nothing better to ask for on a CPU without AVX2.
        assert_eq!(better_openblas_core("Sandybridge", false, false), None);
    }
}
