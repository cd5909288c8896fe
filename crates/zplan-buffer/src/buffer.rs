//! The on-disk transition buffer (docs/buffer-format.md).
//!
//! One preallocated `.npy` file per field, written in place through a memory map, and
//! `meta.json` holding the committed length. Rows come in episodes: row i holds o_i and, when
//! `valid[i] = 1`, the action, reward and done flag of the transition whose next observation is
//! row i + 1 of the same episode. A row with `valid = 0` holds the last observation of a run of
//! transitions; a transition continuing the current run shares that row, so each observation is
//! stored once.
//!
//! Crash safety: rows are written past the committed length; `commit` flushes the maps, then
//! replaces `meta.json` atomically (write a temporary file, fsync, rename, fsync the directory).
//! Committed rows are never written again, so a crash at any point loses at most the rows after
//! the last commit. The true states, when the buffer keeps them, are a field like the others and
//! are committed with the rows.
//!
//! One writer: [`Buffer::create`] and [`Buffer::open`] hold an exclusive advisory lock
//! (`flock`) on the directory until the buffer is dropped, so a second writer, in this process
//! or another, is refused. [`Buffer::open_read`] takes no lock and needs no write access.
//!
//! Disk space is reserved for real (`posix_fallocate`) before any row is written into it, so a
//! full disk is an error from `append` and never a SIGBUS from a write through the map. Every
//! size read from disk is checked (overflow included) before a file is touched, and no failing
//! path shrinks a file below what it held.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut};
use serde::{Deserialize, Serialize};

use crate::error::BufferError;
use crate::npy::{self, Dtype, HEADER_LEN};

/// The meta file's name.
pub const META_FILE: &str = "meta.json";

/// Version of the on-disk format.
pub const FORMAT_VERSION: u32 = 1;

/// Largest file a field may grow to, in bytes: offsets stay far from overflow and within what
/// `off_t` and the map can address.
const MAX_FILE_BYTES: u64 = 1 << 48;

/// Shapes of what the buffer stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferSpec {
    /// Shape of one observation, e.g. [2, 80, 80] (u8).
    pub obs_shape: Vec<usize>,
    /// Actions per transition (f32).
    pub action_dim: usize,
    /// Rows added each time the files grow.
    pub chunk_rows: usize,
    /// Values of the true state kept with each row (f64), 0 for none: what a simulator or a
    /// motion-capture system knows and the images should encode, for plots and probes.
    pub state_dim: usize,
}

/// One transition to append: o, u, r, o', done. `obs` and `next_obs` are u8 images of
/// `obs_shape`, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Transition<'a> {
    /// o_t.
    pub obs: &'a [u8],
    /// u_t.
    pub action: &'a [f32],
    /// r_t.
    pub reward: f32,
    /// o_{t+1}.
    pub next_obs: &'a [u8],
    /// Whether o_{t+1} ends the episode.
    pub done: bool,
    /// The true state s_t (`state_dim` values; empty when the buffer keeps no states).
    pub state: &'a [f64],
    /// The true state s_{t+1}.
    pub next_state: &'a [f64],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format_version: u32,
    /// Committed rows.
    len: usize,
    /// Rows the files hold.
    capacity: usize,
    chunk_rows: usize,
    /// Valid transitions among the committed rows.
    transitions: usize,
    fields: Vec<FieldMeta>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldMeta {
    name: String,
    dtype: Dtype,
    /// Shape of one row.
    shape: Vec<usize>,
}

/// The fields, in file order.
const OBS: usize = 0;
const ACTION: usize = 1;
const REWARD: usize = 2;
const DONE: usize = 3;
const EPISODE: usize = 4;
const VALID: usize = 5;
/// Only when `state_dim > 0`.
const STATE: usize = 6;

/// The names of the fields, in file order.
const FIELD_NAMES: [&str; 7] = [
    "obs", "action", "reward", "done", "episode", "valid", "state",
];

