//! `zplan`: plan robot actions in the latent space of a learned image model.

mod doctor;
mod inspect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Load and validate a model bundle, describe its networks, shapes, action bounds and
    /// Jacobian mode, and time one call of each network; exit 1 with the error otherwise.
    Inspect {
        /// The bundle directory (holding zplan.json).
        bundle: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor { ort } => doctor::run(ort.as_deref()),
        Command::Inspect { bundle } => inspect::run(&bundle),
    }
}
