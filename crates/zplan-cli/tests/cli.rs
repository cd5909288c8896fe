//! `zplan --version`, `zplan doctor` and `zplan inspect`, run as a user runs them.

use std::process::{Command, Output};

use tempfile::TempDir;

/// A fresh temporary directory, removed when the guard drops (also when the test fails).
fn scratch(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("zplan-{tag}-"))
        .tempdir()
        .unwrap()
}

fn zplan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zplan"));
    command
        .args(args)
        .env_remove("ZPLAN_ORT_DYLIB")
        .env_remove("ORT_DYLIB_PATH");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run zplan")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard output of a run that must have succeeded (else both streams in the panic).
fn succeeded(output: &Output) -> String {
    let text = stdout(output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

#[test]
fn version_matches_the_package() {
    let output = zplan(&["--version"], &[]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        format!("zplan {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn doctor_finds_the_setup_library_and_blas() {
    let output = zplan(&["doctor"], &[]);
    let text = stdout(&output);
    assert!(output.status.success(), "doctor failed:\n{text}");
    assert!(text.contains("ONNX Runtime  1.31.1 at "), "{text}");
    assert!(text.contains("(from setup location)"), "{text}");
    assert!(text.contains("OpenBLAS"), "{text}");
    assert!(!text.contains("MISSING"), "{text}");
}

#[test]
fn doctor_names_the_solver_kernels_and_warns_of_a_fallback_openblas_core() {
    let output = zplan(&["doctor"], &[("OPENBLAS_CORETYPE", "Prescott")]);
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "a slow core is not a failure:\n{text}"
    );
    assert!(text.contains("(core Prescott,"), "{text}");
    assert!(text.contains("zplan-lqr kernels: "), "{text}");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        assert!(
            text.contains("WARNING: OpenBLAS runs its Prescott kernels"),
            "{text}"
        );
        assert!(text.contains("fix: set OPENBLAS_CORETYPE="), "{text}");
    }
}

#[test]
fn doctor_names_a_missing_library_and_the_fix() {
    let path = "/nonexistent/zplan-doctor/libonnxruntime.so";
    let output = zplan(&["doctor"], &[("ZPLAN_ORT_DYLIB", path)]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("MISSING"), "{text}");
    assert!(text.contains(path), "{text}");
    assert!(text.contains("from ZPLAN_ORT_DYLIB"), "{text}");
    assert!(text.contains("make deps"), "{text}");
}

#[test]
fn doctor_refuses_a_library_that_is_not_onnx_runtime() {
    let tmp = scratch("doctor");
    let fake = tmp.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"plain text").unwrap();
    let output = zplan(&["doctor", "--ort", fake.to_str().unwrap()], &[]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("cannot open ONNX Runtime library"), "{text}");
    assert!(text.contains("explicit path"), "{text}");
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../zplan-onnx/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn inspect_describes_a_valid_bundle() {
    let output = zplan(&["inspect", &fixture("mlp")], &[]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("nz = 3") && text.contains("nu = 2"), "{text}");
    // The fixture's A/B are two summed products, not a dense chain: the generic reverse mode.
    assert!(
        text.contains("the model's exact A/B on zplan's native kernels, by reverse mode"),
        "{text}"
    );
    for network in ["encoder", "dynamics", "jacobians", "decoder", "reward"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(network) && l.ends_with(" us")),
            "{network}: {text}"
        );
    }
}

#[test]
fn inspect_says_a_shipped_model_is_a_dense_chain() {
    let model = format!("{}/../../models/planar", env!("CARGO_MANIFEST_DIR"));
    let output = zplan(&["inspect", &model], &[]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("the model's exact A/B on zplan's native kernels, a dense chain"),
        "{text}"
    );
}

#[test]
fn inspect_describes_and_times_a_video_bundle() {
    for bundle in [
        fixture("video"),
        format!("{}/../../models/push", env!("CARGO_MANIFEST_DIR")),
    ] {
        let output = zplan(&["inspect", &bundle], &[]);
        let text = stdout(&output);
        assert!(output.status.success(), "{bundle}: {text}");
        assert!(text.contains("video, format version 2"), "{text}");
        assert!(text.contains("2 context frame(s)"), "{text}");
        for batch in ["batch   1", "batch 200"] {
            assert!(
                text.lines()
                    .any(|l| l.contains(batch) && l.ends_with(" us")),
                "{batch}: {text}"
            );
        }
    }
}

