//! The image encoder o -> z.

use std::path::Path;

use ndarray::{Array4, ArrayView4, ArrayViewMut2, IxDyn};

use super::{check_finite, check_shape, expect_shape};
use crate::bundle::manifest::{Manifest, ObservationSpec};
use crate::error::BundleError;
use crate::network::{Net, NetworkOptions};

/// Image encoder o -> z.
pub struct EncoderNet {
    net: Net,
    input: String,
    observation: ObservationSpec,
    latent_dim: usize,
    /// u8 images scaled to f32, grown to the largest batch seen.
    scaled: Vec<f32>,
}

impl EncoderNet {
    /// Opens and validates the encoder of `manifest`: obs [B, C, H, W] -> z [B, nz].
    pub(crate) fn open(
        dir: &Path,
        manifest: &Manifest,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let (spec, obs, nz) = (&manifest.encoder, manifest.observation, manifest.latent_dim);
        let image = [obs.stacked_channels(), obs.height, obs.width];
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
        Ok(Self {
            net,
            input: spec.input.clone(),
            observation: obs,
            latent_dim: nz,
            scaled: Vec::new(),
        })
    }

    /// The image layout it takes.
    pub fn observation(&self) -> ObservationSpec {
        self.observation
    }

    /// nz.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Checks the shapes of a call's images [B, C, H, W] and latent states [B, nz]; returns
    /// the image shape.
    fn check_shapes(&self, obs: &[usize], z: &[usize]) -> Result<[usize; 4], BundleError> {
        let (o, batch) = (&self.observation, obs[0]);
        let expected = [batch, o.stacked_channels(), o.height, o.width];
        check_shape("encoder", "observation", obs, &expected)?;
        check_shape("encoder", "z (output)", z, &[batch, self.latent_dim])?;
        Ok(expected)
    }

    /// Encodes f32 images [B, C, H, W] with values in [0, 1] into `z` [B, nz].
    pub fn encode(
        &mut self,
        obs: ArrayView4<'_, f32>,
        mut z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let [batch, ..] = self.check_shapes(obs.shape(), z.shape())?;
        check_finite("encoder", "observation", &obs)?;
        let obs = obs.as_standard_layout();
        let inputs = [(self.input.as_str(), obs.view().into_dyn())];
        self.net
            .run(batch, &inputs, &mut [Some(z.view_mut().into_dyn())])
    }

    /// Encodes u8 images [B, C, H, W] (0..=255, scaled by 1/255) into `z` [B, nz].
    pub fn encode_u8(
        &mut self,
        obs: ArrayView4<'_, u8>,
        mut z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let expected = self.check_shapes(obs.shape(), z.shape())?;
        let batch = expected[0];
        let len = obs.len();
        if self.scaled.len() < len {
            self.scaled.resize(len, 0.0);
        }
        for (dst, &src) in self.scaled.iter_mut().zip(obs.iter()) {
            *dst = f32::from(src) * (1.0 / 255.0);
        }
        let scaled = ndarray::ArrayView::from_shape(IxDyn(&expected), &self.scaled[..len])
            .expect("sized above");
        let inputs = [(self.input.as_str(), scaled)];
        self.net
            .run(batch, &inputs, &mut [Some(z.view_mut().into_dyn())])
    }
}
