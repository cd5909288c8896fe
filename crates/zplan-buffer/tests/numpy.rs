//! numpy reads a buffer written here, with the three lines of docs/buffer-format.md and no zplan
//! code. Needs the project's Python environment (`make deps` creates .venv).

use std::path::PathBuf;
use std::process::Command;

use zplan_buffer::{Buffer, BufferSpec, Transition};

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} missing: run `make deps`",
        python.display()
    );
    python
}

#[test]
fn numpy_loads_every_field_and_the_transitions() {
    let tmp = tempfile::Builder::new()
        .prefix("zplan-buffer-numpy-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("buffer");
    let spec = BufferSpec {
        obs_shape: vec![2, 5, 5],
        action_dim: 3,
        chunk_rows: 8,
        state_dim: 2,
    };
    let mut buffer = Buffer::create(&dir, spec).unwrap();
    let image = |k: usize| -> Vec<u8> { (0..50).map(|i| ((k * 13 + i) % 256) as u8).collect() };
    for k in 0..12 {
        let (obs, next) = (image(k), image(k + 1));
        let action = [k as f32, 0.5, -(k as f32)];
        let done = k % 4 == 3;
        buffer
            .append(&Transition {
                obs: &obs,
                action: &action,
                reward: k as f32 * 0.1,
                next_obs: &next,
                done,
                state: &[k as f64, -(k as f64)],
                next_state: &[(k + 1) as f64, -((k + 1) as f64)],
            })
            .unwrap();
    }
    buffer.commit().unwrap();
    // Rows appended after the commit must not be visible to a reader.
    let (obs, next) = (image(99), image(100));
    buffer
        .append(&Transition {
            obs: &obs,
            action: &[9.0; 3],
            reward: 9.0,
            next_obs: &next,
            done: false,
            state: &[99.0, 99.0],
            next_state: &[100.0, 100.0],
        })
        .unwrap();

    let script = r#"
import json, sys
import numpy as np
d = sys.argv[1]
n = json.load(open(f"{d}/meta.json"))["len"]
f = {k: np.load(f"{d}/{k}.npy", mmap_mode="r")[:n] for k in ("obs", "action", "reward", "done", "episode", "valid", "state")}
i = np.flatnonzero(f["valid"])
obs, action, reward, next_obs = f["obs"][i], f["action"][i], f["reward"][i], f["obs"][i + 1]
print(json.dumps({
    "n": int(n), "count": int(len(i)), "obs_shape": list(obs.shape), "dtype": str(obs.dtype),
    "obs_sum": [int(o.sum()) for o in obs], "next_sum": [int(o.sum()) for o in next_obs],
    "action": action.tolist(), "reward": reward.tolist(), "done": f["done"][i].tolist(),
    "episode": f["episode"][i].tolist(), "state": f["state"][i].tolist(),
    "next_state": f["state"][i + 1].tolist(), "state_dtype": str(f["state"].dtype),
}))
"#;
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(got["count"], 12);
    assert_eq!(got["dtype"], "uint8");
    assert_eq!(got["obs_shape"], serde_json::json!([12, 2, 5, 5]));
    for k in 0..12 {
        let sum = |k: usize| image(k).iter().map(|&v| u64::from(v)).sum::<u64>();
        assert_eq!(got["obs_sum"][k], sum(k), "obs of transition {k}");
        assert_eq!(got["next_sum"][k], sum(k + 1), "next obs of transition {k}");
        assert_eq!(
            got["action"][k],
            serde_json::json!([k as f32, 0.5, -(k as f32)])
        );
        assert!((got["reward"][k].as_f64().unwrap() - k as f64 * 0.1).abs() < 1e-6);
        assert_eq!(got["done"][k], u8::from(k % 4 == 3));
        assert_eq!(got["episode"][k], k / 4);
        assert_eq!(got["state"][k], serde_json::json!([k as f64, -(k as f64)]));
        assert_eq!(
            got["next_state"][k],
            serde_json::json!([(k + 1) as f64, -((k + 1) as f64)])
        );
    }
    assert_eq!(got["state_dtype"], "float64");
}
