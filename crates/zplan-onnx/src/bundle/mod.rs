//! A model bundle: a directory with `zplan.json` and the ONNX files it names
//! (docs/model-bundle.md), of one of two kinds ([`BundleKind`]): a latent bundle ([`Bundle`]:
//! encoder, dynamics, optional decoder and reward) or a video bundle ([`VideoBundle`]: a video
//! predictor). Loading checks every field, every file's IR and opset, every declared input and
//! output, and runs one probe through each network to compare the shapes it produces with the
//! manifest.

pub(crate) mod manifest;
pub(crate) mod onnx_header;

use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::network::NetworkOptions;
use crate::networks::{DecoderNet, DynamicsNet, EncoderNet, Evaluator, PredictorNet, RewardNet};
use manifest::{Manifest, VideoManifest};

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "zplan.json";

/// A loaded, validated latent bundle.
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    encoder: EncoderNet,
    dynamics: DynamicsNet,
    decoder: Option<DecoderNet>,
    reward: Option<RewardNet>,
}

impl Bundle {
    /// Loads the bundle in `dir` with default options (one intra-op thread per session).
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        Self::load_with(dir, &NetworkOptions::default())
    }

    /// Loads the bundle in `dir`: the manifest, then each network, opened and validated
    /// against it.
    pub fn load_with(dir: &Path, options: &NetworkOptions) -> Result<Self, BundleError> {
        let manifest = Manifest::from_file(&dir.join(MANIFEST_FILE))?;
        let encoder = EncoderNet::open(dir, &manifest, options)?;
        let dynamics = DynamicsNet::open(dir, &manifest, options)?;
        let decoder = manifest
            .decoder
            .as_ref()
            .map(|spec| DecoderNet::open(dir, spec, &manifest, options))
            .transpose()?;
        let reward = manifest
            .reward
            .as_ref()
            .map(|spec| RewardNet::open(dir, spec, &manifest, options))
            .transpose()?;
        crate::log(
            crate::LogLevel::Info,
            &format!(
                "loaded bundle {} from {}: latent {}, encoder on {}, dynamics on {}",
                manifest.name,
                dir.display(),
                manifest.latent_dim,
                encoder.evaluator(),
                dynamics.evaluator()
            ),
        );
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            encoder,
            dynamics,
            decoder,
            reward,
        })
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The encoder.
    pub fn encoder(&mut self) -> &mut EncoderNet {
        &mut self.encoder
    }

    /// The dynamics.
    pub fn dynamics(&mut self) -> &mut DynamicsNet {
        &mut self.dynamics
    }

    /// What runs the encoder (see [`EncoderNet::evaluator`]).
    pub fn encoder_evaluator(&self) -> &Evaluator {
        self.encoder.evaluator()
    }

    /// What runs the dynamics (see [`DynamicsNet::evaluator`]).
    pub fn dynamics_evaluator(&self) -> &Evaluator {
        self.dynamics.evaluator()
    }

    /// What computes the dynamics' Jacobians ([`DynamicsNet::jacobian_evaluator`]).
    pub fn jacobian_evaluator(&self) -> &Evaluator {
        self.dynamics.jacobian_evaluator()
    }

    /// The decoder, if the bundle has one.
    pub fn decoder(&mut self) -> Option<&mut DecoderNet> {
        self.decoder.as_mut()
    }

    /// The reward model, if the bundle has one.
    pub fn reward(&mut self) -> Option<&mut RewardNet> {
        self.reward.as_mut()
    }

    /// Splits the bundle into its networks, e.g. to hand the dynamics to a solver and keep the
    /// encoder.
    pub fn into_parts(
        self,
    ) -> (
        Manifest,
        EncoderNet,
        DynamicsNet,
        Option<DecoderNet>,
        Option<RewardNet>,
    ) {
        (
            self.manifest,
            self.encoder,
            self.dynamics,
            self.decoder,
            self.reward,
        )
    }
}

/// A loaded, validated video bundle: one predictor network.
pub struct VideoBundle {
    dir: PathBuf,
    manifest: VideoManifest,
    predictor: PredictorNet,
}

impl VideoBundle {
    /// Loads the video bundle in `dir` with default options (one intra-op thread).
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        Self::load_with(dir, &NetworkOptions::default())
    }

    /// Loads the video bundle in `dir`: the manifest, then the predictor, opened and validated
    /// against it. (`NetworkOptions::native` does not apply: the predictor always runs on ONNX
    /// Runtime.)
    pub fn load_with(dir: &Path, options: &NetworkOptions) -> Result<Self, BundleError> {
        let manifest = VideoManifest::from_file(&dir.join(MANIFEST_FILE))?;
        let predictor = PredictorNet::open(dir, &manifest, options)?;
        crate::log(
            crate::LogLevel::Info,
            &format!(
                "loaded video bundle {} from {}",
                manifest.name,
                dir.display()
            ),
        );
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            predictor,
        })
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &VideoManifest {
        &self.manifest
    }

    /// The predictor.
    pub fn predictor(&mut self) -> &mut PredictorNet {
        &mut self.predictor
    }

    /// Splits the bundle into its manifest and predictor.
    pub fn into_parts(self) -> (VideoManifest, PredictorNet) {
        (self.manifest, self.predictor)
    }
}
