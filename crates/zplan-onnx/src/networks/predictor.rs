//! The video predictor (frames, u, maps) -> (next frame, next maps) of a video bundle.

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView2, ArrayView4, ArrayViewMut4, s};

use super::{check_finite, check_shape, expect_shape};
use crate::bundle::manifest::{ObservationSpec, PredictorSpec, VideoManifest};
use crate::error::BundleError;
use crate::network::{Net, NetworkOptions};

/// Rows per ONNX Runtime call: a predictor's activations per row are large (a 32 x 32 CDNA
/// predictor's kernel patches alone are 74 KB a row), and ONNX Runtime runs each node over the
/// whole batch, so 200 rows stream every intermediate through memory; 16-row calls keep them in
/// the core's L2 cache. Measured with `zplan inspect` on a 32 x 32 push predictor (2-core Xeon,
/// AVX-512): 200 rows in about 13 ms as 16-row calls against 21 to 29 ms as one call.
const CHUNK_ROWS: usize = 16;

/// How far from 1 a probed map's sum may be after one step.
const MAP_SUM_TOLERANCE: f32 = 1e-3;

/// Video predictor: context frames [B, frames * channels, H, W] in [0, 1], action [B, nu] and
/// designated-pixel maps [B, P, H, W] -> next frame [B, channels, H, W] and next maps
/// [B, P, H, W], for any batch B and 1 <= P <= `max_maps`.
///
/// A call runs ONNX Runtime on chunks of 16 rows (cache-sized). Output buffers are sized for one
/// P at a time: a call with another P than the last re-sizes them (an allocation), so a planner
/// keeps P fixed between calls.
pub struct PredictorNet {
    net: Net,
    spec: PredictorSpec,
    observation: ObservationSpec,
    action_dim: usize,
    /// The P the output buffers are declared for.
    maps: usize,
}

impl PredictorNet {
    /// Opens and validates the predictor of `manifest`: the declared inputs and outputs, then
    /// one probe point with two maps (one-hot at the image centre, and uniform) whose outputs
    /// must have the declared shapes and stay distributions (non-negative, sum 1).
    pub(crate) fn open(
        dir: &Path,
        manifest: &VideoManifest,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let (spec, obs, nu) = (
            &manifest.predictor,
            manifest.observation,
            manifest.action.dim,
        );
        let (h, w) = (obs.height, obs.width);
        let mut net = Net::open(dir, &spec.file, "predictor", options)?;
        let image = |channels| [None, Some(channels), Some(h), Some(w)];
        let maps = [None, None, Some(h), Some(w)];
        let frames = image(obs.stacked_channels());
        net.expect(true, "predictor.frames_input", &spec.frames_input, &frames)?;
        net.expect(
            true,
            "predictor.action_input",
            &spec.action_input,
            &[None, Some(nu)],
        )?;
        net.expect(true, "predictor.maps_input", &spec.maps_input, &maps)?;
        let frame = image(obs.channels);
        net.expect(false, "predictor.frame_output", &spec.frame_output, &frame)?;
        net.expect(false, "predictor.maps_output", &spec.maps_output, &maps)?;

        let probe_frames = Array4::<f32>::from_elem((1, obs.stacked_channels(), h, w), 0.5);
        let probe_u = Array2::<f32>::zeros((1, nu));
        let mut probe_maps = Array4::<f32>::from_elem((1, 2, h, w), 1.0 / (h * w) as f32);
        probe_maps.slice_mut(ndarray::s![0, 0, .., ..]).fill(0.0);
        probe_maps[[0, 0, h / 2, w / 2]] = 1.0;
        let shapes = net.probe_shapes(
            &[
                (&spec.frames_input, probe_frames.view().into_dyn()),
                (&spec.action_input, probe_u.view().into_dyn()),
                (&spec.maps_input, probe_maps.view().into_dyn()),
            ],
            &[&spec.frame_output, &spec.maps_output],
        )?;
        let frame_shape = [1, obs.channels, h, w];
        expect_shape(
            &net,
            "observation",
            &spec.frame_output,
            &shapes[0],
            &frame_shape,
        )?;
        let maps_shape = [1, 2, h, w];
        expect_shape(
            &net,
            "predictor.maps_output",
            &spec.maps_output,
            &shapes[1],
            &maps_shape,
        )?;

        let mut predictor = Self {
            net,
            spec: spec.clone(),
            observation: obs,
            action_dim: nu,
            maps: 0,
        };
        let mut next_frame = Array4::<f32>::zeros(frame_shape);
        let mut next_maps = Array4::<f32>::zeros(maps_shape);
        predictor.predict(
            probe_frames.view(),
            probe_u.view(),
            probe_maps.view(),
            next_frame.view_mut(),
            next_maps.view_mut(),
        )?;
        for (p, map) in next_maps
            .index_axis(ndarray::Axis(0), 0)
            .outer_iter()
            .enumerate()
        {
            let sum: f32 = map.sum();
            let min = map.fold(f32::INFINITY, |m, &v| m.min(v));
            if (sum - 1.0).abs() > MAP_SUM_TOLERANCE || min < 0.0 {
                return Err(BundleError::Signature {
                    path: predictor.net.path.clone(),
                    field: "predictor.maps_output".into(),
                    problem: format!(
                        "probe map {p} sums to {sum} with smallest value {min} after one step; \
                         the predictor must keep each map a distribution (non-negative, sum 1)"
                    ),
                });
            }
        }
        Ok(predictor)
    }

