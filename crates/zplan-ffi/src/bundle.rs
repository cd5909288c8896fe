//! Model bundles: load one (files read, sessions built, every network checked), read its
//! kind and dimensions, hand its networks to a planner.

use std::ffi::c_char;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use zplan_onnx::{ActionSpec, Bundle, BundleKind, Evaluator, NetworkOptions, VideoBundle};

use crate::status::{
    Failure, Handle, Result, check_poison, free_handle, guard, non_null, slice_mut, utf8,
    with_handle_ref, write, write_handle,
};
use crate::{ZP_BUNDLE_LATENT, ZP_BUNDLE_VIDEO, zp_status};

/// A loaded, checked model bundle of either kind: its manifest and one ONNX Runtime session per
/// network, built by `zp_bundle_load`. Nothing is read from its directory afterwards, so a
/// trainer may rewrite the directory while the bundle waits. `zp_planner_new` (latent bundles),
/// `zp_planner_new_observation` (video bundles) and `zp_planner_swap_bundle` take its networks;
/// `zp_bundle_free` frees one that was not taken. `const` functions on it may run from several
/// threads at once; load it on any thread and hand it to another.
pub struct zp_bundle {
    pub(crate) bundle: Loaded,
    poison: AtomicBool,
}

/// The networks of a bundle, by the manifest's kind.
// One per handle, and the handle lives in its own heap allocation: the size difference costs
// nothing, a box would add an indirection on every call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Loaded {
    /// Encoder, latent dynamics, optional decoder and reward.
    Latent(Bundle),
    /// A video predictor.
    Video(VideoBundle),
}

impl Loaded {
    /// The latent bundle, or an error naming the constructor a video bundle needs.
    pub(crate) fn latent(&self) -> Result<&Bundle> {
        match self {
            Self::Latent(b) => Ok(b),
            Self::Video(_) => Err(wrong_kind("a video", "zp_planner_new_observation")),
        }
    }

    /// The video bundle, or an error naming the constructor a latent bundle needs.
    pub(crate) fn video(&self) -> Result<&VideoBundle> {
        match self {
            Self::Video(b) => Ok(b),
            Self::Latent(_) => Err(wrong_kind("a latent", "zp_planner_new")),
        }
    }

    /// The action size and limits of the manifest.
    fn action(&self) -> &ActionSpec {
        match self {
            Self::Latent(b) => &b.manifest().action,
            Self::Video(b) => &b.manifest().action,
        }
    }

    /// Seconds between two steps of the dynamics.
    fn time_step(&self) -> f64 {
        match self {
            Self::Latent(b) => b.manifest().time_step,
            Self::Video(b) => b.manifest().time_step,
        }
    }

    /// As [`Self::latent`], by value.
    pub(crate) fn into_latent(self) -> Result<Bundle> {
        match self {
            Self::Latent(b) => Ok(b),
            Self::Video(_) => Err(wrong_kind("a video", "zp_planner_new_observation")),
        }
    }

    /// As [`Self::video`], by value.
    pub(crate) fn into_video(self) -> Result<VideoBundle> {
        match self {
            Self::Video(b) => Ok(b),
            Self::Latent(_) => Err(wrong_kind("a latent", "zp_planner_new")),
        }
    }
}

fn wrong_kind(kind: &str, constructor: &str) -> Failure {
    Failure::new(
        zp_status::ZP_INVALID_ARGUMENT,
        format!("bundle: {kind} bundle; its planner is made by {constructor}"),
    )
}

impl zp_bundle {
    /// A handle owning the latent bundle `bundle`.
    pub(crate) fn new(bundle: Bundle) -> Self {
        Self::of(Loaded::Latent(bundle))
    }

    fn of(bundle: Loaded) -> Self {
        Self {
            bundle,
            poison: AtomicBool::new(false),
        }
    }
}

impl Handle for zp_bundle {
    const NAME: &'static str = "zp_bundle";
    fn poison(&self) -> &AtomicBool {
        &self.poison
    }
}