#[test]
fn inspect_into_a_closed_pipe_ends_without_a_panic() {
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_zplan"))
        .args(["inspect", &fixture("mlp")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run zplan");
    // The reader goes away before zplan writes its report (as `zplan inspect DIR | head -0`).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(output.status.signal(), Some(libc::SIGPIPE), "{err}");
}

#[test]
fn inspect_fails_with_the_error_on_a_bad_bundle() {
    let output = zplan(&["inspect", &fixture("ir14")], &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("IR version 14") && err.contains("encoder.file"),
        "{err}"
    );
}

#[test]
fn collect_writes_a_buffer_for_every_task() {
    let tmp = scratch("collect");
    let root = tmp.path();
    for task in ["planar", "swing", "balance", "cartpole", "threepole"] {
        let dir = root.join(task);
        let output = zplan(
            &[
                "collect",
                "--task",
                task,
                "--samples",
                "40",
                "--seed",
                "3",
                "--out",
                dir.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            output.status.success(),
            "{task}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let buffer = zplan_buffer::Buffer::open_read(&dir).unwrap();
        assert_eq!(buffer.transitions(), 40, "{task}");
        let state_dim = buffer.spec().state_dim;
        let expected = zplan_envs::TaskKind::from_name(task)
            .unwrap()
            .task()
            .state_dim();
        assert_eq!(state_dim, expected, "{task}: the true state is a field");
        let mut state = vec![0.0; state_dim];
        let moving = (0..buffer.committed_len())
            .filter(|&i| {
                buffer.state(i, &mut state);
                state.iter().all(|v| v.is_finite()) && state.iter().any(|&v| v != 0.0)
            })
            .count();
        assert!(
            moving > buffer.committed_len() / 2,
            "{task}: {moving} rows of {} hold a true state",
            buffer.committed_len()
        );
    }
    let dir = root.join("episodes");
    let args = [
        "collect",
        "--task",
        "balance",
        "--policy",
        "random",
        "--episodes",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ];
    let output = zplan(&args, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let buffer = zplan_buffer::Buffer::open_read(&dir).unwrap();
    assert_eq!(buffer.transitions(), 300);
    assert_eq!(
        buffer.committed_len(),
        303,
        "each episode stores its observations once"
    );
    let output = zplan(
        &["collect", "--task", "bogus", "--out", dir.to_str().unwrap()],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid value 'bogus'"));
}

#[test]
fn collect_with_the_planner_records_push_episodes_it_planned() {
    let model = format!("{}/../../models/push", env!("CARGO_MANIFEST_DIR"));
    let tmp = scratch("collect-planner");
    let dir = tmp.path().join("push");
    let out = dir.to_str().unwrap();
    let planned = [
        "collect",
        "--task",
        "push",
        "--policy",
        "planner",
        "--model",
        &model,
        "--cem-samples",
        "16",
        "--cem-iterations",
        "1",
        "--episodes",
        "1",
        "--seed",
        "4",
        "--out",
        out,
    ];
    let text = succeeded(&zplan(&planned, &[]));
    assert!(
        text.contains("collected 60 transitions (61 rows)"),
        "{text}"
    );
    let buffer = zplan_buffer::Buffer::open_read(&dir).unwrap();
    let mut actions = Vec::new();
    let mut action = [0.0f32; 2];
    for i in (0..buffer.committed_len()).filter(|&i| buffer.is_valid(i)) {
        buffer.action(i, &mut action);
        assert!(action.iter().all(|a| a.abs() <= 1.0), "row {i}: {action:?}");
        actions.push(action);
    }
    assert_eq!(actions.len(), 60);
    assert!(
        actions.windows(2).any(|pair| pair[0] != pair[1]),
        "the planner's actions change over the episode"
    );

    let without_model = [
        "collect",
        "--task",
        "push",
        "--policy",
        "planner",
        "--episodes",
        "1",
        "--out",
        out,
    ];
    let output = zplan(&without_model, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs --model"));
    let latent_task = [
        "collect",
        "--task",
        "planar",
        "--policy",
        "planner",
        "--model",
        &model,
        "--episodes",
        "1",
        "--out",
        out,
    ];
    let output = zplan(&latent_task, &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("zplan mbrl"));
}

#[test]
fn train_collects_trains_and_validates_a_bundle() {
    let tmp = scratch("train");
    let root = tmp.path();
    let (data, out) = (root.join("data"), root.join("model"));
    let args = [
        "train",
        "--task",
        "planar",
        "--samples",
        "200",
        "--sequence",
        "5",
        "--epochs",
        "1",
        "--model",
        "deterministic",
        "--horizon",
        "3",
        "--select-every",
        "0",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let output = zplan(&args, &[]);
    let text = succeeded(&output);
    assert!(text.contains("is valid"), "{text}");
    // 40 sequences of 5 transitions, trained on 3-step predictions.
    assert!(
        text.contains("collected 200 transitions (240 rows)"),
        "{text}"
    );
    let manifest = std::fs::read_to_string(out.join("zplan.json")).unwrap();
    assert!(manifest.contains("3-step prediction"), "{manifest}");
    for file in [
        "zplan.json",
        "encoder.onnx",
        "dynamics.onnx",
        "decoder.onnx",
        "reward.onnx",
        "reconstructions.png",
        "latent.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }

    // Two more training seeds on the same data, then both scored together.
    let seeds = [
        &args[..17],
        &["--out", out.to_str().unwrap(), "--seeds", "1,2"],
    ]
    .concat();
    let text = succeeded(&zplan(&seeds, &[]));
    assert!(!text.contains("collecting"), "{text}");
    let dirs = [root.join("model-seed1"), root.join("model-seed2")];
    for (seed, dir) in [1, 2].iter().zip(&dirs) {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("zplan.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["provenance"]["seed"], *seed, "{}", dir.display());
    }
    let json = root.join("eval.json");
    let eval = [
        "eval",
        "--task",
        "planar",
        "--episodes",
        "1",
        "--json",
        json.to_str().unwrap(),
        "--model",
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
    ];
    let text = succeeded(&zplan(&eval, &[]));
    assert!(text.contains("over 2 models"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let models = report["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    let percents: Vec<f64> = models
        .iter()
        .map(|m| m["percent_in_goal"].as_f64().unwrap())
        .collect();
    let spread = &report["spread"];
    assert_eq!(
        spread["all"].as_f64().unwrap(),
        (percents[0] + percents[1]) / 2.0
    );
    assert_eq!(
        spread["top_1"].as_f64().unwrap(),
        percents[0].max(percents[1])
    );
    assert_eq!(report["percent_in_goal"].as_f64().unwrap(), percents[0]);

    // Two epochs with a checkpoint after the first, each scored on one validation draw.
    let checkpointed = |extra: &[&str], out: &std::path::Path| {
        let run = [
            &args[..7],
            &[
                "--model",
                "deterministic",
                "--horizon",
                "3",
                "--epochs",
                "2",
                "--select-every",
                "1",
                "--validation-episodes",
                "1",
            ],
            extra,
            &[
                "--data",
                data.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        ]
        .concat();
        succeeded(&zplan(&run, &[]))
    };

    // Checkpoint selection: both epochs scored on the validation draws, the better one in OUT.
    let selected = root.join("selected");
    let text = checkpointed(&["--select-terminal-steps", "0,3"], &selected);
    for tried in [
        "epoch     1 ",
        "epoch     2 ",
        "terminal LQR steps   0",
        "terminal LQR steps   3",
    ] {
        assert!(text.contains(tried), "{tried}: {text}");
    }
    // The kept bundle records the terminal weight it was chosen with, and eval plans with it.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(selected.join("zplan.json")).unwrap())
            .unwrap();
    let steps = manifest["planner"]["terminal_steps"].as_u64().unwrap();
    assert!(steps == 0 || steps == 3, "{manifest}");
    assert!(
        text.contains(&format!("with terminal LQR steps {steps} (")),
        "{text}"
    );
    let eval = [
        "eval",
        args[1],
        args[2],
        "--episodes",
        "1",
        "--model",
        selected.to_str().unwrap(),
    ];
    let scored = succeeded(&zplan(&eval, &[]));
    assert!(
        scored.contains(&format!("terminal LQR steps {steps})")),
        "{scored}"
    );
    if text.contains("kept epoch 1") {
        assert!(
            root.join("selected-e2").join("zplan.json").is_file(),
            "{text}"
        );
    } else {
        assert!(text.contains("kept the final model"), "{text}");
    }

    // A run kept below the bar is set aside and trained again with seed S + 1000; when no
    // run reaches it (no model keeps every validation step in goal), the best goes back.
    let retrained = root.join("retrained");
    let text = checkpointed(&["--retrain-below", "100", "--retrains", "1"], &retrained);
    assert!(
        text.contains("training again with seed 1000 (1 of at most 1)"),
        "{text}"
    );
    let seed_of = |dir: &std::path::Path| -> u64 {
        let text = std::fs::read_to_string(dir.join("zplan.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        manifest["provenance"]["seed"].as_u64().unwrap()
    };
    let kept = seed_of(&retrained);
    assert!(
        text.contains(&format!("kept the best, seed {kept}'s")),
        "{text}"
    );
    let aside = root.join(format!("retrained-try{}", if kept == 0 { 1 } else { 0 }));
    assert_eq!(seed_of(&aside), 1000 - kept, "{text}");
    // Each run's checkpoints moved with it (OUT-e1 stays beside OUT whichever epoch was kept).
    for dir in [&retrained, &aside] {
        let mut checkpoint = dir.as_os_str().to_owned();
        checkpoint.push("-e1");
        assert_eq!(
            seed_of(std::path::Path::new(&checkpoint)),
            seed_of(dir),
            "{}: {text}",
            dir.display()
        );
    }
}

#[test]
fn eval_push_scores_the_video_model_beside_both_references() {
    let model = format!("{}/../../models/push", env!("CARGO_MANIFEST_DIR"));
    let tmp = scratch("eval-push");
    let json = tmp.path().join("push.json");
    // A small search keeps one episode quick; the defaults are Visual Foresight's.
    let args = [
        "eval",
        "--task",
        "push",
        "--model",
        &model,
        "--episodes",
        "1",
        "--seed",
        "3",
        "--samples",
        "24",
        "--iterations",
        "2",
        "--elites",
        "4",
        "--json",
        json.to_str().unwrap(),
    ];
    let text = succeeded(&zplan(&args, &[]));
    for policy in [
        "video model (CEM)",
        "random actions",
        "true simulator (CEM)",
    ] {
        assert!(text.contains(policy), "{policy}: {text}");
    }
    assert!(
        text.contains("CEM: 24 samples, 2 iterations, 15 steps"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["task"], "push");
    assert_eq!(report["samples"], 24);
    assert!(report["predictor_ms_per_call_median"].as_f64().unwrap() > 0.0);
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 3);
    for policy in policies {
        let distances = policy["final_distance_px"].as_array().unwrap();
        assert_eq!(distances.len(), 1);
        let d = distances[0].as_f64().unwrap();
        assert!((0.0..45.3).contains(&d), "{policy}");
        let success = policy["success_percent"].as_f64().unwrap();
        assert_eq!(success, if d <= 3.0 { 100.0 } else { 0.0 }, "{policy}");
    }
    for planned in [&policies[0], &policies[2]] {
        assert!(
            planned["plan_ms_median"].as_f64().unwrap() > 0.0,
            "{planned}"
        );
    }
}

#[test]
fn eval_scores_a_shipped_model_and_writes_json() {
    let model = format!("{}/../../models/balance", env!("CARGO_MANIFEST_DIR"));
    let tmp = scratch("eval");
    let json = tmp.path().join("eval.json");
    let args = [
        "eval",
        "--task",
        "balance",
        "--model",
        &model,
        "--episodes",
        "1",
        "--json",
        json.to_str().unwrap(),
    ];
    let output = zplan(&args, &[]);
    let text = succeeded(&output);
    assert!(
        text.contains("% of steps in goal") && text.contains("MPC step median"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["task"], "balance");
    // The shipped balance model holds the pendulum up (100 % on the published draws).
    let percent = report["percent_in_goal"].as_f64().unwrap();
    assert!(percent > 90.0, "balance scored {percent} %");
    assert_eq!(report["episodes"].as_array().unwrap().len(), 1);
    let (step, encode) = (
        report["step_ms_median"].as_f64().unwrap(),
        report["encode_ms_median"].as_f64().unwrap(),
    );
    assert!(
        step > 0.0 && encode > 0.0 && encode < step,
        "{step} {encode}"
    );
    assert!(text.contains("terminal LQR steps 5"), "{text}");

    // The reference planner on request.
    let output = zplan(&[&args[..7], &["--reference"]].concat(), &[]);
    let text = succeeded(&output);
    assert!(
        text.contains("horizon 10, q 50, terminal LQR steps 0"),
        "{text}"
    );

    // A model for other images is refused with the reason.
    refuses_a_bundle_for_other_images(&["eval", "--task", "balance", "--episodes", "1"]);
}

/// `args` + `--model` the 8 x 8 mlp fixture: exit 1, naming the observation field.
fn refuses_a_bundle_for_other_images(args: &[&str]) {
    let fixture = format!(
        "{}/../zplan-onnx/tests/fixtures/mlp",
        env!("CARGO_MANIFEST_DIR")
    );
    let args: Vec<&str> = args.iter().copied().chain(["--model", &fixture]).collect();
    let output = zplan(&args, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("observation"));
}

#[test]
fn demo_writes_an_animation_and_a_plot_of_one_episode() {
    let model = format!("{}/../../models/swing", env!("CARGO_MANIFEST_DIR"));
    let tmp = scratch("demo");
    let out = tmp.path().join("demo");
    let output = zplan(
        &["demo", "--model", &model, "--out", out.to_str().unwrap()],
        &[],
    );
    let text = succeeded(&output);
    assert!(
        text.contains("% of 100 steps in goal") && text.contains("encoder"),
        "{text}"
    );
    // One frame per step of the episode, all the same size.
    let file = std::fs::File::open(out.join("swing.gif")).unwrap();
    let mut decoder = gif::DecodeOptions::new().read_info(file).unwrap();
    let (width, height) = (decoder.width(), decoder.height());
    let mut frames = 0;
    while let Some(frame) = decoder.read_next_frame().unwrap() {
        assert_eq!((frame.width, frame.height), (width, height));
        frames += 1;
    }
    assert_eq!(frames, 100);
    let png = std::fs::read(out.join("swing.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");

    // A bundle without the task's images is refused, naming the field.
    refuses_a_bundle_for_other_images(&["demo", "--out", out.to_str().unwrap()]);
}

/// Runs `zplan bench ARGS --json FILE` and returns the JSON it wrote.
fn bench_json(args: &[&str], name: &str) -> serde_json::Value {
    let tmp = scratch(&format!("bench-{name}"));
    let json = tmp.path().join("bench.json");
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let text = succeeded(&zplan(&all, &[]));
    assert!(text.contains("median"), "{text}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[test]
fn bench_times_each_solver_on_a_seeded_problem() {
    for kind in ["lqr", "ilqr", "boxddp"] {
        let size = ["--n", "4", "--m", "1", "--horizon", "10", "--runs", "5"];
        let report = bench_json(&[&[kind][..], &size].concat(), kind);
        assert_eq!(report["kind"], kind);
        assert_eq!(
            (report["n"].as_u64(), report["m"].as_u64()),
            (Some(4), Some(1))
        );
        assert_eq!(report["T"].as_u64(), Some(10));
        let (p10, median, p90) = (
            report["p10_us"].as_f64().unwrap(),
            report["median_us"].as_f64().unwrap(),
            report["p90_us"].as_f64().unwrap(),
        );
        assert!(0.0 < p10 && p10 <= median && median <= p90, "{report}");
        assert!(report["gflops"].as_f64().unwrap() > 0.0);
        assert_eq!(report["status"], "Converged", "{kind}: {report}");
    }
    let output = zplan(
        &["bench", "lqr", "--n", "0", "--m", "1", "--horizon", "5"],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 1"));
}

#[test]
fn bench_mpc_reports_every_phase() {
    let model = format!("{}/../../models/planar", env!("CARGO_MANIFEST_DIR"));
    let args = [
        "mpc",
        "--task",
        "planar",
        "--model",
        &model,
        "--episodes",
        "1",
    ];
    let report = bench_json(&args, "mpc");
    assert_eq!(report["task"], "planar");
    assert_eq!(report["steps"].as_u64(), Some(40));
    let step = report["step_us_median"].as_f64().unwrap();
    for phase in ["encode", "linearize", "backward", "forward"] {
        let median = report[format!("{phase}_us_median")].as_f64().unwrap();
        assert!(median > 0.0 && median < step, "{phase}: {report}");
    }
}

/// The committed transitions of the buffer in `dir`, from its meta.json.
fn committed_transitions(dir: &std::path::Path) -> u64 {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    meta["transitions"].as_u64().unwrap()
}

/// `zplan mbrl` on planar (40-step episodes) with 2 random episodes (unless `extra` asks for
/// samples) and 40 steps per iteration, two training epochs, no checkpoint selection (unless
/// `extra` asks for it); extra arguments appended. Returns
/// the output directory, mbrl.json and the output.
fn mbrl_run(
    name: &str,
    iterations: &str,
    extra: &[&str],
) -> (TempDir, std::path::PathBuf, serde_json::Value, String) {
    let tmp = scratch(&format!("mbrl-{name}"));
    let out = tmp.path().join("run");
    let mut args = vec![
        "mbrl",
        "--task",
        "planar",
        "--iterations",
        iterations,
        "--steps-per-iteration",
        "40",
        "--epochs",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--initial-samples") {
        args.extend(["--initial-episodes", "2"]);
    }
    if !extra.contains(&"--select-every") {
        args.extend(["--select-every", "0"]);
    }
    args.extend_from_slice(extra);
    let text = succeeded(&zplan(&args, &[]));
    assert!(
        text.contains("iteration  0:") && text.contains("learning-curve.png"),
        "{text}"
    );
    let record =
        serde_json::from_str(&std::fs::read_to_string(out.join("mbrl.json")).unwrap()).unwrap();
    (tmp, out, record, text)
}

#[test]
fn mbrl_grows_the_buffer_and_swaps_in_each_new_model() {
    let (_tmp, out, record, _) = mbrl_run("grow", "2", &[]);
    let iterations = record["iterations"].as_array().unwrap();
    assert_eq!(iterations.len(), 3);
    // The reward of each recorded transition is 1 when its step ended in goal, so an
    // iteration's score is the mean reward of its 40 transitions, in buffer order.
    let buffer = zplan_buffer::Buffer::open_read(&out.join("buffer")).unwrap();
    let rewards: Vec<f32> = (0..buffer.committed_len())
        .filter(|&i| buffer.is_valid(i))
        .map(|i| buffer.reward(i))
        .collect();
    assert_eq!(rewards.len(), 160);
    for (k, it) in iterations.iter().enumerate() {
        // 2 random episodes of 40 steps, then one 40-step MPC episode per iteration.
        assert_eq!(it["transitions"].as_u64(), Some(80 + 40 * k as u64), "{it}");
        assert!(it["kept_because"].is_null(), "{it}");
        let model = out.join("models").join(k.to_string());
        assert_eq!(it["model"], model.display().to_string());
        succeeded(&zplan(&["inspect", model.to_str().unwrap()], &[]));
        if k > 0 {
            let score = it["percent_in_goal"].as_f64().unwrap();
            let from = 80 + 40 * (k - 1);
            let in_goal: f32 = rewards[from..from + 40].iter().sum();
            assert_eq!(score, 100.0 * f64::from(in_goal) / 40.0, "{it}");
        }
    }
    assert_eq!(committed_transitions(&out.join("buffer")), 160);
    assert!(out.join("learning-curve.png").is_file());
}

#[test]
fn mbrl_starts_from_state_space_samples_and_goes_on_training_the_serving_model() {
    let (_tmp, out, record, text) = mbrl_run(
        "continue",
        "1",
        &[
            "--initial-samples",
            "60",
            "--model",
            "deterministic",
            "--continue-epochs",
            "1",
            "--select-every",
            "1",
            "--validation-episodes",
            "1",
        ],
    );
    // pi_0's data: 60 single-transition samples (planar's recipe), then one MPC episode.
    assert!(
        record["initial_data"]
            .as_str()
            .unwrap()
            .contains("60 samples"),
        "{record}"
    );
    let iterations = record["iterations"].as_array().unwrap();
    assert_eq!(iterations[0]["transitions"].as_u64(), Some(60));
    assert_eq!(iterations[1]["transitions"].as_u64(), Some(100));
    let buffer = zplan_buffer::Buffer::open_read(&out.join("buffer")).unwrap();
    let episodes: std::collections::BTreeSet<u32> = (0..buffer.committed_len())
        .filter(|&i| buffer.is_valid(i))
        .map(|i| buffer.episode_of(i))
        .collect();
    assert_eq!(episodes.len(), 61);
    assert_eq!(record["training"]["continue_epochs"].as_u64(), Some(1));
    // Round 0 trains anew for two epochs and chooses between epoch 1 and the final model; round
    // 1 goes on from the serving model for one epoch and chooses between it and the result.
    let models = out.join("models");
    assert!(
        text.contains(&format!("({}-e1)", models.join("0").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "starting from the weights of {}",
            models.join("0").display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("epoch     0 ({})", models.join("0").display())),
        "{text}"
    );
    for k in ["0", "1"] {
        assert!(models.join(k).join("weights.pt").is_file(), "{k}");
    }
    assert!(iterations[1]["kept_because"].is_null(), "{}", iterations[1]);
}

#[test]
fn mbrl_keeps_the_old_model_and_every_row_when_training_fails() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    // The first model trains for real; the second run fails; the third writes a valid bundle
    // for 8 x 8 images, which the running planner refuses.
    let command = format!(
        "case \"$ZPLAN_SEED\" in \
           0) PYTHONPATH={root}/training {root}/.venv/bin/python -m zplan_train --task \"$ZPLAN_TASK\" \
              --data \"$ZPLAN_DATA\" --out \"$ZPLAN_OUT\" --epochs \"$ZPLAN_EPOCHS\" --seed 0 --model deterministic ;; \
           1) exit 3 ;; \
           *) cp -r {root}/crates/zplan-onnx/tests/fixtures/linear \"$ZPLAN_OUT\" ;; \
         esac"
    );
    let (_tmp, out, record, _) = mbrl_run("fail", "2", &["--train-command", &command]);
    let iterations = record["iterations"].as_array().unwrap();
    let first = out.join("models/0").display().to_string();
    assert!(iterations[0]["kept_because"].is_null());
    assert_eq!(iterations[1]["model"], first);
    assert!(
        iterations[1]["kept_because"]
            .as_str()
            .unwrap()
            .contains("trainer failed"),
        "{}",
        iterations[1]
    );
    assert_eq!(iterations[2]["model"], first);
    assert!(
        iterations[2]["kept_because"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{}",
        iterations[2]
    );
    // No committed row is lost: every MPC step of both iterations is in the buffer.
    assert_eq!(iterations[2]["transitions"].as_u64(), Some(160));
    assert_eq!(committed_transitions(&out.join("buffer")), 160);
}

#[test]
fn tasks_json_is_the_trainers_task_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../training/zplan_train/tasks.json"
    );
    let output = zplan(&["tasks", "--json"], &[]);
    assert!(output.status.success());
    let listed = stdout(&output);
    let table: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(table["swing"]["planning_high"][0], 0.65);
    assert_eq!(table["cartpole"]["image"], serde_json::json!([2, 80, 80]));
    if std::env::var_os("ZPLAN_BLESS").is_some() {
        std::fs::write(path, &listed).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == listed,
        "{path} differs from `zplan tasks --json`: run `make tasks-json`"
    );
    let table = stdout(&zplan(&["tasks"], &[]));
    assert!(
        table.contains("threepole") && table.contains("2x80x80"),
        "{table}"
    );
}
