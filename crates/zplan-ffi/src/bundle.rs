//! Model bundles: load one, read its dimensions.

use std::ffi::c_char;
use std::path::{Path, PathBuf};

use zplan_onnx::{Bundle, Manifest};

use crate::status::{Failure, Handle, free_handle, guard, non_null, utf8, with_handle_ref, write};
use crate::zp_status;

/// A checked model bundle: its manifest and ONNX networks passed loading, and its directory is
/// where planners load their own sessions from. Made by `zp_bundle_load`, freed by
/// `zp_bundle_free`. `const` functions on it may run from several threads at once.
pub struct zp_bundle {
    pub(crate) dir: PathBuf,
    manifest: Manifest,
    poisoned: bool,
}

impl Handle for zp_bundle {
    const NAME: &'static str = "zp_bundle";
    fn poisoned(&mut self) -> &mut bool {
        &mut self.poisoned
    }
}

/// What a bundle expects and produces. Plain data, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct zp_bundle_info {
    /// Channels of one observation: frames stacked x channels per frame.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Values in one observation (or goal image): channels x height x width, row-major.
    pub observation_len: usize,
    /// Latent state size nz.
    pub latent_dim: usize,
    /// Action size nu.
    pub action_dim: usize,
    /// Whether the bundle has a decoder network.
    pub has_decoder: bool,
    /// Whether the bundle has a reward network (needed by `ZP_OBJECTIVE_REWARD`).
    pub has_reward: bool,
}

/// Loads and checks the bundle in directory `dir` (its `zplan.json` and ONNX files) into
/// `*out`. Needs `zp_runtime_init`. The caller owns the new handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_load(dir: *const c_char, out: *mut *mut zp_bundle) -> zp_status {
    guard(|| {
        non_null(out, "out")?;
        let dir = utf8(dir, "dir")?;
        if zplan_onnx::Runtime::get().is_none() {
            return Err(Failure::new(
                zp_status::ZP_RUNTIME,
                "ONNX Runtime is not loaded: call zp_runtime_init first",
            ));
        }
        // The sessions are only the check: each planner loads its own.
        let bundle = Bundle::load(Path::new(dir))?;
        write(
            out,
            Box::into_raw(Box::new(zp_bundle {
                dir: bundle.dir().to_path_buf(),
                manifest: bundle.manifest().clone(),
                poisoned: false,
            })),
        );
        Ok(())
    })
}

/// Frees a bundle (NULL is ignored). Planners made from it stay valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_free(bundle: *mut zp_bundle) {
    free_handle(bundle);
}

/// Writes the bundle's dimensions to `*out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_get_info(
    bundle: *const zp_bundle,
    out: *mut zp_bundle_info,
) -> zp_status {
    with_handle_ref(bundle, |b| {
        non_null(out, "out")?;
        let manifest = &b.manifest;
        let obs = &manifest.observation;
        let channels = obs.stacked_channels();
        write(
            out,
            zp_bundle_info {
                channels,
                height: obs.height,
                width: obs.width,
                observation_len: channels * obs.height * obs.width,
                latent_dim: manifest.latent_dim,
                action_dim: manifest.action.dim,
                has_decoder: manifest.decoder.is_some(),
                has_reward: manifest.reward.is_some(),
            },
        );
        Ok(())
    })
}