fn field_layout(spec: &BufferSpec) -> Vec<FieldMeta> {
    let field = |name: &str, dtype, shape: Vec<usize>| FieldMeta {
        name: name.into(),
        dtype,
        shape,
    };
    let mut fields = vec![
        field("obs", Dtype::U8, spec.obs_shape.clone()),
        field("action", Dtype::F32, vec![spec.action_dim]),
        field("reward", Dtype::F32, vec![]),
        field("done", Dtype::U8, vec![]),
        field("episode", Dtype::U32, vec![]),
        field("valid", Dtype::U8, vec![]),
    ];
    if spec.state_dim > 0 {
        fields.push(field("state", Dtype::F64, vec![spec.state_dim]));
    }
    fields
}

/// Bytes of one row of `shape` elements of `dtype`, if it is small enough to store.
fn row_bytes(dtype: Dtype, shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(dtype.size(), |bytes, &d| bytes.checked_mul(d))
        .filter(|&b| (b as u64) < MAX_FILE_BYTES)
}

/// Bytes of a field file of `rows` rows of `row_bytes`, if at most [`MAX_FILE_BYTES`].
fn file_bytes(rows: usize, row_bytes: usize) -> Option<u64> {
    rows.checked_mul(row_bytes)
        .and_then(|b| b.checked_add(HEADER_LEN))
        .map(|b| b as u64)
        .filter(|&b| b <= MAX_FILE_BYTES)
}

/// Checks the sizes of `spec`: every row and the first chunk of every field must fit.
fn check_spec(spec: &BufferSpec) -> Result<(), String> {
    if spec.obs_shape.is_empty()
        || spec.obs_shape.contains(&0)
        || spec.action_dim == 0
        || spec.chunk_rows == 0
    {
        return Err(format!("every size must be at least 1: {spec:?}"));
    }
    for field in field_layout(spec) {
        let bytes = row_bytes(field.dtype, &field.shape)
            .ok_or_else(|| format!("a row of {} {:?} is too large", field.name, field.shape))?;
        file_bytes(spec.chunk_rows, bytes).ok_or_else(|| {
            format!(
                "chunk_rows {}: a chunk of {} rows of {bytes} bytes is too large",
                spec.chunk_rows, field.name
            )
        })?;
    }
    Ok(())
}

/// A field file's map: read-only for a reader, writable for the writer.
enum Map {
    Read(Mmap),
    Write(MmapMut),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::Read(map) => map,
            Map::Write(map) => map,
        }
    }

    fn new(file: &File, writable: bool) -> std::io::Result<Self> {
        if writable {
            map_writable(file).map(Map::Write)
        } else {
            // SAFETY: as in `map_writable`: the mapped bytes stay backed by the file.
            unsafe { Mmap::map(file) }.map(Map::Read)
        }
    }
}

/// A writable map of the whole of `file`.
fn map_writable(file: &File) -> std::io::Result<MmapMut> {
    // SAFETY: the files of a buffer are changed only by its one writer (the directory lock
    // refuses a second), which writes rows past the committed length and never shrinks a file
    // below what it held; every map, the writer's and a reader's, therefore stays backed.
    unsafe { MmapMut::map_mut(file) }
}

/// Reserves the bytes [from, to) of `file` on disk (`posix_fallocate`): afterwards writes there,
/// through a map too, cannot fail for want of space.
fn reserve_space(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    if to <= from {
        return Ok(());
    }
    let overflow = || std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let offset = libc::off_t::try_from(from).map_err(|_| overflow())?;
    let len = libc::off_t::try_from(to - from).map_err(|_| overflow())?;
    loop {
        // SAFETY: a plain system call on an open descriptor; it returns an errno, never -1.
        let errno = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) };
        match errno {
            0 => return Ok(()),
            // A signal (a host's timer, say) interrupted it: nothing is lost, try again.
            libc::EINTR => continue,
            e => return Err(std::io::Error::from_raw_os_error(e)),
        }
    }
}

