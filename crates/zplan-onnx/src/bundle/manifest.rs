//! `zplan.json`: the manifest of a model bundle (docs/model-bundle.md).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BundleError;

/// The newest manifest version this build reads: version 1 is a latent bundle without a
/// `kind` field; version 2 names the kind (`"latent"` or `"video"`).
pub const FORMAT_VERSION: u32 = 2;

/// What a bundle holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleKind {
    /// Encoder, latent dynamics, optional decoder and reward ([`Manifest`], [`crate::Bundle`]).
    Latent,
    /// A video predictor over images and designated-pixel maps ([`VideoManifest`],
    /// [`crate::VideoBundle`]).
    Video,
}

impl BundleKind {
    /// The manifest's word for the kind.
    pub fn name(self) -> &'static str {
        match self {
            Self::Latent => "latent",
            Self::Video => "video",
        }
    }

    /// Reads `format_version` and `kind` of the manifest in the bundle directory `dir`, to
    /// choose the loader; the whole manifest is checked by that loader.
    pub fn of_bundle(dir: &Path) -> Result<Self, BundleError> {
        let path = dir.join(crate::bundle::MANIFEST_FILE);
        let text = read(&path)?;
        header(&text, &path)
    }
}

/// The fields every manifest version shares, read before the rest to choose the format.
#[derive(Deserialize)]
struct Header {
    format_version: u32,
    #[serde(default)]
    kind: Option<BundleKind>,
}

fn read(path: &Path) -> Result<String, BundleError> {
    std::fs::read_to_string(path).map_err(|source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn json_error(path: &Path, e: &serde_json::Error) -> BundleError {
    BundleError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

fn field_error(path: &Path, field: &str, problem: String) -> BundleError {
    BundleError::Field {
        path: path.to_path_buf(),
        field: field.to_string(),
        problem,
    }
}

/// The kind the manifest `text` declares, after checking its version.
fn header(text: &str, path: &Path) -> Result<BundleKind, BundleError> {
    let header: Header = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    match (header.format_version, header.kind) {
        (1, None | Some(BundleKind::Latent)) => Ok(BundleKind::Latent),
        (1, Some(kind)) => Err(field_error(
            path,
            "kind",
            format!(
                "is \"{}\", which needs format_version 2 (version 1 bundles are latent)",
                kind.name()
            ),
        )),
        (2, Some(kind)) => Ok(kind),
        (2, None) => Err(field_error(
            path,
            "kind",
            "is missing: format_version 2 names the bundle's kind, \"latent\" or \"video\"".into(),
        )),
        (version, _) => Err(field_error(
            path,
            "format_version",
            format!("is {version}, this zplan reads versions 1 and {FORMAT_VERSION}"),
        )),
    }
}

/// Parses `text` as the manifest of a bundle of `want` kind, after checking its version and
/// kind (a bundle of the other kind is an error on `kind` that names its loader).
fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &Path,
    want: BundleKind,
) -> Result<T, BundleError> {
    let kind = header(text, path)?;
    if kind != want {
        let loader = match kind {
            BundleKind::Latent => "Bundle",
            BundleKind::Video => "VideoBundle",
        };
        return Err(field_error(
            path,
            "kind",
            format!(
                "is \"{}\": this is a {} bundle, not a {} one; load it as a {loader}",
                kind.name(),
                kind.name(),
                want.name()
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| json_error(path, &e))
}

/// The manifest of a latent bundle. Unknown fields are rejected at every level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// 1, or 2 with `kind` "latent".
    pub format_version: u32,
    /// `Latent`, required from format version 2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<BundleKind>,
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
    /// Planner settings chosen for this model, in place of the task's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner: Option<PlannerChoices>,
}

/// Planner settings chosen for one model, e.g. by `zplan train --select-terminal-steps` on
/// validation start/goal draws: a terminal weight that suits one trained model can fail another
/// of the same recipe (docs/results.md, "Across training seeds").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerChoices {
    /// Steps of LQR at the goal that make the terminal weight (0: Q_T = Q).
    pub terminal_steps: usize,
    /// How they were chosen, for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_on: Option<String>,
}

/// Most `planner.terminal_steps` a manifest may ask for.
pub const MAX_TERMINAL_STEPS: usize = 10_000;

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

/// "1x40x40 images" or "2 frames of 1x40x40 images": channels x height x width.
impl std::fmt::Display for ObservationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.frames != 1 {
            write!(f, "{} frames of ", self.frames)?;
        }
        write!(f, "{}x{}x{} images", self.channels, self.height, self.width)
    }
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
        Self::from_json(&read(path)?, path)
    }

    /// Parses and checks the text of a manifest; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, BundleError> {
        let manifest: Manifest = parse(text, path, BundleKind::Latent)?;
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
        header_matches(self.format_version, self.kind, BundleKind::Latent, path)?;
        self.observation.validate(path)?;
        if !(1..=MAX_DIM).contains(&self.latent_dim) {
            return field(
                "latent_dim",
                format!("is {}, must be 1 to {MAX_DIM}", self.latent_dim),
            );
        }
        let files = [
            ("encoder.file", Some(&self.encoder.file)),
            ("dynamics.file", Some(&self.dynamics.file)),
            ("decoder.file", self.decoder.as_ref().map(|d| &d.file)),
            ("reward.file", self.reward.as_ref().map(|r| &r.file)),
        ];
        for (name, file) in files {
            if let Some(file) = file {
                check_file(file, name, path)?;
            }
        }
        self.action.validate(path)?;
        check_time_step(self.time_step, path)?;
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
        if let Some(planner) = &self.planner
            && planner.terminal_steps > MAX_TERMINAL_STEPS
        {
            return field(
                "planner.terminal_steps",
                format!(
                    "is {}, must be at most {MAX_TERMINAL_STEPS}",
                    planner.terminal_steps
                ),
            );
        }
        Ok(())
    }
}

