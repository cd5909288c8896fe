//! `zplan`: plan robot actions in the latent space of a learned image model.
//!
//! One module per command, each with its clap `Args` struct and `execute`; the work itself
//! lives in the library crates (zplan-loop runs episodes, records and trains).

mod bench;
mod bench_sessions;
mod collect;
mod demo;
mod demo_push;
mod doctor;
mod eval;
mod eval_push;
mod inspect;
mod mbrl;
mod plot;
mod tasks;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zplan_envs::TaskKind;

#[derive(Parser)]
#[command(name = "zplan", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Doctor(doctor::DoctorCommand),
    Tasks(tasks::TasksCommand),
    Collect(collect::CollectCommand),
    Train(train::TrainCommand),
    Eval(eval::EvalCommand),
    Demo(demo::DemoCommand),
    Mbrl(mbrl::MbrlCommand),
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    Inspect(inspect::InspectCommand),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Self::Doctor(_) => "doctor",
            Self::Tasks(_) => "tasks",
            Self::Collect(_) => "collect",
            Self::Train(_) => "train",
            Self::Eval(_) => "eval",
            Self::Demo(_) => "demo",
            Self::Mbrl(_) => "mbrl",
            Self::Bench(_) => "bench",
            Self::Inspect(_) => "inspect",
        }
    }

    fn execute(self) -> anyhow::Result<()> {
        match self {
            Self::Doctor(c) => c.execute(),
            Self::Tasks(c) => c.execute(),
            Self::Collect(c) => c.execute(),
            Self::Train(c) => c.execute(),
            Self::Eval(c) => c.execute(),
            Self::Demo(c) => c.execute(),
            Self::Mbrl(c) => c.execute(),
            Self::Bench(c) => c.execute(),
            Self::Inspect(c) => c.execute(),
        }
    }
}

/// The bundle shipped for `task`: models/TASK.
fn shipped_model(task: TaskKind) -> PathBuf {
    PathBuf::from("models").join(task.name())
}

/// Lets a closed reader end the process quietly (`zplan inspect DIR | head`), as other Unix
/// tools do, instead of `println!` panicking on EPIPE: the Rust runtime ignores SIGPIPE.
#[cfg(unix)]
fn restore_default_sigpipe() {
    // SAFETY: called first in `main`, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn restore_default_sigpipe() {}

/// Writes `value` as pretty JSON with a final newline.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = serde_json::to_string_pretty(value)? + "\n";
    std::fs::write(path, text).with_context(|| format!("{}", path.display()))
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let command = Cli::parse().command;
    let name = command.name();
    match command.execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zplan {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
