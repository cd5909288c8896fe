//! `zplan train --task T [--out DIR] [--seeds 0,1,2]`: collect data if there is none, run the
//! reference trainer (`python -m zplan_train`) once per seed, and validate each bundle it writes
//! (a latent bundle, or a video bundle with `--model video`).

use std::path::PathBuf;

use clap::Args;
use zplan_envs::TaskKind;
use zplan_loop::{ModelKind, ReferenceTrainer, TrainJob, train_bundle, train_video_bundle};
use zplan_onnx::BundleKind;

use crate::collect::{Collection, collect};

/// Train a model bundle for a task with the reference trainer (collects data first when the
/// data directory holds no buffer), then validate it.
#[derive(Args)]
pub struct TrainCommand {
    #[arg(long)]
    task: TaskKind,
    /// Buffer directory [default: data/TASK].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Bundle directory [default: models/TASK].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Samples to collect when there is no data yet (for `--model video`: transitions, as
    /// whole random-policy episodes, `zplan collect --policy random`).
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Transitions per collected sample (`zplan collect --sequence`; latent kinds).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    sequence: u64,
    /// Training epochs.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Model kind of the reference trainer.
    #[arg(long, value_enum, default_value_t = ModelKind::Pc3)]
    model: ModelKind,
    /// Train on predictions this many steps ahead (deterministic kind: latent predictions,
    /// needs data of several transitions per episode; video kind: fed-back frame predictions)
    /// [default: 1, video 10].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    horizon: Option<u64>,
    /// Seed of the data and the training run.
    #[arg(long, default_value_t = 0, conflicts_with = "seeds")]
    seed: u64,
    /// Independent training runs on the same data (collected with the first seed), one bundle
    /// per seed in OUT-seedS, for scoring "all" and "top 1" with `zplan eval --model ...`.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    seeds: Vec<u64>,
    /// Python interpreter with zplan_train's requirements [default: the project's .venv].
    #[arg(long)]
    python: Option<PathBuf>,
}

impl TrainCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        let name = self.task.name();
        let data = self
            .data
            .clone()
            .unwrap_or_else(|| PathBuf::from("data").join(name));
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| crate::shipped_model(self.task));
        if !data.join(zplan_buffer::META_FILE).is_file() {
            let what = match self.model.bundle_kind() {
                BundleKind::Latent => Collection::Samples {
                    samples: self.samples,
                    sequence: self.sequence as usize,
                },
                // A video predictor learns from runs of frames: whole episodes.
                BundleKind::Video => {
                    let length = self.task.task().episode_length();
                    Collection::RandomEpisodes(self.samples.div_ceil(length))
                }
            };
            println!(
                "zplan train: no buffer at {}, collecting {} samples",
                data.display(),
                self.samples
            );
            let seed = self.seeds.first().copied().unwrap_or(self.seed);
            collect(self.task, what, seed, &data)?;
        }
        let trainer = ReferenceTrainer::locate(self.python.as_deref(), self.model)?;
        let runs: Vec<(u64, PathBuf)> = if self.seeds.is_empty() {
            vec![(self.seed, out)]
        } else {
            let mut seeds = self.seeds.clone();
            seeds.dedup();
            seeds
                .into_iter()
                .map(|seed| (seed, seeded_dir(&out, seed)))
                .collect()
        };
        for (seed, out) in &runs {
            let job = TrainJob {
                task: name.to_owned(),
                data: data.clone(),
                out: out.clone(),
                epochs: self.epochs,
                horizon: self
                    .horizon
                    .map_or(self.model.default_horizon(), |h| h as usize),
                seed: *seed,
            };
            let bundle = match self.model.bundle_kind() {
                BundleKind::Latent => train_bundle(&trainer, &job)?.manifest().name.clone(),
                BundleKind::Video => train_video_bundle(&trainer, &job)?.manifest().name.clone(),
            };
            println!("zplan train: {} is valid ({bundle})", out.display());
        }
        if runs.len() > 1 {
            let dirs: Vec<String> = runs.iter().map(|(_, d)| d.display().to_string()).collect();
            println!(
                "zplan train: score them together with `zplan eval --task {name} --model {} \
                 --episodes 30 --seed 100`",
                dirs.join(" ")
            );
        }
        Ok(())
    }
}

/// `OUT-seedS`: the bundle directory of seed S of a multi-seed run.
fn seeded_dir(out: &std::path::Path, seed: u64) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(format!("-seed{seed}"));
    out.with_file_name(name)
}
