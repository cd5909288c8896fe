//! A model bundle: a directory with `zplan.json` and the ONNX files it names
//! (docs/model-bundle.md). Loading checks every field, every file's IR and opset, every declared
//! input and output, and runs one probe through each network to compare the shapes it produces
//! with the manifest.

pub(crate) mod manifest;
pub(crate) mod onnx_header;

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4};

use crate::error::BundleError;
use crate::network::{Net, NetworkOptions};
use crate::networks::{Decoder, Dynamics, Encoder, Reward};
use manifest::{JacobianSpec, Manifest};

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "zplan.json";

/// A loaded, validated bundle.
pub struct Bundle {
    dir: PathBuf,
    manifest: Manifest,
    encoder: Encoder,
    dynamics: Dynamics,
    decoder: Option<Decoder>,
    reward: Option<Reward>,
}

impl Bundle {
    /// Loads the bundle in `dir` with default options (one intra-op thread per session).
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        Self::load_with(dir, &NetworkOptions::default())
    }

    /// Loads the bundle in `dir`.
    pub fn load_with(dir: &Path, options: &NetworkOptions) -> Result<Self, BundleError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest = Manifest::from_file(&manifest_path)?;
        let (nz, nu) = (manifest.latent_dim, manifest.action.dim);
        let obs = manifest.observation;
        let image = [obs.stacked_channels(), obs.height, obs.width];

        // Encoder: obs [B, C, H, W] -> z [B, nz].
        let spec = &manifest.encoder;
        let mut net = Net::open(dir, &spec.file, "encoder", options)?;
        net.expect(
            true,
            "encoder.input",
            &spec.input,
            &[None, Some(image[0]), Some(image[1]), Some(image[2])],
        )?;
        net.expect(false, "encoder.output", &spec.output, &[None, Some(nz)])?;
        let probe = Array4::<f32>::from_elem((1, image[0], image[1], image[2]), 0.5);
        let shapes =
            net.probe_shapes(&[(&spec.input, probe.view().into_dyn())], &[&spec.output])?;
        expect_shape(&net, "latent_dim", &spec.output, &shapes[0], &[1, nz])?;
        net.set_outputs(vec![(spec.output.clone(), vec![nz])]);
        let encoder = Encoder {
            net,
            input: spec.input.clone(),
            observation: obs,
            latent_dim: nz,
            scaled: Vec::new(),
        };

        // Dynamics: (z [B, nz], u [B, nu]) -> z_next [B, nz] (+ A [B, nz, nz], B [B, nz, nu]).
        let spec = &manifest.dynamics;
        let mut net = Net::open(dir, &spec.file, "dynamics", options)?;
        net.expect(
            true,
            "dynamics.state_input",
            &spec.state_input,
            &[None, Some(nz)],
        )?;
        net.expect(
            true,
            "dynamics.action_input",
            &spec.action_input,
            &[None, Some(nu)],
        )?;
        net.expect(false, "dynamics.output", &spec.output, &[None, Some(nz)])?;
        let mut outputs = vec![(spec.output.clone(), vec![nz])];
        let mut names = vec![spec.output.as_str()];
        if let (Some(a), Some(b)) = (&spec.a_output, &spec.b_output) {
            net.expect(false, "dynamics.a_output", a, &[None, Some(nz), Some(nz)])?;
            net.expect(false, "dynamics.b_output", b, &[None, Some(nz), Some(nu)])?;
            outputs.push((a.clone(), vec![nz, nz]));
            outputs.push((b.clone(), vec![nz, nu]));
            names.extend([a.as_str(), b.as_str()]);
        }
        let (z0, u0) = (Array2::<f32>::zeros((1, nz)), Array2::<f32>::zeros((1, nu)));
        let shapes = net.probe_shapes(
            &[
                (&spec.state_input, z0.view().into_dyn()),
                (&spec.action_input, u0.view().into_dyn()),
            ],
            &names,
        )?;
        let expected: [&[usize]; 3] = [&[1, nz], &[1, nz, nz], &[1, nz, nu]];
        let fields = ["dynamics.output", "dynamics.a_output", "dynamics.b_output"];
        for ((shape, name), (want, field)) in
            shapes.iter().zip(&names).zip(expected.iter().zip(fields))
        {
            expect_shape(&net, field, name, shape, want)?;
        }
        let has_model_jacobians = outputs.len() == 3;
        net.set_outputs(outputs);
        let dynamics = Dynamics {
            net,
            state_input: spec.state_input.clone(),
            action_input: spec.action_input.clone(),
            latent_dim: nz,
            action_dim: nu,
            has_model_jacobians,
            jacobians: manifest.jacobians,
            fd_z: Array2::zeros((0, nz)),
            fd_u: Array2::zeros((0, nu)),
            fd_out: Array2::zeros((0, nz)),
        };
        debug_assert!(has_model_jacobians || !matches!(manifest.jacobians, JacobianSpec::Model));

        // Decoder: z [B, nz] -> obs [B, C, H, W].
        let decoder = match &manifest.decoder {
            None => None,
            Some(spec) => {
                let mut net = Net::open(dir, &spec.file, "decoder", options)?;
                net.expect(true, "decoder.input", &spec.input, &[None, Some(nz)])?;
                net.expect(
                    false,
                    "decoder.output",
                    &spec.output,
                    &[None, Some(image[0]), Some(image[1]), Some(image[2])],
                )?;
                let shapes =
                    net.probe_shapes(&[(&spec.input, z0.view().into_dyn())], &[&spec.output])?;
                expect_shape(
                    &net,
                    "observation",
                    &spec.output,
                    &shapes[0],
                    &[1, image[0], image[1], image[2]],
                )?;
                net.set_outputs(vec![(spec.output.clone(), image.to_vec())]);
                Some(Decoder {
                    net,
                    input: spec.input.clone(),
                    observation: obs,
                    latent_dim: nz,
                })
            }
        };

        // Reward: (z [B, nz], u [B, nu]) -> r [B] (or [B, 1]).
        let reward = match &manifest.reward {
            None => None,
            Some(spec) => {
                let mut net = Net::open(dir, &spec.file, "reward", options)?;
                net.expect(
                    true,
                    "reward.state_input",
                    &spec.state_input,
                    &[None, Some(nz)],
                )?;
                net.expect(
                    true,
                    "reward.action_input",
                    &spec.action_input,
                    &[None, Some(nu)],
                )?;
                let shapes = net.probe_shapes(
                    &[
                        (&spec.state_input, z0.view().into_dyn()),
                        (&spec.action_input, u0.view().into_dyn()),
                    ],
                    &[&spec.output],
                )?;
                let column = match shapes[0].as_slice() {
                    [1] => false,
                    [1, 1] => true,
                    other => {
                        return Err(BundleError::Signature {
                            path: net.path.clone(),
                            field: "reward.output".into(),
                            problem: format!(
                                "output `{}` has shape {other:?} for one point, expected [1] or [1, 1]",
                                spec.output
                            ),
                        });
                    }
                };
                net.set_outputs(vec![(
                    spec.output.clone(),
                    if column { vec![1] } else { vec![] },
                )]);
                Some(Reward {
                    net,
                    state_input: spec.state_input.clone(),
                    action_input: spec.action_input.clone(),
                    latent_dim: nz,
                    action_dim: nu,
                    column,
                })
            }
        };

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
    pub fn encoder(&mut self) -> &mut Encoder {
        &mut self.encoder
    }

    /// The dynamics.
    pub fn dynamics(&mut self) -> &mut Dynamics {
        &mut self.dynamics
    }

    /// The decoder, if the bundle has one.
    pub fn decoder(&mut self) -> Option<&mut Decoder> {
        self.decoder.as_mut()
    }

    /// The reward model, if the bundle has one.
    pub fn reward(&mut self) -> Option<&mut Reward> {
        self.reward.as_mut()
    }

    /// Splits the bundle into its networks, e.g. to hand the dynamics to a solver and keep the
    /// encoder.
    pub fn into_parts(self) -> (Manifest, Encoder, Dynamics, Option<Decoder>, Option<Reward>) {
        (
            self.manifest,
            self.encoder,
            self.dynamics,
            self.decoder,
            self.reward,
        )
    }
}

fn expect_shape(
    net: &Net,
    field: &str,
    name: &str,
    found: &[usize],
    expected: &[usize],
) -> Result<(), BundleError> {
    if found == expected {
        Ok(())
    } else {
        Err(BundleError::Signature {
            path: net.path.clone(),
            field: field.to_string(),
            problem: format!(
                "output `{name}` has shape {found:?} for one point, the manifest implies {expected:?}"
            ),
        })
    }
}
