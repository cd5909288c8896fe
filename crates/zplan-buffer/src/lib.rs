//! zplan-buffer: crash-safe storage of (observation, action, reward, next observation)
//! transitions, for recording on the robot and retraining.
//!
//! On disk a buffer is a directory of plain `.npy` files, one per field, preallocated and
//! written in place through memory maps, plus `meta.json` with the committed length
//! (docs/buffer-format.md). Every field loads with `numpy.load(path, mmap_mode="r")`; a crash
//! loses at most the rows after the last [`Buffer::commit`].

mod buffer;
mod error;
mod npy;

pub use buffer::{Buffer, BufferSpec, FORMAT_VERSION, META_FILE, Transition};
pub use error::BufferError;
pub use npy::Dtype;
