//! The buffer on real files: round trips, the .npy format, growth, sampling, corruption, and a
//! process killed in the middle of appending.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;
use zplan_buffer::{Buffer, BufferError, BufferSpec, Sampler, Transition};

/// A buffer path that does not exist yet, in a temporary directory removed with the guard.
fn scratch(tag: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::Builder::new()
        .prefix(&format!("zplan-buffer-{tag}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("buffer");
    (tmp, dir)
}

fn spec() -> BufferSpec {
    BufferSpec {
        obs_shape: vec![2, 3, 4],
        action_dim: 2,
        chunk_rows: 16,
    }
}

/// Observation k of the deterministic test stream.
fn image(k: usize) -> Vec<u8> {
    (0..24).map(|i| ((k * 31 + i * 7) % 251) as u8).collect()
}

/// Transition k: o_k -> o_{k+1}, episodes of `len` steps (the last one done).
fn transition_values(k: usize, len: usize) -> ([f32; 2], f32, bool) {
    (
        [k as f32, -(k as f32) / 2.0],
        k as f32 * 0.25,
        (k + 1).is_multiple_of(len),
    )
}

fn append_stream(buffer: &mut Buffer, from: usize, to: usize, episode_len: usize) {
    for k in from..to {
        let (action, reward, done) = transition_values(k, episode_len);
        let (obs, next) = (image(k), image(k + 1));
        buffer
            .append(&Transition {
                obs: &obs,
                action: &action,
                reward,
                next_obs: &next,
                done,
            })
            .unwrap();
    }
}

/// Checks that the buffer's transitions are exactly transitions 0..count of the stream.
fn check_stream(buffer: &Buffer, count: usize, episode_len: usize) {
    let mut k = 0;
    let mut previous: Option<(u32, bool)> = None;
    let mut action = [0.0f32; 2];
    for i in 0..buffer.committed_len() {
        if !buffer.is_valid(i) {
            continue;
        }
        let (want_action, want_reward, want_done) = transition_values(k, episode_len);
        assert_eq!(buffer.obs(i), image(k).as_slice(), "obs of transition {k}");
        assert_eq!(
            buffer.obs(i + 1),
            image(k + 1).as_slice(),
            "next obs of transition {k}"
        );
        buffer.action(i, &mut action);
        assert_eq!(action, want_action);
        assert_eq!(buffer.reward(i), want_reward);
        assert_eq!(buffer.done(i), want_done);
        // A new episode after every done (and after a reopen); never back.
        if let Some((last_episode, last_done)) = previous {
            let episode = buffer.episode_of(i);
            assert!(episode >= last_episode, "episodes only grow");
            assert!(
                !last_done || episode > last_episode,
                "a new episode after done, transition {k}"
            );
            assert!(
                buffer.episode_of(i + 1) == episode,
                "next obs in the same episode"
            );
        }
        previous = Some((buffer.episode_of(i), want_done));
        k += 1;
    }
    assert_eq!(k, count);
}

#[test]
fn round_trip_stores_each_observation_once_per_run() {
    let (_tmp, dir) = scratch("roundtrip");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    append_stream(&mut buffer, 0, 10, 5);
    // Two episodes of 5 transitions: 6 rows each (5 starts + the final observation).
    assert_eq!(buffer.len(), 12);
    buffer.commit().unwrap();
    drop(buffer);
    let buffer = Buffer::open(&dir).unwrap();
    assert_eq!(buffer.committed_len(), 12);
    assert_eq!(buffer.transitions(), 10);
    check_stream(&buffer, 10, 5);
}

#[test]
fn reopening_resumes_appending_and_capacity_grows_by_chunks() {
    let (_tmp, dir) = scratch("resume");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    assert_eq!(buffer.capacity(), 16);
    append_stream(&mut buffer, 0, 7, 1000);
    buffer.commit().unwrap();
    drop(buffer);
    let mut buffer = Buffer::open(&dir).unwrap();
    append_stream(&mut buffer, 7, 40, 1000);
    buffer.commit().unwrap();
    assert_eq!(buffer.capacity() % 16, 0);
    assert!(buffer.capacity() >= buffer.len());
    drop(buffer);
    let buffer = Buffer::open(&dir).unwrap();
    // A commit boundary starts a new run: one extra row, never a rewritten committed row.
    assert_eq!(buffer.committed_len(), 40 + 2);
    check_stream(&buffer, 40, 1000);
}

#[test]
fn every_field_is_a_standard_npy_file() {
    let (_tmp, dir) = scratch("npy");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    append_stream(&mut buffer, 0, 20, 4);
    buffer.commit().unwrap();
    let obs: ndarray::Array4<u8> = ndarray_npy::read_npy(dir.join("obs.npy")).unwrap();
    let action: ndarray::Array2<f32> = ndarray_npy::read_npy(dir.join("action.npy")).unwrap();
    let episode: ndarray::Array1<u32> = ndarray_npy::read_npy(dir.join("episode.npy")).unwrap();
    let valid: ndarray::Array1<u8> = ndarray_npy::read_npy(dir.join("valid.npy")).unwrap();
    assert_eq!(obs.shape(), &[buffer.capacity(), 2, 3, 4]);
    assert_eq!(action.shape(), &[buffer.capacity(), 2]);
    for i in 0..buffer.committed_len() {
        assert_eq!(
            obs.slice(ndarray::s![i, .., .., ..])
                .iter()
                .copied()
                .collect::<Vec<_>>(),
            buffer.obs(i)
        );
        assert_eq!(episode[i], buffer.episode_of(i));
        assert_eq!(valid[i] == 1, buffer.is_valid(i));
    }
}

#[test]
fn sampling_is_seeded_and_sequences_stay_inside_episodes() {
    let (_tmp, dir) = scratch("sample");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    append_stream(&mut buffer, 0, 60, 6);
    buffer.commit().unwrap();
    let mut a = Sampler::new(&buffer, 7);
    let mut b = Sampler::new(&buffer, 7);
    assert_eq!(a.transitions(), 60);
    let draws = a.sample_transitions(500);
    assert_eq!(draws, b.sample_transitions(500));
    assert!(draws.iter().all(|&i| buffer.is_valid(i)));
    let distinct: std::collections::HashSet<_> = draws.iter().collect();
    assert!(
        distinct.len() > 50,
        "uniform over 60 transitions: {}",
        distinct.len()
    );
    for start in a.sample_sequences(200, 4) {
        let episode = buffer.episode_of(start);
        for i in start..start + 4 {
            assert!(buffer.is_valid(i));
            assert_eq!(buffer.episode_of(i + 1), episode);
        }
    }
    assert!(
        a.sample_sequences(10, 7).is_empty(),
        "episodes have 6 transitions"
    );
}

#[test]
fn corrupt_meta_and_truncated_files_are_clear_errors() {
    let (_tmp, dir) = scratch("corrupt");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    append_stream(&mut buffer, 0, 5, 10);
    buffer.commit().unwrap();
    drop(buffer);

    let meta = dir.join("meta.json");
    let good = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, &good[..good.len() / 2]).unwrap();
    match Buffer::open(&dir) {
        Err(BufferError::Corrupt { path, problem }) => {
            assert_eq!(path, meta);
            assert!(problem.contains("not a buffer meta file"), "{problem}");
        }
        other => panic!("expected Corrupt, got {:?}", other.err()),
    }
    std::fs::write(&meta, &good).unwrap();

    let action = dir.join("action.npy");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&action)
        .unwrap();
    file.set_len(200).unwrap();
    match Buffer::open(&dir) {
        Err(BufferError::Corrupt { path, problem }) => {
            assert_eq!(path, action);
            assert!(problem.contains("truncated"), "{problem}");
        }
        other => panic!("expected Corrupt, got {:?}", other.err()),
    }
    std::fs::write(&action, b"garbage").unwrap();
    assert!(matches!(
        Buffer::open(&dir),
        Err(BufferError::Corrupt { .. })
    ));
    assert!(matches!(
        Buffer::create(&dir, spec()),
        Err(BufferError::Exists { .. })
    ));
}