/// `Err` unless a manifest built in code (not parsed) has a version and kind `want` reads.
fn header_matches(
    version: u32,
    kind: Option<BundleKind>,
    want: BundleKind,
    path: &Path,
) -> Result<(), BundleError> {
    let ok = match (version, kind) {
        (1, None | Some(BundleKind::Latent)) => want == BundleKind::Latent,
        (2, Some(kind)) => kind == want,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let kind = kind.map_or("none", BundleKind::name);
    Err(field_error(
        path,
        "format_version",
        format!(
            "is {version} with kind {kind}: a {} bundle is version 2 with kind \"{}\"{}",
            want.name(),
            want.name(),
            if want == BundleKind::Latent {
                ", or version 1"
            } else {
                ""
            }
        ),
    ))
}

/// `Err` unless the time step is positive and finite.
fn check_time_step(time_step: f64, path: &Path) -> Result<(), BundleError> {
    if time_step.is_finite() && time_step > 0.0 {
        return Ok(());
    }
    Err(field_error(
        path,
        "time_step",
        format!("is {time_step}, must be positive"),
    ))
}

/// `Err` naming the field unless `file` (the manifest field `field`) stays inside the bundle.
fn check_file(file: &str, field: &str, path: &Path) -> Result<(), BundleError> {
    check_relative(file).map_err(|problem| field_error(path, field, problem))
}

impl ObservationSpec {
    /// Checks every size is at least 1 and the image is not absurdly large.
    pub(crate) fn validate(&self, path: &Path) -> Result<(), BundleError> {
        let field = |name: &str, problem: String| Err(field_error(path, name, problem));
        for (name, value) in [
            ("observation.frames", self.frames),
            ("observation.channels", self.channels),
            ("observation.height", self.height),
            ("observation.width", self.width),
        ] {
            if value == 0 {
                return field(name, "must be at least 1".into());
            }
        }
        let values = [self.frames, self.channels, self.height, self.width]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if values.is_none_or(|n| n > MAX_OBSERVATION_VALUES) {
            return field(
                "observation.frames",
                format!(
                    "frames x channels x height x width = {} x {} x {} x {} values: more than \
                     {MAX_OBSERVATION_VALUES}",
                    self.frames, self.channels, self.height, self.width
                ),
            );
        }
        Ok(())
    }
}

impl ActionSpec {
    /// Checks the size and that every limit is finite with low < high.
    pub(crate) fn validate(&self, path: &Path) -> Result<(), BundleError> {
        let field = |name: &str, problem: String| Err(field_error(path, name, problem));
        if !(1..=MAX_DIM).contains(&self.dim) {
            return field(
                "action.dim",
                format!("is {}, must be 1 to {MAX_DIM}", self.dim),
            );
        }
        for (name, bounds) in [("action.low", &self.low), ("action.high", &self.high)] {
            if bounds.len() != self.dim {
                return field(
                    name,
                    format!("has {} values, action.dim is {}", bounds.len(), self.dim),
                );
            }
            if let Some(i) = bounds.iter().position(|v| !v.is_finite()) {
                return field(
                    name,
                    format!("element {i} is {}, limits must be finite", bounds[i]),
                );
            }
        }
        if let Some(i) = (0..self.dim).find(|&i| self.low[i] >= self.high[i]) {
            return field(
                "action.low",
                format!(
                    "element {i} ({}) is not below action.high ({})",
                    self.low[i], self.high[i]
                ),
            );
        }
        Ok(())
    }
}

/// The manifest of a video bundle (format version 2, kind "video"): a predictor of the next
/// frame from the context frames and an action, which carries designated-pixel maps along.
/// Unknown fields are rejected at every level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoManifest {
    /// 2.
    pub format_version: u32,
    /// `Video`.
    pub kind: BundleKind,
    /// A short name for the bundle.
    pub name: String,
    /// The camera image; `frames` is the context length (the predictor's frames input holds
    /// the last `frames` frames, oldest first).
    pub observation: ObservationSpec,
    /// Size and limits of the action u.
    pub action: ActionSpec,
    /// Seconds between two frames.
    pub time_step: f64,
    /// (frames, u, maps) -> (next frame, next maps).
    pub predictor: PredictorSpec,
    /// Where the model came from.
    pub provenance: Provenance,
}

