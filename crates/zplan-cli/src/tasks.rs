//! `zplan tasks`: the benchmark tasks' facts (docs/tasks.md), as a table or as the JSON the
//! reference trainer reads (training/zplan_train/tasks.json is this output, checked by a test).

use clap::Args;
use serde::Serialize;
use zplan_envs::TaskKind;
use zplan_mpc::PlannerSettings;

/// List the benchmark tasks: image, state, action limits, time step, episode length and the
/// planner's horizon and q.
#[derive(Args)]
pub struct TasksCommand {
    /// Print JSON (one object keyed by task name) instead of a table.
    #[arg(long)]
    json: bool,
}

/// What the trainer and a reader need to know of one task.
#[derive(Serialize)]
pub struct TaskFacts {
    /// Frames, height and width of the observation.
    image: [usize; 3],
    /// Names of the true state's components.
    state: &'static [&'static str],
    /// Environment action limits (data is sampled within them).
    action_low: Vec<f64>,
    action_high: Vec<f64>,
    /// Planner action limits: the bounds a bundle declares.
    planning_low: Vec<f64>,
    planning_high: Vec<f64>,
    /// Seconds per step (0: kinematic).
    time_step: f64,
    episode_length: usize,
    /// zplan's planner settings for the task.
    horizon: usize,
    q: f64,
}

impl TaskFacts {
    fn of(kind: TaskKind) -> Self {
        let task = kind.task();
        let image = task.image();
        let (action_low, action_high) = task.action_limits();
        let (planning_low, planning_high) = task.planning_limits();
        let settings = PlannerSettings::for_task(kind);
        Self {
            image: [image.frames, image.height, image.width],
            state: task.state_names(),
            action_low,
            action_high,
            planning_low,
            planning_high,
            time_step: task.time_step(),
            episode_length: task.episode_length(),
            horizon: settings.horizon,
            q: settings.q,
        }
    }
}

impl TasksCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let facts: Vec<(&str, TaskFacts)> = TaskKind::ALL
            .into_iter()
            .map(|kind| (kind.name(), TaskFacts::of(kind)))
            .collect();
        if self.json {
            let map: serde_json::Map<String, serde_json::Value> = facts
                .into_iter()
                .map(|(name, f)| Ok((name.to_owned(), serde_json::to_value(f)?)))
                .collect::<serde_json::Result<_>>()?;
            println!("{}", serde_json::to_string_pretty(&map)?);
            return Ok(());
        }
        println!(
            "{:<10} {:<12} {:>5} {:<16} {:>9} {:>7} {:>7} {:>6}",
            "task", "image", "state", "planning limits", "time step", "episode", "horizon", "q"
        );
        for (name, f) in facts {
            let [frames, h, w] = f.image;
            let limits = format!("+-{:?}", f.planning_high);
            println!(
                "{name:<10} {:<12} {:>5} {limits:<16} {:>9} {:>7} {:>7} {:>6}",
                format!("{frames}x{h}x{w}"),
                f.state.len(),
                f.time_step,
                f.episode_length,
                f.horizon,
                f.q
            );
        }
        Ok(())
    }
}
