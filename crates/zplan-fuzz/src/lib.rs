//! The bodies of zplan's fuzz targets: each takes arbitrary bytes, feeds them to a reader of
//! untrusted input, and must return without a panic, a hang or an absurd allocation, whatever
//! the bytes. `fuzz/` runs them under libFuzzer (`make fuzz`); this crate's test replays every
//! input of `fuzz/corpus/` on stable Rust, so each input a fuzzer found stays a regression test.
//!
//! | target | input | reader |
//! |---|---|---|
//! | `manifest` | the text of a `zplan.json` | [`zplan_onnx::Manifest::from_json`] and [`zplan_onnx::VideoManifest::from_json`] (parse and validate, as a latent and as a video bundle) |
//! | `onnx_header` | an `.onnx` file | [`zplan_onnx::OnnxHeader::from_bytes`] and its support check |
//! | `native_graph` | `[nz, nu]` then an `.onnx` file of (z, u) -> z_next | the native evaluator's graph decoder and compiler, with nz = 1 + `nz % 8` and nu = 1 + `nu % 4`, and a run of the compiled network on 3 rows |
//! | `native_encoder` | `[c, h, w, nz]` then an `.onnx` file of obs -> z | the native encoder's compiler for images of 1 + `c % 3` channels, 1 + `h % 32` rows and 1 + `w % 32` columns and nz = 1 + `nz % 8`, and an encoding of two images |
//! | `buffer` | `[kind, arg, payload...]` written over a valid buffer: by `kind % 3`, 0: the payload is `meta.json`; 1: it overwrites the start of field file `arg % 6`; 2: it is `meta.json`, a NUL, then the start of field file `arg % 6` | [`zplan_buffer::Buffer::open_read`] (every row read, sampled) and [`zplan_buffer::Buffer::open`] (`arg % 8` transitions appended, committed) |

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use zplan_buffer::{Buffer, BufferSpec, Transition};
use zplan_onnx::{Manifest, OnnxHeader, VideoManifest};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for the corpus replay.
pub const TARGETS: [(&str, Target); 5] = [
    ("manifest", manifest),
    ("onnx_header", onnx_header),
    ("native_graph", native_graph),
    ("native_encoder", native_encoder),
    ("buffer", buffer),
];

/// Parses and validates `data` as a latent and as a video manifest.
pub fn manifest(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Manifest::from_json(text, Path::new("zplan.json"));
        let _ = VideoManifest::from_json(text, Path::new("zplan.json"));
    }
}

/// Reads `data` as the header of an ONNX model.
pub fn onnx_header(data: &[u8]) {
    if let Ok(header) = OnnxHeader::from_bytes(data) {
        let _ = header.check_supported();
        let _ = header.default_opset();
    }
}

/// Compiles `data[2..]` with the native evaluator (see the crate docs).
pub fn native_graph(data: &[u8]) {
    if let [nz, nu, model @ ..] = data {
        let dims = (1 + usize::from(*nz) % 8, 1 + usize::from(*nu) % 4);
        zplan_onnx::fuzzing::native_graph(model, dims);
    }
}

/// Compiles `data[4..]` with the native encoder (see the crate docs).
pub fn native_encoder(data: &[u8]) {
    if let [c, h, w, nz, model @ ..] = data {
        let size = |v: &u8, n: usize| 1 + usize::from(*v) % n;
        let image = [size(c, 3), size(h, 32), size(w, 32)];
        zplan_onnx::fuzzing::native_encoder(model, image, size(nz, 8));
    }
}

/// Field files of a buffer, in the order of its layout.
const FIELD_FILES: [&str; 6] = [
    "obs.npy",
    "action.npy",
    "reward.npy",
    "done.npy",
    "episode.npy",
    "valid.npy",
];

/// Largest observation `buffer` appends (a corrupt spec may claim far larger ones).
const MAX_APPENDED_OBS: usize = 1 << 20;

/// Corrupts a copy of a valid buffer with `data` (see the crate docs), then reads it and
/// appends to it.
pub fn buffer(data: &[u8]) {
    let Some((_scratch, dir)) = corrupted_buffer(data) else {
        return;
    };
    if let Ok(reader) = Buffer::open_read(&dir) {
        read_all(&reader);
    }
    if let Ok(mut writer) = Buffer::open(&dir) {
        append(&mut writer, usize::from(data[1]) % 8);
    }
}