/// What a bundle expects and produces. Plain data, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct zp_bundle_info {
    /// `ZP_BUNDLE_LATENT` (encoder and latent dynamics: `zp_planner_new`) or `ZP_BUNDLE_VIDEO`
    /// (a video predictor: `zp_planner_new_observation`).
    pub kind: u32,
    /// Frames in one observation, stacked oldest first along the channel axis (a video
    /// bundle's context frames).
    pub frames: usize,
    /// Channels of one frame (1: grey); an observation has frames x channels channels.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Values in one observation (or goal image): channels x height x width, row-major.
    pub observation_len: usize,
    /// Latent state size nz (0 for a video bundle).
    pub latent_dim: usize,
    /// Action size nu; `zp_bundle_get_action_bounds` gives its limits.
    pub action_dim: usize,
    /// Seconds between two steps of the dynamics (the manifest's `time_step`): the control
    /// period the model was trained for.
    pub time_step: f64,
    /// Whether the bundle has a decoder network.
    pub has_decoder: bool,
    /// Whether the bundle has a reward network (needed by `ZP_OBJECTIVE_REWARD`).
    pub has_reward: bool,
    /// Whether the dynamics run on zplan's native kernels (the network compiled and agreed
    /// with ONNX Runtime at load) rather than on ONNX Runtime.
    pub native_dynamics: bool,
    /// Whether the encoder runs on zplan's native kernels (`zp_bundle_options.native_encoder`).
    pub native_encoder: bool,
    /// Video bundles: the most designated pixels one planner takes (the predictor's
    /// `max_maps`); 0 for a latent bundle.
    pub max_maps: usize,
}

/// How `zp_bundle_load_with` builds the networks. Start from `zp_bundle_options_default()`.
/// Plain data, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct zp_bundle_options {
    /// ONNX Runtime intra-op threads per network (spinning is always off). Default 1.
    pub intra_op_threads: usize,
    /// Run the dynamics on zplan's native kernels where the network is a feed-forward network
    /// they compile and their result agrees with ONNX Runtime's on a probe batch at load;
    /// false: ONNX Runtime for every call. Default true.
    pub native_dynamics: bool,
    /// Run the encoder on zplan's native kernels where it is a chain of convolutions,
    /// activations, a flatten and affine layers they compile and their result agrees with ONNX
    /// Runtime's on probe images at load; false: ONNX Runtime. Default true. Only then does a
    /// plan call allocate nothing in the whole process (ONNX Runtime allocates in every run).
    pub native_encoder: bool,
}

impl From<&NetworkOptions> for zp_bundle_options {
    fn from(options: &NetworkOptions) -> Self {
        Self {
            intra_op_threads: options.intra_op_threads,
            native_dynamics: options.native,
            native_encoder: options.native_encoder,
        }
    }
}

/// The default options: one intra-op thread, native dynamics and encoder where they agree.
#[unsafe(no_mangle)]
pub extern "C" fn zp_bundle_options_default() -> zp_bundle_options {
    (&NetworkOptions::default()).into()
}

/// Loads the bundle in directory `dir` (its `zplan.json` and ONNX files, latent or video as the
/// manifest's `kind` says) into `*out` with the default options: reads the files, builds one
/// session per network and runs a probe through each. Needs `zp_runtime_init`. The caller owns the new handle. Takes as long as the networks
/// take to load: call it off the control thread, then swap the bundle in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_load(dir: *const c_char, out: *mut *mut zp_bundle) -> zp_status {
    let options = zp_bundle_options_default();
    // SAFETY: the caller's contract is `zp_bundle_load_with`'s; `options` is a local.
    unsafe { zp_bundle_load_with(dir, &options, out) }
}

/// `zp_bundle_load` with `*options` instead of the defaults.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_load_with(
    dir: *const c_char,
    options: *const zp_bundle_options,
    out: *mut *mut zp_bundle,
) -> zp_status {
    guard(|| {
        non_null(out, "out")?;
        non_null(options, "options")?;
        // SAFETY: non-null, and a readable zp_bundle_options (the contract).
        let options = unsafe { *options };
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let dir = unsafe { utf8(dir, "dir") }?;
        if zplan_onnx::Runtime::get().is_none() {
            return Err(Failure::new(
                zp_status::ZP_RUNTIME,
                "ONNX Runtime is not loaded: call zp_runtime_init first",
            ));
        }
        let options = NetworkOptions {
            intra_op_threads: options.intra_op_threads.max(1),
            native: options.native_dynamics,
            native_encoder: options.native_encoder,
            ..NetworkOptions::default()
        };
        let dir = Path::new(dir);
        let bundle = match BundleKind::of_bundle(dir)? {
            BundleKind::Latent => Loaded::Latent(Bundle::load_with(dir, &options)?),
            BundleKind::Video => Loaded::Video(VideoBundle::load_with(dir, &options)?),
        };
        // SAFETY: `out` is a writable `zp_bundle *` (the contract).
        unsafe { write_handle(out, zp_bundle::of(bundle)) }
    })
}