#[test]
fn bad_transitions_are_refused() {
    let (_tmp, dir) = scratch("input");
    let mut buffer = Buffer::create(&dir, spec()).unwrap();
    let (obs, next) = (image(0), image(1));
    let short = vec![0u8; 23];
    let bad = |buffer: &mut Buffer, t: Transition<'_>| buffer.append(&t).unwrap_err();
    let err = bad(
        &mut buffer,
        Transition {
            obs: &short,
            action: &[0.0, 0.0],
            reward: 0.0,
            next_obs: &next,
            done: false,
        },
    );
    assert!(
        matches!(err, BufferError::Input { field: "obs", .. }),
        "{err}"
    );
    let err = bad(
        &mut buffer,
        Transition {
            obs: &obs,
            action: &[0.0],
            reward: 0.0,
            next_obs: &next,
            done: false,
        },
    );
    assert!(
        matches!(
            err,
            BufferError::Input {
                field: "action",
                ..
            }
        ),
        "{err}"
    );
    let err = bad(
        &mut buffer,
        Transition {
            obs: &obs,
            action: &[f32::NAN, 0.0],
            reward: 0.0,
            next_obs: &next,
            done: false,
        },
    );
    assert!(
        matches!(
            err,
            BufferError::NonFinite {
                field: "action",
                index: 0
            }
        ),
        "{err}"
    );
    assert_eq!(buffer.len(), 0);
}

const CHILD_ENV: &str = "ZPLAN_BUFFER_KILL_CHILD";

/// The child side of the kill test: appends forever, committing every 10 transitions and
/// reporting each commit on stdout. Does nothing unless started by the parent.
#[test]
fn child_process_appends_until_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut buffer = Buffer::create(Path::new(&dir), spec()).unwrap();
    let mut k = 0;
    loop {
        append_stream(&mut buffer, k, k + 10, 9);
        k += 10;
        buffer.commit().unwrap();
        println!("committed {k}");
    }
}

#[test]
fn a_process_killed_while_appending_leaves_every_committed_row() {
    let (_tmp, dir) = scratch("kill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_appends_until_killed",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut reported = 0;
    while reported < 700 {
        let line = lines.next().expect("child reports commits").unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            reported = n.trim().parse().unwrap();
        }
    }
    // SIGKILL: no destructor, no flush, mid-append.
    child.kill().unwrap();
    child.wait().unwrap();
    let buffer = Buffer::open(&dir).expect("a killed writer leaves an openable buffer");
    assert!(
        buffer.transitions() >= reported,
        "{} transitions, {reported} were committed",
        buffer.transitions()
    );
    check_stream(&buffer, buffer.transitions(), 9);
}
