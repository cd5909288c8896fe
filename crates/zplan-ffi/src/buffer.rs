//! Transition buffers: record (o, u, r, o', done) on the robot for retraining.

use std::ffi::c_char;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use zplan_buffer::{Buffer, BufferSpec, Transition};

use crate::status::{
    Handle, Result, free_handle, guard, non_null, slice, utf8, with_handle, with_handle_ref, write,
    write_handle,
};
use crate::zp_status;

/// Rows added each time a buffer's files grow.
const CHUNK_ROWS: usize = 1024;

/// A transition buffer on disk, open for appending. Made by `zp_buffer_create` or
/// `zp_buffer_open`; ended by `zp_buffer_close` (commits) or `zp_buffer_free` (drops what was
/// appended since the last commit). Appended rows reach the files at once; a commit makes them
/// part of the buffer, so a crash loses at most the rows after the last commit. Disk space is
/// reserved before rows are written: a full disk is a `ZP_IO` from `zp_buffer_append`, never a
/// signal. One writer per buffer (the handle holds its lock until closed or freed). Not
/// thread-safe: the caller serialises calls on one buffer.
pub struct zp_buffer {
    buffer: Buffer,
    poison: AtomicBool,
}

impl Handle for zp_buffer {
    const NAME: &'static str = "zp_buffer";
    fn poison(&self) -> &AtomicBool {
        &self.poison
    }
}

/// # Safety
/// As for [`write_handle`].
unsafe fn into_handle(buffer: Buffer, out: *mut *mut zp_buffer) -> Result<()> {
    let handle = zp_buffer {
        buffer,
        poison: AtomicBool::new(false),
    };
    // SAFETY: the caller's contract.
    unsafe { write_handle(out, handle) }
}

/// Creates an empty buffer in directory `dir` (made if missing; it must not hold a buffer)
/// for observations of shape `obs_shape[0..obs_rank]` (u8, e.g. {2, 80, 80}) and actions of
/// `action_dim` floats, into `*out`. The handle holds the buffer's lock (see
/// `zp_buffer_open`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_create(
    dir: *const c_char,
    obs_shape: *const usize,
    obs_rank: usize,
    action_dim: usize,
    out: *mut *mut zp_buffer,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    guard(|| unsafe {
        non_null(out, "out")?;
        let dir = utf8(dir, "dir")?;
        let shape = slice(obs_shape, obs_rank, obs_rank, "obs_shape")?;
        let spec = BufferSpec {
            obs_shape: shape.to_vec(),
            action_dim,
            chunk_rows: CHUNK_ROWS,
            state_dim: 0,
        };
        into_handle(Buffer::create(Path::new(dir), spec)?, out)
    })
}

/// Opens the buffer in directory `dir` to append after its committed rows, into `*out`. The
/// handle holds the buffer's lock: while it is open, another writer (in this process or
/// another) is refused with `ZP_IO` and a message that says so; readers are unaffected. A
/// buffer that keeps true states (made by `zplan collect`) refuses appends without them, which
/// this API does not record.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_open(dir: *const c_char, out: *mut *mut zp_buffer) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    guard(|| unsafe {
        non_null(out, "out")?;
        let dir = utf8(dir, "dir")?;
        into_handle(Buffer::open(Path::new(dir))?, out)
    })
}

/// Appends one transition: observation `obs` and next observation `next_obs` (`obs_len`
/// bytes each, the buffer's observation shape), action (`action_len` = action_dim finite
/// floats), reward (finite), and whether `next_obs` ends the episode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_append(
    buffer: *mut zp_buffer,
    obs: *const u8,
    next_obs: *const u8,
    obs_len: usize,
    action: *const f32,
    action_len: usize,
    reward: f32,
    done: bool,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle(buffer, |b| {
            let spec = b.buffer.spec();
            let pixels = spec.obs_shape.iter().product();
            let transition = Transition {
                obs: slice(obs, obs_len, pixels, "obs")?,
                next_obs: slice(next_obs, obs_len, pixels, "next_obs")?,
                action: slice(action, action_len, spec.action_dim, "action")?,
                reward,
                done,
                state: &[],
                next_state: &[],
            };
            Ok(b.buffer.append(&transition)?)
        })
    }
}

/// Makes every appended row durable (files flushed, then the meta file replaced atomically).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_commit(buffer: *mut zp_buffer) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe { with_handle(buffer, |b| Ok(b.buffer.commit()?)) }
}

/// Writes the number of transitions appended (committed or not) to `*appended` and of
/// committed ones (those that survive a crash) to `*committed`; either may be NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_transitions(
    buffer: *const zp_buffer,
    appended: *mut usize,
    committed: *mut usize,
) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    unsafe {
        with_handle_ref(buffer, |b| {
            if !appended.is_null() {
                write(appended, b.buffer.transitions(), "appended")?;
            }
            if !committed.is_null() {
                write(committed, b.buffer.committed_transitions(), "committed")?;
            }
            Ok(())
        })
    }
}

/// Commits and frees the buffer. The handle is freed whatever the status; on failure the rows
/// after the last successful commit are lost and the files keep the buffer as it was then.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_close(buffer: *mut zp_buffer) -> zp_status {
    // SAFETY: the arguments follow this function's documented contract.
    let status = unsafe { with_handle(buffer, |b| Ok(b.buffer.commit()?)) };
    // SAFETY: as for `zp_buffer_free`.
    unsafe { zp_buffer_free(buffer) };
    status
}

/// Frees the buffer without committing (NULL is ignored): rows appended since the last commit
/// are dropped, the files keep the committed buffer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_buffer_free(buffer: *mut zp_buffer) {
    // SAFETY: the contract of `_free`.
    unsafe { free_handle(buffer) };
}