/// A field file and its map.
struct Column {
    path: PathBuf,
    file: File,
    map: Map,
    dtype: Dtype,
    row_shape: Vec<usize>,
    /// Bytes per row.
    row_bytes: usize,
}

impl Column {
    fn row(&self, i: usize) -> &[u8] {
        let start = HEADER_LEN + i * self.row_bytes;
        &self.map.bytes()[start..start + self.row_bytes]
    }

    /// Row i, writable. Only a writer's columns are written ([`Buffer::append`] checks).
    fn row_mut(&mut self, i: usize) -> &mut [u8] {
        let start = HEADER_LEN + i * self.row_bytes;
        match &mut self.map {
            Map::Write(map) => &mut map[start..start + self.row_bytes],
            Map::Read(_) => unreachable!("rows of a read-only buffer are never written"),
        }
    }

    fn create(
        path: PathBuf,
        dtype: Dtype,
        row_shape: Vec<usize>,
        capacity: usize,
    ) -> Result<Self, BufferError> {
        let row_bytes = row_bytes(dtype, &row_shape).expect("checked by check_spec");
        let len = file_bytes(capacity, row_bytes).expect("checked by check_spec");
        let header =
            npy::header(dtype, capacity, &row_shape).map_err(|problem| BufferError::Input {
                field: "spec",
                problem,
            })?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(BufferError::io(&path))?;
        file.write_all(&header).map_err(BufferError::io(&path))?;
        reserve_space(&file, HEADER_LEN as u64, len).map_err(BufferError::io(&path))?;
        let map = Map::new(&file, true).map_err(BufferError::io(&path))?;
        Ok(Self {
            path,
            file,
            map,
            dtype,
            row_shape,
            row_bytes,
        })
    }

