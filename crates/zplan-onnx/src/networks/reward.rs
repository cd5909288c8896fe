//! The reward model (z, u) -> r.

use std::path::Path;

use ndarray::{ArrayView2, ArrayViewMut1, Axis};

use super::{StateActionNet, check_shape};
use crate::bundle::manifest::{Manifest, RewardSpec};
use crate::error::BundleError;
use crate::network::NetworkOptions;

/// Reward model (z, u) -> r.
pub struct RewardNet {
    net: StateActionNet,
    /// Whether the network writes r as [B, 1] rather than [B].
    column: bool,
}

impl RewardNet {
    /// Opens and validates the reward model `spec` of `manifest`: (z [B, nz], u [B, nu]) -> r
    /// [B] (or [B, 1]).
    pub(crate) fn open(
        dir: &Path,
        spec: &RewardSpec,
        manifest: &Manifest,
        options: &NetworkOptions,
    ) -> Result<Self, BundleError> {
        let dims = (manifest.latent_dim, manifest.action.dim);
        let inputs = (spec.state_input.as_str(), spec.action_input.as_str());
        let mut net = StateActionNet::open(dir, "reward", &spec.file, inputs, dims, options)?;
        let shapes = net.probe(&[&spec.output])?;
        let column = match shapes[0].as_slice() {
            [1] => false,
            [1, 1] => true,
            other => {
                return Err(BundleError::Signature {
                    path: net.net.path.clone(),
                    field: "reward.output".into(),
                    problem: format!(
                        "output `{}` has shape {other:?} for one point, expected [1] or [1, 1]",
                        spec.output
                    ),
                });
            }
        };
        let per_point = if column { vec![1] } else { vec![] };
        net.net.set_outputs(vec![(spec.output.clone(), per_point)]);
        Ok(Self { net, column })
    }

    /// Latent size nz.
    pub fn latent_dim(&self) -> usize {
        self.net.latent_dim
    }

    /// Action size nu.
    pub fn action_dim(&self) -> usize {
        self.net.action_dim
    }

    /// r [B] at (z [B, nz], u [B, nu]).
    pub fn reward(
        &mut self,
        z: ArrayView2<'_, f32>,
        u: ArrayView2<'_, f32>,
        mut r: ArrayViewMut1<'_, f32>,
    ) -> Result<(), BundleError> {
        let batch = self.net.check(&z, &u)?;
        check_shape("reward", "r (output)", r.shape(), &[batch])?;
        let out = if self.column {
            r.view_mut().insert_axis(Axis(1)).into_dyn()
        } else {
            r.view_mut().into_dyn()
        };
        self.net.run(z, u, &mut [Some(out)])
    }
}
