//! Errors of the buffer. Each names the file involved.

use std::path::PathBuf;

/// Why a buffer cannot be created, opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BufferError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file exists but does not hold what the buffer wrote (bad JSON, bad header, too short).
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Another writer (this process or another) has the buffer open for appending.
    #[error("{path}: another writer has this buffer open for appending (its lock is held)")]
    Locked {
        /// The buffer's directory.
        path: PathBuf,
    },
    /// `append` or `commit` on a buffer opened with `open_read`.
    #[error("{path}: opened for reading only")]
    ReadOnly {
        /// The buffer's directory.
        path: PathBuf,
    },
    /// `create` on a directory that already holds a buffer.
    #[error("{path} already holds a buffer; open it to append")]
    Exists {
        /// The buffer's meta.json.
        path: PathBuf,
    },
    /// A value passed to `append` is NaN or infinite.
    #[error("{field}: element {index} is not finite")]
    NonFinite {
        /// The field (`action`, `reward`).
        field: &'static str,
        /// Position of the first such value in the field (0 for the scalar reward).
        index: usize,
    },
    /// Data passed to `append` do not fit the buffer's layout.
    #[error("{field}: {problem}")]
    Input {
        /// The field (`obs`, `action`, ...).
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl BufferError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BufferError + '_ {
        move |source| BufferError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