    /// Opens a field file and checks it against the meta; returns its capacity too.
    fn open(path: PathBuf, meta: &FieldMeta, writable: bool) -> Result<(Self, usize), BufferError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(BufferError::io(&path))?;
        let size = file.metadata().map_err(BufferError::io(&path))?.len();
        let corrupt = |problem: String| BufferError::Corrupt {
            path: path.clone(),
            problem,
        };
        if size < HEADER_LEN as u64 {
            return Err(corrupt(format!(
                "{size} bytes: shorter than the .npy header"
            )));
        }
        let map = Map::new(&file, writable).map_err(BufferError::io(&path))?;
        let (descr, dims) = npy::parse(&path, &map.bytes()[..HEADER_LEN])?;
        if descr != meta.dtype.descr() || dims[1..] != meta.shape[..] {
            return Err(corrupt(format!(
                "holds {descr} rows of shape {:?}; meta.json says {} rows of shape {:?}",
                &dims[1..],
                meta.dtype.descr(),
                meta.shape
            )));
        }
        let capacity = dims[0];
        let row_bytes = row_bytes(meta.dtype, &meta.shape)
            .ok_or_else(|| corrupt(format!("rows of shape {:?} are too large", meta.shape)))?;
        let needed = file_bytes(capacity, row_bytes).ok_or_else(|| {
            corrupt(format!(
                "its header declares {capacity} rows of {row_bytes} bytes: too large"
            ))
        })?;
        if size < needed {
            return Err(corrupt(format!(
                "truncated: {size} bytes hold fewer than the {capacity} rows its header declares"
            )));
        }
        let column = Self {
            path,
            file,
            map,
            dtype: meta.dtype,
            row_shape: meta.shape.clone(),
            row_bytes,
        };
        Ok((column, capacity))
    }

    /// Grows the file to hold `capacity` rows: the new space is reserved on disk first, then
    /// mapped, then the header says the new capacity. A failure leaves the file at its old size
    /// and the column as it was.
    fn grow(&mut self, capacity: usize) -> Result<(), BufferError> {
        let io = BufferError::io(&self.path);
        let too_large = || BufferError::Input {
            field: "capacity",
            problem: format!(
                "{capacity} rows of {} bytes do not fit in a field file",
                self.row_bytes
            ),
        };
        let len = file_bytes(capacity, self.row_bytes).ok_or_else(too_large)?;
        let header = npy::header(self.dtype, capacity, &self.row_shape).map_err(|problem| {
            BufferError::Input {
                field: "capacity",
                problem,
            }
        })?;
        let old_len = self.map.bytes().len() as u64;
        if len <= old_len {
            return Ok(());
        }
        let Map::Write(map) = &self.map else {
            unreachable!("a read-only buffer never grows");
        };
        map.flush().map_err(io)?;
        // The live map covers [0, old_len); the file only grows past it here, and a failed
        // reservation truncates it back to exactly old_len, so the mapped pages stay backed.
        if let Err(e) = reserve_space(&self.file, old_len, len) {
            let _ = self.file.set_len(old_len);
            return Err(BufferError::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        let mut map = match map_writable(&self.file) {
            Ok(map) => map,
            Err(e) => {
                let _ = self.file.set_len(old_len);
                return Err(BufferError::Io {
                    path: self.path.clone(),
                    source: e,
                });
            }
        };
        map[..HEADER_LEN].copy_from_slice(&header);
        // The old map is unmapped when it is replaced here.
        self.map = Map::Write(map);
        Ok(())
    }

    /// Flushes rows [from, to) and the header.
    fn flush(&self, from: usize, to: usize) -> Result<(), BufferError> {
        let Map::Write(map) = &self.map else {
            return Ok(());
        };
        map.flush_range(0, HEADER_LEN)
            .map_err(BufferError::io(&self.path))?;
        if to > from {
            let start = HEADER_LEN + from * self.row_bytes;
            map.flush_range(start, (to - from) * self.row_bytes)
                .map_err(BufferError::io(&self.path))?;
        }
        Ok(())
    }
}

/// A transition buffer on disk, open for appending and reading, or for reading only.
pub struct Buffer {
    dir: PathBuf,
    spec: BufferSpec,
    columns: Vec<Column>,
    /// The directory, locked (`flock`, exclusive) while a writer has it open; `None` for a
    /// reader.
    lock: Option<File>,
    capacity: usize,
    /// Rows written (committed or not).
    len: usize,
    /// Rows in meta.json.
    committed: usize,
    /// Valid transitions among the rows written.
    transitions: usize,
    /// Valid transitions among the committed rows.
    committed_transitions: usize,
    /// Episode of the next transition.
    episode: u32,
}

/// Locks `dir` for one writer, or says who holds it.
fn lock_dir(dir: &Path) -> Result<File, BufferError> {
    let file = File::open(dir).map_err(BufferError::io(dir))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(BufferError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(BufferError::io(dir)(e)),
    }
}

impl Buffer {
    /// Creates an empty buffer in `dir` (created if missing; must not hold a buffer yet) and
    /// holds it for appending.
    pub fn create(dir: &Path, spec: BufferSpec) -> Result<Self, BufferError> {
        check_spec(&spec).map_err(|problem| BufferError::Input {
            field: "spec",
            problem,
        })?;
        std::fs::create_dir_all(dir).map_err(BufferError::io(dir))?;
        let lock = lock_dir(dir)?;
        let meta_path = dir.join(META_FILE);
        if meta_path.exists() {
            return Err(BufferError::Exists { path: meta_path });
        }
        let capacity = spec.chunk_rows;
        let columns = field_layout(&spec)
            .into_iter()
            .map(|f| {
                Column::create(
                    dir.join(format!("{}.npy", f.name)),
                    f.dtype,
                    f.shape,
                    capacity,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut buffer = Self {
            dir: dir.to_path_buf(),
            spec,
            columns,
            lock: Some(lock),
            capacity,
            len: 0,
            committed: 0,
            transitions: 0,
            committed_transitions: 0,
            episode: 0,
        };
        buffer.write_meta()?;
        Ok(buffer)
    }

    /// Opens the buffer in `dir` to read it and append after its committed rows. Holds the
    /// directory's lock until dropped: a second writer is refused with
    /// [`BufferError::Locked`].
    pub fn open(dir: &Path) -> Result<Self, BufferError> {
        let lock = lock_dir(dir)?;
        Self::open_with(dir, Some(lock))
    }

    /// Opens the buffer in `dir` to read its committed rows: no lock, no write access needed,
    /// and a writer may append meanwhile (this view keeps the rows committed when it opened).
    pub fn open_read(dir: &Path) -> Result<Self, BufferError> {
        Self::open_with(dir, None)
    }

    fn open_with(dir: &Path, lock: Option<File>) -> Result<Self, BufferError> {
        let writable = lock.is_some();
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).map_err(BufferError::io(&meta_path))?;
        let corrupt = |problem: String| BufferError::Corrupt {
            path: meta_path.clone(),
            problem,
        };
        let meta: Meta = serde_json::from_str(&text)
            .map_err(|e| corrupt(format!("not a buffer meta file: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format_version {} (this zplan reads {FORMAT_VERSION})",
                meta.format_version
            )));
        }
        let names: Vec<&str> = meta.fields.iter().map(|f| f.name.as_str()).collect();
        if names[..] != FIELD_NAMES[..6] && names[..] != FIELD_NAMES[..] {
            return Err(corrupt(format!(
                "fields {names:?}, expected {:?} (state optional)",
                FIELD_NAMES
            )));
        }
        let spec = BufferSpec {
            obs_shape: meta.fields[OBS].shape.clone(),
            action_dim: meta.fields[ACTION].shape.first().copied().unwrap_or(0),
            chunk_rows: meta.chunk_rows,
            state_dim: meta
                .fields
                .get(STATE)
                .and_then(|f| f.shape.first().copied())
                .unwrap_or(0),
        };
        if field_layout(&spec) != meta.fields {
            return Err(corrupt(
                "field dtypes or shapes differ from the buffer layout".into(),
            ));
        }
        check_spec(&spec).map_err(corrupt)?;
        let mut columns = Vec::new();
        let mut capacity = usize::MAX;
        for field in &meta.fields {
            let (column, cap) =
                Column::open(dir.join(format!("{}.npy", field.name)), field, writable)?;
            capacity = capacity.min(cap);
            columns.push(column);
        }
        if meta.len > capacity {
            return Err(corrupt(format!(
                "len {} exceeds the {capacity} rows the .npy files hold",
                meta.len
            )));
        }
        let mut buffer = Self {
            dir: dir.to_path_buf(),
            spec,
            columns,
            lock,
            capacity,
            len: meta.len,
            committed: meta.len,
            transitions: 0,
            committed_transitions: 0,
            episode: 0,
        };
        if buffer.len > 0 && buffer.is_valid(buffer.len - 1) {
            return Err(BufferError::Corrupt {
                path: dir.join("valid.npy"),
                problem: format!(
                    "row {} starts a transition, but its next observation is not committed",
                    buffer.len - 1
                ),
            });
        }
        buffer.transitions = buffer.transitions_before(buffer.len);
        buffer.committed_transitions = buffer.transitions;
        buffer.episode = match buffer.len {
            0 => 0,
            n => buffer.episode_of(n - 1).wrapping_add(1),
        };
        Ok(buffer)
    }

    /// Whether this buffer was opened for appending (it holds the directory's lock).
    pub fn is_writable(&self) -> bool {
        self.lock.is_some()
    }

    /// The buffer's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its shapes.
    pub fn spec(&self) -> &BufferSpec {
        &self.spec
    }

    /// Rows written (the committed ones and any appended since).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows in meta.json, the ones that survive a crash.
    pub fn committed_len(&self) -> usize {
        self.committed
    }

    /// Transitions among the rows written.
    pub fn transitions(&self) -> usize {
        self.transitions
    }

    /// Transitions among the committed rows, the ones that survive a crash.
    pub fn committed_transitions(&self) -> usize {
        self.committed_transitions
    }

    /// Rows the files hold before they grow again.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Starts a new episode for the next transition (a `done` transition does so by itself).
    pub fn end_episode(&mut self) {
        if self.len > 0 && self.episode_of(self.len - 1) == self.episode {
            self.episode = self.episode.wrapping_add(1);
        }
    }

    /// Appends one transition. It is on disk after the next [`Buffer::commit`]. Nothing is
    /// written unless every value is accepted and the disk space for the rows is reserved.
    pub fn append(&mut self, transition: &Transition<'_>) -> Result<(), BufferError> {
        if !self.is_writable() {
            return Err(BufferError::ReadOnly {
                path: self.dir.clone(),
            });
        }
        let obs_len: usize = self.spec.obs_shape.iter().product();
        let check = |field: &'static str, found: usize, expected: usize| {
            if found == expected {
                Ok(())
            } else {
                Err(BufferError::Input {
                    field,
                    problem: format!("{found} values, expected {expected}"),
                })
            }
        };
        check("obs", transition.obs.len(), obs_len)?;
        check("next_obs", transition.next_obs.len(), obs_len)?;
        check("action", transition.action.len(), self.spec.action_dim)?;
        check("state", transition.state.len(), self.spec.state_dim)?;
        check(
            "next_state",
            transition.next_state.len(),
            self.spec.state_dim,
        )?;
        if let Some(index) = transition.action.iter().position(|v| !v.is_finite()) {
            return Err(BufferError::NonFinite {
                field: "action",
                index,
            });
        }
        if !transition.reward.is_finite() {
            return Err(BufferError::NonFinite {
                field: "reward",
                index: 0,
            });
        }
        for (field, values) in [
            ("state", transition.state),
            ("next_state", transition.next_state),
        ] {
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(BufferError::NonFinite { field, index });
            }
        }
        // Continue the current run when the last (uncommitted) row is this transition's o_t.
        let continues = self.len > self.committed
            && self.len > 0
            && !self.is_valid(self.len - 1)
            && self.episode_of(self.len - 1) == self.episode
            && self.columns[OBS].row(self.len - 1) == transition.obs;
        let row = if continues { self.len - 1 } else { self.len };
        self.reserve(row + 2)?;
        if !continues {
            self.columns[OBS]
                .row_mut(row)
                .copy_from_slice(transition.obs);
            self.write_state(row, transition.state);
        }
        self.write_row(
            row,
            transition.action,
            transition.reward,
            transition.done,
            true,
        );
        self.columns[OBS]
            .row_mut(row + 1)
            .copy_from_slice(transition.next_obs);
        self.write_state(row + 1, transition.next_state);
        self.write_row(row + 1, &[], 0.0, false, false);
        self.len = row + 2;
        self.transitions += 1;
        if transition.done {
            self.episode = self.episode.wrapping_add(1);
        }
        Ok(())
    }

    fn write_row(&mut self, row: usize, action: &[f32], reward: f32, done: bool, valid: bool) {
        let episode = self.episode;
        let out = self.columns[ACTION].row_mut(row);
        for (i, chunk) in out.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&action.get(i).copied().unwrap_or(0.0).to_le_bytes());
        }
        self.columns[REWARD]
            .row_mut(row)
            .copy_from_slice(&reward.to_le_bytes());
        self.columns[DONE].row_mut(row)[0] = u8::from(done);
        self.columns[EPISODE]
            .row_mut(row)
            .copy_from_slice(&episode.to_le_bytes());
        self.columns[VALID].row_mut(row)[0] = u8::from(valid);
    }

    fn write_state(&mut self, row: usize, state: &[f64]) {
        if let Some(column) = self.columns.get_mut(STATE) {
            for (chunk, v) in column.row_mut(row).chunks_exact_mut(8).zip(state) {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Grows every file by whole chunks until it holds `rows`. On a failure (no disk space, a
    /// size too large) the files that grew keep their new space, which the header declares,
    /// and the buffer's capacity stays the old one: nothing written is lost.
    fn reserve(&mut self, rows: usize) -> Result<(), BufferError> {
        if rows <= self.capacity {
            return Ok(());
        }
        let chunk = self.spec.chunk_rows;
        let capacity =
            rows.div_ceil(chunk)
                .checked_mul(chunk)
                .ok_or_else(|| BufferError::Input {
                    field: "capacity",
                    problem: format!("{rows} rows in chunks of {chunk} overflow"),
                })?;
        for column in &mut self.columns {
            column.grow(capacity)?;
        }
        self.capacity = capacity;
        Ok(())
    }

    /// Makes every row appended so far durable: flush the data, then replace meta.json.
    pub fn commit(&mut self) -> Result<(), BufferError> {
        if !self.is_writable() {
            return Err(BufferError::ReadOnly {
                path: self.dir.clone(),
            });
        }
        for column in &self.columns {
            column.flush(self.committed, self.len)?;
            column
                .file
                .sync_data()
                .map_err(BufferError::io(&column.path))?;
        }
        let previous = self.committed;
        self.committed = self.len;
        if let Err(e) = self.write_meta() {
            self.committed = previous;
            return Err(e);
        }
        self.committed_transitions = self.transitions;
        Ok(())
    }

    fn write_meta(&mut self) -> Result<(), BufferError> {
        let transitions = self.transitions_before(self.committed);
        let meta = Meta {
            format_version: FORMAT_VERSION,
            len: self.committed,
            capacity: self.capacity,
            chunk_rows: self.spec.chunk_rows,
            transitions,
            fields: field_layout(&self.spec),
        };
        let path = self.dir.join(META_FILE);
        let tmp = self.dir.join(format!("{META_FILE}.tmp"));
        let text = serde_json::to_string_pretty(&meta).expect("meta serialises");
        let mut file = File::create(&tmp).map_err(BufferError::io(&tmp))?;
        file.write_all(text.as_bytes())
            .map_err(BufferError::io(&tmp))?;
        file.sync_all().map_err(BufferError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(BufferError::io(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(BufferError::io(&self.dir))?;
        Ok(())
    }

    /// Valid transitions among the first `rows` rows.
    fn transitions_before(&self, rows: usize) -> usize {
        (0..rows).filter(|&i| self.is_valid(i)).count()
    }

    /// Whether row i starts a transition (its next observation is row i + 1).
    pub fn is_valid(&self, i: usize) -> bool {
        self.columns[VALID].row(i)[0] == 1
    }

    /// The episode of row i.
    pub fn episode_of(&self, i: usize) -> u32 {
        let b = self.columns[EPISODE].row(i);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The observation of row i, row-major u8.
    pub fn obs(&self, i: usize) -> &[u8] {
        self.columns[OBS].row(i)
    }

    /// Copies the action of row i into `out`.
    pub fn action(&self, i: usize, out: &mut [f32]) {
        for (v, b) in out
            .iter_mut()
            .zip(self.columns[ACTION].row(i).chunks_exact(4))
        {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    /// The reward of row i.
    pub fn reward(&self, i: usize) -> f32 {
        let b = self.columns[REWARD].row(i);
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The done flag of row i.
    pub fn done(&self, i: usize) -> bool {
        self.columns[DONE].row(i)[0] == 1
    }

    /// Copies the true state of row i into `out` (`state_dim` values; nothing when the buffer
    /// keeps no states).
    pub fn state(&self, i: usize, out: &mut [f64]) {
        if let Some(column) = self.columns.get(STATE) {
            for (v, b) in out.iter_mut().zip(column.row(i).chunks_exact(8)) {
                *v = f64::from_le_bytes(b.try_into().expect("8 bytes"));
            }
        }
    }
}
