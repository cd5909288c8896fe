//! The decoder z -> o.

use std::path::Path;

use ndarray::{Array2, ArrayView2, ArrayViewMut4};

use super::{check_finite, check_shape, expect_shape};
use crate::bundle::manifest::{DecoderSpec, Manifest, ObservationSpec};
use crate::error::BundleError;
use crate::network::{Net, NetworkOptions};

/// Decoder z -> o.
pub struct DecoderNet {
    net: Net,
    input: String,
    observation: ObservationSpec,
    latent_dim: usize,
}

impl DecoderNet {
    /// Opens and validates the decoder `spec` of `manifest`: z [B, nz] -> obs [B, C, H, W].
    pub(crate) fn open(
        dir: &Path,
        spec: &DecoderSpec,
        manifest: &Manifest,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let (obs, nz) = (manifest.observation, manifest.latent_dim);
        let image = [obs.stacked_channels(), obs.height, obs.width];
        let mut net = Net::open(dir, &spec.file, "decoder", options)?;
        net.expect(true, "decoder.input", &spec.input, &[None, Some(nz)])?;
        net.expect(
            false,
            "decoder.output",
            &spec.output,
            &[None, Some(image[0]), Some(image[1]), Some(image[2])],
        )?;
        let z0 = Array2::<f32>::zeros((1, nz));
        let shapes = net.probe_shapes(&[(&spec.input, z0.view().into_dyn())], &[&spec.output])?;
        expect_shape(
            &net,
            "observation",
            &spec.output,
            &shapes[0],
            &[1, image[0], image[1], image[2]],
        )?;
        net.set_outputs(vec![(spec.output.clone(), image.to_vec())]);
        Ok(Self {
            net,
            input: spec.input.clone(),
            observation: obs,
            latent_dim: nz,
        })
    }

    /// Decodes `z` [B, nz] into images [B, C, H, W].
    pub fn decode(
        &mut self,
        z: ArrayView2<'_, f32>,
        mut obs: ArrayViewMut4<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = z.nrows();
        let o = &self.observation;
        check_shape("decoder", "z", z.shape(), &[batch, self.latent_dim])?;
        check_shape(
            "decoder",
            "observation (output)",
            obs.shape(),
            &[batch, o.stacked_channels(), o.height, o.width],
        )?;
        check_finite("decoder", "z", &z)?;
        let z = z.as_standard_layout();
        let inputs = [(self.input.as_str(), z.view().into_dyn())];
        self.net
            .run(batch, &inputs, &mut [Some(obs.view_mut().into_dyn())])
    }
}
