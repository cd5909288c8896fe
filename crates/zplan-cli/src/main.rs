//! `zplan`: plan robot actions in the latent space of a learned image model.

mod bench;
mod collect;
mod demo;
mod doctor;
mod eval;
mod inspect;
mod mbrl;
mod picture;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zplan_envs::TaskKind;

#[derive(Parser)]
#[command(name = "zplan", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report what zplan finds on this machine (ONNX Runtime, BLAS, CPU, threads); exit 1 when
    /// something it needs is missing.
    Doctor {
        /// ONNX Runtime library file or directory to use instead of the search order
        /// (ZPLAN_ORT_DYLIB, ORT_DYLIB_PATH, the setup location .deps/onnxruntime/).
        #[arg(long, value_name = "PATH")]
        ort: Option<PathBuf>,
    },
    /// Collect training data for a task into a transition buffer (docs/buffer-format.md).
    Collect {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// Independent transitions drawn as the reference samples its data.
        #[arg(long, default_value_t = 10_000)]
        samples: usize,
        /// Continue each sample for this many transitions under random actions (the
        /// reference: 1), as data for multi-step prediction (`--horizon` of the trainer).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        sequence: u64,
        /// The base policy for episode collection (only `random`).
        #[arg(long, value_name = "POLICY", requires = "episodes")]
        policy: Option<String>,
        /// Collect this many whole episodes under --policy instead of independent samples.
        #[arg(long, requires = "policy")]
        episodes: Option<usize>,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// New buffer directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Train a model bundle for a task with the reference trainer (collects data first when the
    /// data directory holds no buffer), then validate it.
    Train {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// Buffer directory [default: data/TASK].
        #[arg(long)]
        data: Option<PathBuf>,
        /// Bundle directory [default: models/TASK].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Samples to collect when there is no data yet.
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// Transitions per collected sample (`zplan collect --sequence`).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        sequence: u64,
        /// Training epochs.
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        /// Model kind: pc3 (prediction, consistency, curvature), deterministic or e2c.
        #[arg(long, default_value = "pc3", value_parser = ["pc3", "deterministic", "e2c"])]
        model: String,
        /// Train on latent predictions this many steps ahead (deterministic kind; needs data of
        /// several transitions per episode).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        horizon: u64,
        /// Seed of the data and the training run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Python interpreter with zplan_train's requirements [default: the project's .venv].
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Score models on the true task: percent of steps in goal under the latent MPC planner.
    Eval {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// The bundle(s) to score; several give "all" (mean) and "top 1".
        #[arg(long = "model", alias = "models", num_args = 1.., required = true)]
        models: Vec<PathBuf>,
        /// Start/goal draws, one episode each.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the first draw (episode k uses seed + k).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also write the first model's results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// What the planner minimises: `goal` (quadratic in latent space to the goal image) or
        /// `reward` (the bundle's reward model, weighted by the task's q).
        #[arg(long, default_value = "goal", value_parser = ["goal", "reward"])]
        objective: String,
        /// Plan with the reference planner's settings of docs/tasks.md (`PlannerSettings::reference`:
        /// its horizon and q, Q_T = Q) instead of zplan's (`PlannerSettings::for_task`).
        #[arg(long)]
        reference: bool,
        /// Latent state weight q instead of the task's.
        #[arg(long)]
        q: Option<f64>,
        /// Terminal weight from N steps of LQR at the goal instead of the task's (0: Q_T = Q).
        #[arg(long, value_name = "N")]
        terminal_steps: Option<usize>,
        /// Steps planned ahead instead of the task's.
        #[arg(long, value_name = "T")]
        horizon: Option<usize>,
    },
    /// Run one episode of a task on a shipped model and write DIR/TASK.gif (camera frames beside
    /// the decoder's images of the planned latent states) and DIR/TASK.png (angle and action
    /// over time); print the score and the MPC step latency.
    Demo {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task, default_value = "swing")]
        task: TaskKind,
        /// The bundle [default: models/TASK].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Directory for the pictures.
        #[arg(long, default_value = "demo")]
        out: PathBuf,
        /// Start/goal draw of the episode.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Model-based RL on a task: collect with random actions, train, then K times: plan with
    /// MPC for N steps appending every transition, retrain on all the data and swap the new
    /// model into the running planner. Writes OUT/buffer, OUT/models/K, OUT/mbrl.json and
    /// OUT/learning-curve.png.
    Mbrl {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// Retraining rounds after the first model.
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        /// MPC steps between two trainings (whole episodes, so at least this many).
        #[arg(long, default_value_t = 1000)]
        steps_per_iteration: usize,
        /// Episodes of the random base policy before the first model.
        #[arg(long, default_value_t = 50)]
        initial_episodes: usize,
        /// Training epochs of each model.
        #[arg(long, default_value_t = 30)]
        epochs: usize,
        /// Model kind of the reference trainer: deterministic, e2c or pc3.
        #[arg(long, default_value = "deterministic")]
        model: String,
        /// Train on latent predictions this many steps ahead (deterministic kind; needs data of
        /// several transitions per episode).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        horizon: u64,
        /// Seed of the data, the episodes and the training runs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A shell command that trains instead of the reference trainer; it reads its job from
        /// ZPLAN_TASK, ZPLAN_DATA, ZPLAN_OUT, ZPLAN_EPOCHS and ZPLAN_SEED and writes a bundle
        /// to $ZPLAN_OUT.
        #[arg(long, value_name = "COMMAND")]
        train_command: Option<String>,
        /// New output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time the solver on seeded synthetic problems, or the MPC step on a task (one thread).
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
    /// Load and validate a model bundle, describe its networks, shapes, action bounds and
    /// Jacobian mode, and time one call of each network; exit 1 with the error otherwise.
    Inspect {
        /// The bundle directory (holding zplan.json).
        bundle: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The Riccati recursion and rollout of a seeded affine LQR problem.
    Lqr(SolverBench),
    /// iLQR from zero controls on the seeded problem with a sine term in its dynamics,
    /// x' = A x + B u + f + 0.1 sin(x).
    Ilqr(SolverBench),
    /// Box-DDP on the same nonlinear problem with |u_i| <= 0.5.
    Boxddp(SolverBench),
    /// Per-phase timing of the MPC step (encode, linearise, backward, line search) at the
    /// reference settings of a task, over whole episodes.
    Mpc {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// The bundle [default: models/TASK].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Episodes to run (each step of each is one sample).
        #[arg(long, default_value_t = 3)]
        episodes: usize,
        /// Seed of the first start/goal draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also write the medians as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Hot reload: bundles loaded on a worker thread, swapped into a planning planner; times
    /// the swap on the control thread (median, p99) beside loading there too.
    Swap {
        /// planar, swing, balance, cartpole or threepole.
        #[arg(long, value_parser = parse_task)]
        task: TaskKind,
        /// The bundle [default: models/TASK].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Swaps to time (one episode is planned before each).
        #[arg(long, default_value_t = 50)]
        swaps: usize,
        /// Also write the medians as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// The problem and the runs of a solver bench.
#[derive(Args)]
struct SolverBench {
    /// States.
    #[arg(long)]
    n: usize,
    /// Controls.
    #[arg(long)]
    m: usize,
    /// Stages.
    #[arg(long)]
    horizon: usize,
    /// Open-loop dynamics: `mixed` (A = 0.98 I + noise), `stable` or `unstable` (every
    /// eigenvalue of modulus 0.95 or 1.05).
    #[arg(long, default_value = "unstable", value_parser = parse_stability)]
    system: zplan_benches::Stability,
    /// Seed of the problem.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Timed runs after the warm-up.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Also write the result as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl SolverBench {
    fn run(self, kind: bench::SolverKind) -> ExitCode {
        bench::run_solver(&bench::SolverArgs {
            kind,
            n: self.n,
            m: self.m,
            horizon: self.horizon,
            system: self.system,
            seed: self.seed,
            runs: self.runs,
            json: self.json,
        })
    }
}

fn parse_stability(name: &str) -> Result<zplan_benches::Stability, String> {
    zplan_benches::Stability::from_name(name)
        .ok_or_else(|| format!("unknown system {name:?}; systems are mixed, stable, unstable"))
}

/// `--task`: one of the five task names.
fn parse_task(name: &str) -> Result<TaskKind, String> {
    TaskKind::from_name(name).ok_or_else(|| {
        format!("unknown task {name:?}; tasks are planar, swing, balance, cartpole, threepole")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor { ort } => doctor::run(ort.as_deref()),
        Command::Inspect { bundle } => inspect::run(&bundle),
        Command::Mbrl {
            task,
            iterations,
            steps_per_iteration,
            initial_episodes,
            epochs,
            model,
            horizon,
            seed,
            train_command,
            out,
        } => mbrl::run(&mbrl::MbrlArgs {
            task,
            iterations,
            steps_per_iteration,
            initial_episodes,
            epochs,
            model,
            horizon: horizon as usize,
            seed,
            out,
            train_command,
        }),
        Command::Bench { what } => match what {
            BenchCommand::Lqr(args) => args.run(bench::SolverKind::Lqr),
            BenchCommand::Ilqr(args) => args.run(bench::SolverKind::Ilqr),
            BenchCommand::Boxddp(args) => args.run(bench::SolverKind::BoxDdp),
            BenchCommand::Mpc {
                task,
                model,
                episodes,
                seed,
                json,
            } => bench::run_mpc(&bench::MpcArgs {
                task,
                model: model.unwrap_or_else(|| PathBuf::from("models").join(task.name())),
                episodes,
                seed,
                json,
            }),
            BenchCommand::Swap {
                task,
                model,
                swaps,
                json,
            } => bench::run_swap(&bench::SwapArgs {
                task,
                model: model.unwrap_or_else(|| PathBuf::from("models").join(task.name())),
                swaps,
                json,
            }),
        },
        Command::Demo {
            task,
            model,
            out,
            seed,
        } => demo::run(&demo::DemoArgs {
            task,
            model,
            out,
            seed,
        }),
        Command::Eval {
            task,
            models,
            episodes,
            seed,
            json,
            objective,
            reference,
            q,
            terminal_steps,
            horizon,
        } => eval::run(&eval::EvalArgs {
            task,
            models,
            episodes,
            seed,
            json,
            reward_objective: objective == "reward",
            reference,
            q,
            terminal_steps,
            horizon,
        }),
        Command::Train {
            task,
            data,
            out,
            samples,
            sequence,
            epochs,
            model,
            horizon,
            seed,
            python,
        } => train::run(&train::TrainArgs {
            task,
            data,
            out,
            samples,
            sequence: sequence as usize,
            epochs,
            model,
            horizon: horizon as usize,
            seed,
            python,
        }),
        Command::Collect {
            task,
            samples,
            sequence,
            policy,
            episodes,
            seed,
            out,
        } => {
            if let Some(policy) = policy.as_deref()
                && policy != "random"
            {
                eprintln!("zplan collect: unknown policy {policy:?}; the base policy is `random`");
                return ExitCode::FAILURE;
            }
            collect::run(&collect::CollectArgs {
                task,
                samples,
                sequence: sequence as usize,
                episodes,
                seed,
                out: &out,
            })
        }
    }
}
