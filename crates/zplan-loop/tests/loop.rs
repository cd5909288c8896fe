//! The loop machinery on a shipped model and real files: episodes and their score, the
//! recorder's rows, and "train, validate, then swap or keep with a reason" with shell trainers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use zplan_buffer::Buffer;
use zplan_envs::{Env, TaskKind};
use zplan_loop::{
    CommandTrainer, LoopError, Recorder, Retrain, TrainJob, TrainerThread, evaluate, retrain,
    run_episode, train_bundle,
};
use zplan_mpc::{Planner, PlannerSettings};
use zplan_onnx::Bundle;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn planar_planner() -> Planner {
    let bundle = Bundle::load(&root().join("models/planar")).unwrap();
    Planner::new(bundle, PlannerSettings::for_task(TaskKind::Planar)).unwrap()
}

/// A job writing into `dir/out`.
fn job(dir: &Path) -> TrainJob {
    TrainJob {
        task: "planar".into(),
        data: dir.join("data"),
        out: dir.join("out"),
        epochs: 2,
        horizon: 1,
        seed: 4,
    }
}

/// A shell trainer that copies the bundle at `from` into ZPLAN_OUT.
fn copying(from: &Path) -> CommandTrainer {
    CommandTrainer::new(format!("cp -R '{}' \"$ZPLAN_OUT\"", from.display()))
}

#[test]
fn evaluate_scores_each_episode_as_run_episode_does() {
    let mut planner = planar_planner();
    let mut env = Env::new(TaskKind::Planar, 0);
    let mut seen = Vec::new();
    let score = evaluate(&mut env, &mut planner, 3, 2, |k, p| seen.push((k, p))).unwrap();
    assert_eq!(score.episodes.len(), 2);
    assert_eq!(seen, vec![(0, score.episodes[0]), (1, score.episodes[1])]);
    assert_eq!(score.step_ms.len(), 2 * 40);
    assert!(score.phase_ms.iter().all(|phase| phase.len() == 80));
    let again = run_episode(&mut env, &mut planner, 4, |_| Ok(())).unwrap();
    assert_eq!(again, score.episodes[1], "same seed, same episode");
    assert!(score.percent > 50.0, "{score:?}");
}

#[test]
fn recorder_keeps_every_step_with_its_reward_and_state() {
    let tmp = tempfile::tempdir().unwrap();
    let task = TaskKind::Planar.task();
    let mut rec = Recorder::create(&tmp.path().join("buffer"), task.as_ref()).unwrap();
    let mut planner = planar_planner();
    let mut env = Env::new(TaskKind::Planar, 0);
    let mut in_goal = Vec::new();
    run_episode(&mut env, &mut planner, 0, |step| {
        in_goal.push(step.env.in_goal());
        rec.append_step(step)
    })
    .unwrap();
    rec.commit().unwrap();
    drop(rec);
    let buffer = Buffer::open_read(&tmp.path().join("buffer")).unwrap();
    assert_eq!(buffer.transitions(), 40);
    let rows: Vec<usize> = (0..buffer.committed_len())
        .filter(|&i| buffer.is_valid(i))
        .collect();
    let rewards: Vec<bool> = rows.iter().map(|&i| buffer.reward(i) == 1.0).collect();
    assert_eq!(rewards, in_goal);
    let mut state = [0.0; 2];
    buffer.state(rows[0], &mut state);
    assert!(state.iter().all(|s| (3.0..=7.0).contains(s)), "{state:?}");
}

#[test]
fn retrain_swaps_a_valid_bundle_and_keeps_the_old_one_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut planner = planar_planner();
    let job = job(tmp.path());

    let swapped = retrain(&mut planner, &copying(&root().join("models/planar")), &job);
    assert!(
        matches!(swapped, Retrain::Swapped { loss: Some(_) }),
        "{swapped:?}"
    );

    let failed = retrain(&mut planner, &CommandTrainer::new("exit 3"), &job);
    let Retrain::Kept { reason } = failed else {
        panic!("{failed:?}")
    };
    assert!(reason.contains("trainer failed"), "{reason}");

    // A valid bundle of 8 x 8 images: it loads, and the running planner refuses it.
    let other = root().join("crates/zplan-onnx/tests/fixtures/linear");
    std::fs::remove_dir_all(&job.out).unwrap();
    let refused = retrain(&mut planner, &copying(&other), &job);
    let Retrain::Kept { reason } = refused else {
        panic!("{refused:?}")
    };
    assert!(reason.contains("the planner refused it"), "{reason}");

    // The planner still plans with the planar bundle.
    let mut env = Env::new(TaskKind::Planar, 0);
    run_episode(&mut env, &mut planner, 0, |_| Ok(())).unwrap();
}

#[test]
fn train_bundle_refuses_what_does_not_load_and_exports_the_job() {
    let tmp = tempfile::tempdir().unwrap();
    let job = job(tmp.path());
    let writes_nothing = CommandTrainer::new("mkdir -p \"$ZPLAN_OUT\"");
    let Err(error) = train_bundle(&writes_nothing, &job) else {
        panic!("an empty directory loaded as a bundle")
    };
    assert!(matches!(error, LoopError::Refused(_)), "{error}");

    let checks_env = CommandTrainer::new(format!(
        "test \"$ZPLAN_TASK\" = planar && test \"$ZPLAN_EPOCHS\" = 2 && test \"$ZPLAN_SEED\" = 4 \
         && test \"$ZPLAN_HORIZON\" = 1 && test \"$ZPLAN_DATA\" = '{}' && cp -R '{}' \"$ZPLAN_OUT\"",
        job.data.display(),
        root().join("models/planar").display()
    ));
    std::fs::remove_dir_all(&job.out).unwrap();
    train_bundle(&checks_env, &job).unwrap();
}

#[test]
fn trainer_thread_runs_one_job_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let trainer = CommandTrainer::new(format!(
        "sleep 0.2 && cp -R '{}' \"$ZPLAN_OUT\"",
        root().join("models/planar").display()
    ));
    let mut thread = TrainerThread::new(Arc::new(trainer));
    assert!(thread.poll().is_none() && thread.wait().is_none());
    thread.start(job(tmp.path())).unwrap();
    assert!(matches!(
        thread.start(job(tmp.path())),
        Err(LoopError::TrainerBusy)
    ));
    assert!(thread.is_running());
    let bundle = thread.wait().unwrap().unwrap();
    assert_eq!(bundle.manifest().latent_dim, 2);
    assert!(!thread.is_running());
}
