//! The image encoder o -> z, on zplan's native evaluator where it compiles and agrees with
//! ONNX Runtime at load, else on ONNX Runtime.

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView4, ArrayViewMut2, IxDyn};

use super::{Evaluator, check_finite, check_native_output, check_shape, compare, expect_shape};
use crate::bundle::manifest::{Manifest, ObservationSpec};
use crate::error::BundleError;
use crate::native::NativeEncoder;
use crate::network::{Net, NetworkOptions};

/// Images of the load-time comparison of the native encoder with ONNX Runtime.
const PROBE_IMAGES: usize = 3;

/// Image encoder o -> z.
pub struct EncoderNet {
    net: Net,
    input: String,
    output: String,
    observation: ObservationSpec,
    latent_dim: usize,
    /// u8 images scaled to f32, grown to the largest batch seen.
    scaled: Vec<f32>,
    /// The native encoder, when it compiled and agreed with ONNX Runtime.
    native: Option<NativeEncoder>,
    evaluator: Evaluator,
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
        let mut encoder = Self {
            net,
            input: spec.input.clone(),
            output: spec.output.clone(),
            observation: obs,
            latent_dim: nz,
            scaled: Vec::new(),
            native: None,
            evaluator: Evaluator::OnnxRuntime {
                reason: "not asked for".into(),
            },
        };
        if options.native_encoder {
            let path = dir.join(&spec.file);
            let compiled = NativeEncoder::compile(&path, &spec.input, &spec.output, image, nz)
                .and_then(|native| encoder.agreeing(native));
            (encoder.evaluator, encoder.native) = match compiled {
                Ok(native) => (
                    Evaluator::Native {
                        isa: native.isa(),
                        multiply_adds: native.multiply_adds(),
                    },
                    Some(native),
                ),
                Err(reason) => (Evaluator::OnnxRuntime { reason }, None),
            };
        }
        Ok(encoder)
    }

    /// `native` when its z is what ONNX Runtime computes for [`PROBE_IMAGES`] images of
    /// values spread over [0, 1].
    fn agreeing(&mut self, mut native: NativeEncoder) -> Result<NativeEncoder, String> {
        let o = self.observation;
        let shape = (PROBE_IMAGES, o.stacked_channels(), o.height, o.width);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let images = Array4::from_shape_fn(shape, |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        });
        let nz = self.latent_dim;
        let mut expected = Array2::zeros((PROBE_IMAGES, nz));
        let inputs = [(self.input.as_str(), images.view().into_dyn())];
        self.net
            .run(
                PROBE_IMAGES,
                &inputs,
                &mut [Some(expected.view_mut().into_dyn())],
            )
            .map_err(|e| format!("ONNX Runtime failed on the probe: {e}"))?;
        let mut found = Array2::zeros((PROBE_IMAGES, nz));
        native.run(
            images.as_slice().expect("standard layout"),
            found.as_slice_mut().expect("standard layout"),
        );
        compare(found.iter(), expected.iter(), "z")?;
        Ok(native)
    }

    /// What computes z.
    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// z [B, nz] from the f32 images `obs` [B, C, H, W] (shapes checked, standard layout).
    fn run(
        &mut self,
        batch: usize,
        obs: ndarray::ArrayViewD<'_, f32>,
        mut z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        if let Some(native) = &mut self.native
            && let (Some(obs), Some(values)) = (obs.as_slice(), z.as_slice_mut())
        {
            native.run(obs, values);
            return check_native_output(&self.net, "encoder", &self.output, z.view().into_dyn());
        }
        let inputs = [(self.input.as_str(), obs)];
        self.net
            .run(batch, &inputs, &mut [Some(z.view_mut().into_dyn())])
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
        z: ArrayViewMut2<'_, f32>,
    ) -> Result<(), BundleError> {
        let [batch, ..] = self.check_shapes(obs.shape(), z.shape())?;
        check_finite("encoder", "observation", &obs)?;
        let obs = obs.as_standard_layout();
        self.run(batch, obs.view().into_dyn(), z)
    }

    /// Encodes u8 images [B, C, H, W] (0..=255, scaled by 1/255) into `z` [B, nz].
    pub fn encode_u8(
        &mut self,
        obs: ArrayView4<'_, u8>,
        z: ArrayViewMut2<'_, f32>,
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
        // Moved out for the call (no copy), so that `run` may borrow the network.
        let scaled = std::mem::take(&mut self.scaled);
        let view =
            ndarray::ArrayView::from_shape(IxDyn(&expected), &scaled[..len]).expect("sized above");
        let result = self.run(batch, view, z);
        self.scaled = scaled;
        result
    }
}
