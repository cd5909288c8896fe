//! `zplan.json`: the manifest of a model bundle (docs/model-bundle.md).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BundleError;

/// The manifest version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The whole manifest. Unknown fields are rejected at every level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Must equal [`FORMAT_VERSION`].
    pub format_version: u32,
    /// A short name for the bundle.
    pub name: String,
    /// The camera image the encoder takes.
    pub observation: ObservationSpec,
    /// Size of the latent state z (nz).
    pub latent_dim: usize,
    /// Size and limits of the action u.
    pub action: ActionSpec,
    /// Seconds between two steps of the dynamics.
    pub time_step: f64,
    /// o -> z.
    pub encoder: EncoderSpec,
    /// (z, u) -> z_next, with optional A and B.
    pub dynamics: DynamicsSpec,
    /// z -> o.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<DecoderSpec>,
    /// (z, u) -> r.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<RewardSpec>,
    /// How the planner gets df/dz and df/du.
    pub jacobians: JacobianSpec,
    /// Where the model came from.
    pub provenance: Provenance,
}

/// Image layout: the encoder input is f32 [B, frames * channels, height, width] in [0, 1],
/// the frames stacked oldest first along the channel axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationSpec {
    /// Frames stacked into one observation (1 or more).
    pub frames: usize,
    /// Channels of one frame (1 grey, 3 RGB).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
}

impl ObservationSpec {
    /// Channels of the stacked observation, frames * channels.
    pub fn stacked_channels(&self) -> usize {
        self.frames * self.channels
    }

    /// Values in one stacked observation.
    pub fn len(&self) -> usize {
        self.stacked_channels() * self.height * self.width
    }

    /// Whether an observation holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values in one frame.
    pub fn frame_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// Action size and box limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// nu.
    pub dim: usize,
    /// Lower limits, one per action.
    pub low: Vec<f64>,
    /// Upper limits, one per action.
    pub high: Vec<f64>,
}

/// The encoder network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Input tensor name: obs f32 [B, C, H, W].
    pub input: String,
    /// Output tensor name: z f32 [B, nz].
    pub output: String,
}

/// The latent dynamics network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicsSpec {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Input tensor name: z f32 [B, nz].
    pub state_input: String,
    /// Input tensor name: u f32 [B, nu].
    pub action_input: String,
    /// Output tensor name: z_next f32 [B, nz].
    pub output: String,
    /// Output tensor name of A = dz_next/dz, f32 [B, nz, nz], for locally linear models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_output: Option<String>,
    /// Output tensor name of B = dz_next/du, f32 [B, nz, nu], for locally linear models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_output: Option<String>,
}

/// The decoder network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderSpec {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Input tensor name: z f32 [B, nz].
    pub input: String,
    /// Output tensor name: obs f32 [B, C, H, W].
    pub output: String,
}

/// The reward network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardSpec {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Input tensor name: z f32 [B, nz].
    pub state_input: String,
    /// Input tensor name: u f32 [B, nu].
    pub action_input: String,
    /// Output tensor name: r f32 [B].
    pub output: String,
}

/// How dynamics Jacobians are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum JacobianSpec {
    /// From the dynamics network's A and B outputs.
    Model,
    /// Finite differences with this step, all points and perturbations in one batched call.
    FiniteDifferences {
        /// Perturbation size h.
        step: f64,
        /// Central (default) or forward differences.
        #[serde(default)]
        scheme: DifferenceScheme,
    },
}

/// How finite differences perturb each of the n + m inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceScheme {
    /// (f(x + h e_i) - f(x - h e_i)) / 2h: error O(h^2), 2 (n + m) network rows per point.
    #[default]
    Central,
    /// (f(x + h e_i) - f(x)) / h: error O(h), 1 + n + m rows per point.
    Forward,
}

/// Where the model came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The program that trained the model.
    pub trainer: String,
    /// The data set it was trained on.
    pub dataset: String,
    /// Final value of each loss term.
    #[serde(default)]
    pub losses: BTreeMap<String, f64>,
    /// Random seed of the training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Wall-clock training time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_seconds: Option<f64>,
    /// Source revision of the trainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
}

/// Most values in one observation: frames x channels x height x width.
pub const MAX_OBSERVATION_VALUES: usize = 1 << 26;

/// Largest latent or action size.
pub const MAX_DIM: usize = 4096;