/// The video predictor network: frames f32 [B, frames * channels, H, W] in [0, 1], u f32
/// [B, nu] and maps f32 [B, P, H, W] (each map a distribution over the pixels: non-negative,
/// sum 1) -> next frame f32 [B, channels, H, W] and next maps f32 [B, P, H, W], for any B and
/// any P from 1 to `max_maps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictorSpec {
    /// ONNX file, relative to the bundle directory.
    pub file: String,
    /// Input tensor name: the context frames.
    pub frames_input: String,
    /// Input tensor name: the action.
    pub action_input: String,
    /// Input tensor name: the designated-pixel maps.
    pub maps_input: String,
    /// Output tensor name: the predicted frame.
    pub frame_output: String,
    /// Output tensor name: the maps carried one step.
    pub maps_output: String,
    /// Most maps one call takes (the maps axis is dynamic, 1 to this).
    pub max_maps: usize,
}

/// Most designated-pixel maps a video bundle may declare.
pub const MAX_MAPS: usize = 256;

impl VideoManifest {
    /// Reads and checks `zplan.json` of a video bundle; every error names the file and the
    /// field.
    pub fn from_file(path: &Path) -> Result<Self, BundleError> {
        Self::from_json(&read(path)?, path)
    }

    /// Parses and checks the text of a video manifest; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, BundleError> {
        let manifest: VideoManifest = parse(text, path, BundleKind::Video)?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Checks every field's value (the types were checked by parsing).
    pub fn validate(&self, path: &Path) -> Result<(), BundleError> {
        header_matches(
            self.format_version,
            Some(self.kind),
            BundleKind::Video,
            path,
        )?;
        self.observation.validate(path)?;
        self.action.validate(path)?;
        check_time_step(self.time_step, path)?;
        let predictor = &self.predictor;
        check_file(&predictor.file, "predictor.file", path)?;
        if !(1..=MAX_MAPS).contains(&predictor.max_maps) {
            return Err(field_error(
                path,
                "predictor.max_maps",
                format!("is {}, must be 1 to {MAX_MAPS}", predictor.max_maps),
            ));
        }
        let names = [
            ("predictor.frames_input", &predictor.frames_input),
            ("predictor.action_input", &predictor.action_input),
            ("predictor.maps_input", &predictor.maps_input),
        ];
        for (i, (field, name)) in names.iter().enumerate() {
            if let Some((other, _)) = names[..i].iter().find(|(_, n)| n == name) {
                return Err(field_error(
                    path,
                    field,
                    format!("is `{name}`, the same tensor as {other}"),
                ));
            }
        }
        if predictor.frame_output == predictor.maps_output {
            return Err(field_error(
                path,
                "predictor.maps_output",
                format!(
                    "is `{}`, the same tensor as predictor.frame_output",
                    predictor.maps_output
                ),
            ));
        }
        Ok(())
    }
}