/// Frees a bundle that no planner took (NULL is ignored).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_free(bundle: *mut zp_bundle) {
    // SAFETY: the contract of `_free`.
    unsafe { free_handle(bundle) };
}

/// Writes the bundle's dimensions to `*out`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_get_info(
    bundle: *const zp_bundle,
    out: *mut zp_bundle_info,
) -> zp_status {
    // SAFETY: `bundle` is NULL or live (the contract); const calls only share it.
    unsafe {
        with_handle_ref(bundle, |b| {
            // What differs by kind; the image and action sizes are filled in below.
            let (info, obs, action) = match &b.bundle {
                Loaded::Latent(bundle) => {
                    let manifest = bundle.manifest();
                    let info = zp_bundle_info {
                        kind: ZP_BUNDLE_LATENT,
                        latent_dim: manifest.latent_dim,
                        has_decoder: manifest.decoder.is_some(),
                        has_reward: manifest.reward.is_some(),
                        native_dynamics: matches!(
                            bundle.dynamics_evaluator(),
                            Evaluator::Native { .. }
                        ),
                        native_encoder: matches!(
                            bundle.encoder_evaluator(),
                            Evaluator::Native { .. }
                        ),
                        ..zp_bundle_info::default()
                    };
                    (info, manifest.observation, &manifest.action)
                }
                Loaded::Video(bundle) => {
                    let manifest = bundle.manifest();
                    let info = zp_bundle_info {
                        kind: ZP_BUNDLE_VIDEO,
                        max_maps: manifest.predictor.max_maps,
                        ..zp_bundle_info::default()
                    };
                    (info, manifest.observation, &manifest.action)
                }
            };
            let info = zp_bundle_info {
                frames: obs.frames,
                channels: obs.channels,
                height: obs.height,
                width: obs.width,
                observation_len: obs.len(),
                action_dim: action.dim,
                time_step: b.bundle.time_step(),
                ..info
            };
            // SAFETY: `out` is NULL or a writable zp_bundle_info (the contract).
            write(out, info, "out")
        })
    }
}

/// Copies the action limits of the bundle's manifest into `low` and `high` (`action_dim`
/// values each, `len` the length of both arrays).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zp_bundle_get_action_bounds(
    bundle: *const zp_bundle,
    low: *mut f64,
    high: *mut f64,
    len: usize,
) -> zp_status {
    // SAFETY: `bundle` is NULL or live and the arrays hold `len` values (the contract).
    unsafe {
        with_handle_ref(bundle, |b| {
            let action = b.bundle.action();
            slice_mut(low, len, action.dim, "low")?.copy_from_slice(&action.low);
            slice_mut(high, len, action.dim, "high")?.copy_from_slice(&action.high);
            Ok(())
        })
    }
}

/// Takes the bundle out of the caller's handle `*bundle` for `consume` once `check` accepts it:
/// the handle is freed and `*bundle` set to NULL as soon as the bundle is handed over (before
/// `consume` runs), so that a failure inside `consume` leaves the caller nothing to free twice.
/// A NULL `bundle` or `*bundle`, a poisoned handle, or a bundle `check` refuses fails with the
/// handle untouched.
///
/// # Safety
/// `bundle` is NULL or points to a `zp_bundle *` that is NULL or a live handle no other thread
/// uses.
pub(crate) unsafe fn take_bundle<T>(
    bundle: *mut *mut zp_bundle,
    check: impl FnOnce(&Loaded) -> Result<()>,
    consume: impl FnOnce(Loaded) -> Result<T>,
) -> Result<T> {
    non_null(bundle, "bundle")?;
    // SAFETY: `bundle` is non-NULL and points to a `zp_bundle *` (the contract).
    let raw = unsafe { *bundle };
    non_null(raw, "*bundle")?;
    // SAFETY: live and ours alone (the contract).
    let handle = unsafe { &*raw };
    check_poison(handle)?;
    check(&handle.bundle)?;
    // SAFETY: made by `zp_bundle_load` (Box::into_raw) and live; ownership moves here, and the
    // caller's pointer is cleared right away.
    let handle = unsafe { Box::from_raw(raw) };
    // SAFETY: `bundle` is writable (the contract).
    unsafe { bundle.write(std::ptr::null_mut()) };
    consume(handle.bundle)
}