/// `Err` with the reason unless `file` is a plain relative path inside the bundle directory
/// (no root, no `..`).
fn check_relative(file: &str) -> Result<(), String> {
    use std::path::Component;
    let path = Path::new(file);
    if file.is_empty() {
        return Err("is empty".into());
    }
    if let Some(bad) = path
        .components()
        .find(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "`{file}` leaves the bundle directory ({}); name a file inside it",
            match bad {
                Component::ParentDir => "`..`",
                _ => "an absolute path",
            }
        ));
    }
    Ok(())
}

impl Manifest {
    /// Reads and checks `zplan.json`; every error names the file and the field.
    pub fn from_file(path: &Path) -> Result<Self, BundleError> {
        let text = std::fs::read_to_string(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parses and checks the text of a manifest; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, BundleError> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| BundleError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks every field's value (the types were checked by parsing).
    pub fn validate(&self, path: &Path) -> Result<(), BundleError> {
        let field = |field: &str, problem: String| {
            Err(BundleError::Field {
                path: path.to_path_buf(),
                field: field.to_string(),
                problem,
            })
        };
        if self.format_version != FORMAT_VERSION {
            return field(
                "format_version",
                format!(
                    "is {}, this zplan reads version {FORMAT_VERSION}",
                    self.format_version
                ),
            );
        }
        let obs = &self.observation;
        for (name, value) in [
            ("observation.frames", obs.frames),
            ("observation.channels", obs.channels),
            ("observation.height", obs.height),
            ("observation.width", obs.width),
        ] {
            if value == 0 {
                return field(name, "must be at least 1".into());
            }
        }
        let values = [obs.frames, obs.channels, obs.height, obs.width]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if values.is_none_or(|n| n > MAX_OBSERVATION_VALUES) {
            return field(
                "observation.frames",
                format!(
                    "frames x channels x height x width = {} x {} x {} x {} values: more than \
                     {MAX_OBSERVATION_VALUES}",
                    obs.frames, obs.channels, obs.height, obs.width
                ),
            );
        }
        if !(1..=MAX_DIM).contains(&self.latent_dim) {
            return field(
                "latent_dim",
                format!("is {}, must be 1 to {MAX_DIM}", self.latent_dim),
            );
        }
        let action = &self.action;
        if !(1..=MAX_DIM).contains(&action.dim) {
            return field(
                "action.dim",
                format!("is {}, must be 1 to {MAX_DIM}", action.dim),
            );
        }
        let files = [
            ("encoder.file", Some(&self.encoder.file)),
            ("dynamics.file", Some(&self.dynamics.file)),
            ("decoder.file", self.decoder.as_ref().map(|d| &d.file)),
            ("reward.file", self.reward.as_ref().map(|r| &r.file)),
        ];
        for (name, file) in files {
            if let Some(file) = file
                && let Err(problem) = check_relative(file)
            {
                return field(name, problem);
            }
        }
        for (name, bounds) in [("action.low", &action.low), ("action.high", &action.high)] {
            if bounds.len() != action.dim {
                return field(
                    name,
                    format!("has {} values, action.dim is {}", bounds.len(), action.dim),
                );
            }
            if let Some(i) = bounds.iter().position(|v| !v.is_finite()) {
                return field(
                    name,
                    format!("value {i} is {}, limits must be finite", bounds[i]),
                );
            }
        }
        if let Some(i) = (0..action.dim).find(|&i| action.low[i] >= action.high[i]) {
            return field(
                "action.low",
                format!(
                    "value {i} ({}) is not below action.high ({})",
                    action.low[i], action.high[i]
                ),
            );
        }
        if !(self.time_step.is_finite() && self.time_step > 0.0) {
            return field(
                "time_step",
                format!("is {}, must be positive", self.time_step),
            );
        }
        match (
            &self.dynamics.a_output,
            &self.dynamics.b_output,
            self.jacobians,
        ) {
            (Some(_), None, _) | (None, Some(_), _) => {
                return field(
                    "dynamics.b_output",
                    "a_output and b_output come together".into(),
                );
            }
            (None, None, JacobianSpec::Model) => {
                return field(
                    "jacobians.mode",
                    "is \"model\" but the dynamics has no a_output/b_output".into(),
                );
            }
            (_, _, JacobianSpec::FiniteDifferences { step, .. })
                if !(step.is_finite() && step > 0.0) =>
            {
                return field("jacobians.step", format!("is {step}, must be positive"));
            }
            _ => {}
        }
        Ok(())
    }
}