/// A copy of the valid template buffer with `data` (`[kind, arg, payload...]`, see the crate
/// docs) written over one of its files: the buffer directory and the guard that removes it.
/// `None` for fewer than two bytes.
pub fn corrupted_buffer(data: &[u8]) -> Option<(tempfile::TempDir, PathBuf)> {
    let [kind, arg, payload @ ..] = data else {
        return None;
    };
    let scratch = tempfile::Builder::new()
        .prefix("zplan-fuzz-buffer-")
        .tempdir_in(scratch_root())
        .expect("a scratch directory");
    let dir = scratch.path().join("buffer");
    copy_template(&dir);
    let (meta, field) = match kind % 3 {
        0 => (Some(payload), None),
        1 => (None, Some(payload)),
        _ => match payload.iter().position(|&b| b == 0) {
            Some(nul) => (Some(&payload[..nul]), Some(&payload[nul + 1..])),
            None => (Some(payload), None),
        },
    };
    if let Some(meta) = meta {
        std::fs::write(dir.join("meta.json"), meta).expect("writes meta.json");
    }
    if let Some(field) = field {
        let path = dir.join(FIELD_FILES[usize::from(*arg) % FIELD_FILES.len()]);
        let mut bytes = std::fs::read(&path).expect("reads a field file");
        if field.len() > bytes.len() {
            bytes.resize(field.len(), 0);
        }
        bytes[..field.len()].copy_from_slice(field);
        std::fs::write(&path, bytes).expect("writes a field file");
    }
    Some((scratch, dir))
}

/// Reads every committed row, as a trainer does.
fn read_all(buffer: &Buffer) {
    let spec = buffer.spec();
    let mut action = vec![0.0; spec.action_dim];
    let mut state = vec![0.0; spec.state_dim];
    let mut sum = 0u64;
    for i in 0..buffer.committed_len() {
        sum += buffer.obs(i).iter().map(|&v| u64::from(v)).sum::<u64>();
        buffer.action(i, &mut action);
        buffer.state(i, &mut state);
        let _ = (buffer.reward(i), buffer.done(i), buffer.episode_of(i));
        if buffer.is_valid(i) {
            sum += u64::from(buffer.obs(i + 1)[0]);
        }
    }
    std::hint::black_box(sum);
}

/// Appends `count` transitions of the buffer's shapes and commits them.
fn append(buffer: &mut Buffer, count: usize) {
    let spec = buffer.spec().clone();
    let obs_len: usize = spec.obs_shape.iter().product();
    if obs_len > MAX_APPENDED_OBS || spec.action_dim > MAX_APPENDED_OBS {
        return;
    }
    let (obs, next) = (vec![1u8; obs_len], vec![2u8; obs_len]);
    let action = vec![0.5f32; spec.action_dim];
    let state = vec![0.25; spec.state_dim];
    for k in 0..count {
        let t = Transition {
            obs: &obs,
            action: &action,
            reward: k as f32,
            next_obs: &next,
            done: k % 3 == 2,
            state: &state,
            next_state: &state,
        };
        if buffer.append(&t).is_err() {
            break;
        }
    }
    let _ = buffer.commit();
}

/// Where scratch buffers go: memory-backed when the machine has /dev/shm.
fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The valid buffer every input starts from, made once per process: 1 x 40 x 40 images, two
/// actions, chunks of 512 rows, 200 one-step episodes (400 rows) committed.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<tempfile::TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let tmp = tempfile::Builder::new()
                .prefix("zplan-fuzz-template-")
                .tempdir_in(scratch_root())
                .expect("a scratch directory");
            let spec = BufferSpec {
                obs_shape: vec![1, 40, 40],
                action_dim: 2,
                chunk_rows: 512,
                state_dim: 0,
            };
            let mut buffer =
                Buffer::create(&tmp.path().join("buffer"), spec).expect("creates the template");
            for k in 0..200usize {
                let (obs, next) = (vec![(k % 256) as u8; 1600], vec![(k % 7) as u8; 1600]);
                buffer
                    .append(&Transition {
                        obs: &obs,
                        action: &[k as f32, 1.0],
                        reward: 0.5,
                        next_obs: &next,
                        done: true,
                        state: &[],
                        next_state: &[],
                    })
                    .expect("appends to the template");
            }
            buffer.commit().expect("commits the template");
            tmp
        })
        .path()
}

fn copy_template(dir: &Path) {
    std::fs::create_dir(dir).expect("creates the scratch buffer");
    for entry in std::fs::read_dir(template().join("buffer")).expect("reads the template") {
        let entry = entry.expect("a template file");
        // Read and write (which retry when a signal interrupts them, as libFuzzer's timer does)
        // rather than `fs::copy`, whose copy_file_range may fail with EINTR.
        let bytes = std::fs::read(entry.path()).expect("reads the template");
        std::fs::write(dir.join(entry.file_name()), bytes).expect("copies the template");
    }
}