    /// The image layout: `frames` context frames of `channels` channels.
    pub fn observation(&self) -> ObservationSpec {
        self.observation
    }

    /// nu.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Most maps one call takes.
    pub fn max_maps(&self) -> usize {
        self.spec.max_maps
    }

    /// Predicts one step for a batch: from `frames` [B, frames * channels, H, W] (oldest first,
    /// values in [0, 1]), `u` [B, nu] and `maps` [B, P, H, W] (each a distribution over the
    /// pixels) writes `next_frame` [B, channels, H, W] and `next_maps` [B, P, H, W].
    pub fn predict(
        &mut self,
        frames: ArrayView4<'_, f32>,
        u: ArrayView2<'_, f32>,
        maps: ArrayView4<'_, f32>,
        mut next_frame: ArrayViewMut4<'_, f32>,
        mut next_maps: ArrayViewMut4<'_, f32>,
    ) -> Result<(), BundleError> {
        let o = self.observation;
        let (batch, p) = (frames.shape()[0], maps.shape()[1]);
        let image = |channels| [batch, channels, o.height, o.width];
        check_shape(
            "predictor",
            "frames",
            frames.shape(),
            &image(o.stacked_channels()),
        )?;
        check_shape("predictor", "u", u.shape(), &[batch, self.action_dim])?;
        if !(1..=self.spec.max_maps).contains(&p) {
            return Err(BundleError::Input {
                network: "predictor",
                input: "maps",
                problem: format!(
                    "holds {p} maps per point; the bundle takes 1 to {} (predictor.max_maps)",
                    self.spec.max_maps
                ),
            });
        }
        check_shape("predictor", "maps", maps.shape(), &image(p))?;
        check_shape(
            "predictor",
            "next frame (output)",
            next_frame.shape(),
            &image(o.channels),
        )?;
        check_shape(
            "predictor",
            "next maps (output)",
            next_maps.shape(),
            &image(p),
        )?;
        check_finite("predictor", "frames", &frames)?;
        check_finite("predictor", "u", &u)?;
        check_finite("predictor", "maps", &maps)?;
        if p != self.maps {
            let (h, w) = (o.height, o.width);
            self.net.set_outputs(vec![
                (self.spec.frame_output.clone(), vec![o.channels, h, w]),
                (self.spec.maps_output.clone(), vec![p, h, w]),
            ]);
            self.maps = p;
        }
        let (frames, u, maps) = (
            frames.as_standard_layout(),
            u.as_standard_layout(),
            maps.as_standard_layout(),
        );
        for start in (0..batch).step_by(CHUNK_ROWS) {
            let rows = start..(start + CHUNK_ROWS).min(batch);
            let inputs = [
                (
                    self.spec.frames_input.as_str(),
                    frames.slice(s![rows.clone(), .., .., ..]).into_dyn(),
                ),
                (
                    self.spec.action_input.as_str(),
                    u.slice(s![rows.clone(), ..]).into_dyn(),
                ),
                (
                    self.spec.maps_input.as_str(),
                    maps.slice(s![rows.clone(), .., .., ..]).into_dyn(),
                ),
            ];
            self.net.run(
                rows.len(),
                &inputs,
                &mut [
                    Some(
                        next_frame
                            .slice_mut(s![rows.clone(), .., .., ..])
                            .into_dyn(),
                    ),
                    Some(next_maps.slice_mut(s![rows, .., .., ..]).into_dyn()),
                ],
            )?;
        }
        Ok(())
    }
}
