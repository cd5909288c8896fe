//! Where zplan's messages and ONNX Runtime's go: one process-wide route that the host sets
//! ([`set_log_sink`]), so that a robot stack sends them into its own logger.
//!
//! Messages below the route's level are dropped; the rest go to the sink, or, while none is
//! set, to standard error as "zplan [W] ...". ONNX Runtime's messages arrive through the custom
//! logger [`crate::Runtime::init`] installs, prefixed "ONNX Runtime: ", and its own filter
//! follows the route's level. Nothing is logged on the planning path: messages come from
//! loading the runtime and bundles, and from ONNX Runtime when it has something to say.

use std::sync::{PoisonError, RwLock};

/// Severity of a message, lowest first (ONNX Runtime's five levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detail for debugging (ONNX Runtime's session building, node by node).
    Verbose,
    /// What was loaded, and how.
    Info,
    /// Something works, but not as asked or expected.
    Warning,
    /// A call failed.
    Error,
    /// The library cannot go on.
    Fatal,
}

impl LogLevel {
    /// One letter: V, I, W, E or F.
    pub fn letter(self) -> char {
        match self {
            Self::Verbose => 'V',
            Self::Info => 'I',
            Self::Warning => 'W',
            Self::Error => 'E',
            Self::Fatal => 'F',
        }
    }
}

impl From<ort::logging::LogLevel> for LogLevel {
    fn from(level: ort::logging::LogLevel) -> Self {
        use ort::logging::LogLevel as Ort;
        match level {
            Ort::Verbose => Self::Verbose,
            Ort::Info => Self::Info,
            Ort::Warning => Self::Warning,
            Ort::Error => Self::Error,
            Ort::Fatal => Self::Fatal,
        }
    }
}

impl From<LogLevel> for ort::logging::LogLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Verbose => Self::Verbose,
            LogLevel::Info => Self::Info,
            LogLevel::Warning => Self::Warning,
            LogLevel::Error => Self::Error,
            LogLevel::Fatal => Self::Fatal,
        }
    }
}

/// Receives every message at or above the route's level, from whichever thread logs it. It
/// must not set the route itself.
pub type LogSink = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

struct Route {
    level: LogLevel,
    sink: Option<LogSink>,
}

static ROUTE: RwLock<Route> = RwLock::new(Route {
    level: LogLevel::Warning,
    sink: None,
});

/// Routes messages at `level` and above to `sink` (None: standard error) and drops the rest;
/// ONNX Runtime's own filter follows `level`. The default: warnings and above to standard
/// error.
pub fn set_log_sink(level: LogLevel, sink: Option<LogSink>) {
    *ROUTE.write().unwrap_or_else(PoisonError::into_inner) = Route { level, sink };
    if let Some(runtime) = crate::Runtime::get() {
        runtime.environment().set_log_level(level.into());
    }
}

/// The level messages are routed from.
pub fn log_level() -> LogLevel {
    ROUTE.read().unwrap_or_else(PoisonError::into_inner).level
}

/// Sends `message` along the route when `level` reaches its level.
pub fn log(level: LogLevel, message: &str) {
    let route = ROUTE.read().unwrap_or_else(PoisonError::into_inner);
    if level < route.level {
        return;
    }
    match &route.sink {
        Some(sink) => sink(level, message),
        None => eprintln!("zplan [{}] {message}", level.letter()),
    }
}
