//! `zplan inspect DIR`: load and validate a model bundle (latent or video), describe it, and
//! time one call of each network.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use ndarray::{Array1, Array2, Array3, Array4};
use zplan_onnx::{
    Bundle, BundleError, BundleKind, DifferenceScheme, Evaluator, JacobianSpec, NativeJacobians,
    VideoBundle,
};

/// Calls per network for the latency median.
const CALLS: usize = 200;

/// The video predictor's batch of one planner time step (Visual Foresight's 200 samples).
const PLANNER_BATCH: usize = 200;

/// Load and validate a model bundle, describe its networks, shapes, action bounds and Jacobian
/// mode, and time one call of each network; exit 1 with the error otherwise.
#[derive(Args)]
pub struct InspectCommand {
    /// The bundle directory (holding zplan.json).
    bundle: PathBuf,
}

impl InspectCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        match BundleKind::of_bundle(&self.bundle)? {
            BundleKind::Latent => inspect(&self.bundle)?,
            BundleKind::Video => inspect_video(&self.bundle)?,
        }
        Ok(())
    }
}

/// Median wall time of `f` in microseconds over `CALLS` calls, after one warm-up call.
fn median_us(f: impl FnMut() -> Result<(), BundleError>) -> Result<f64, BundleError> {
    median_us_of(CALLS, f)
}

/// Median wall time of `f` in microseconds over `calls` calls, after one warm-up call.
fn median_us_of(
    calls: usize,
    mut f: impl FnMut() -> Result<(), BundleError>,
) -> Result<f64, BundleError> {
    f()?;
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(zplan_loop::quantile(&samples, 0.5))
}

fn row(network: &str, description: String, us: f64) {
    println!("  {network:<11} {description:<44} {us:>9.1} us");
}

fn provenance(p: &zplan_onnx::Provenance) {
    println!(
        "provenance    trainer {:?}, data {:?}",
        p.trainer, p.dataset
    );
    for (loss, value) in &p.losses {
        println!("              loss {loss} = {value}");
    }
}

fn inspect_video(dir: &Path) -> Result<(), BundleError> {
    let mut bundle = VideoBundle::load(dir)?;
    let m = bundle.manifest().clone();
    let (obs, nu, p) = (m.observation, m.action.dim, &m.predictor);
    println!(
        "bundle        {} ({}), video, format version {}",
        m.name,
        dir.display(),
        m.format_version
    );
    println!(
        "observation   {} context frame(s) x {} channel(s) x {} x {}",
        obs.frames, obs.channels, obs.height, obs.width
    );
    println!(
        "action        nu = {nu}, low {:?}, high {:?}",
        m.action.low, m.action.high
    );
    println!("time step     {} s", m.time_step);
    println!(
        "maps          1 to {} designated-pixel maps per call, carried with the image",
        p.max_maps
    );
    provenance(&m.provenance);
    println!(
        "predictor     {}  {}, {}, {} -> {}, {}",
        p.file, p.frames_input, p.action_input, p.maps_input, p.frame_output, p.maps_output
    );
    let (h, w) = (obs.height, obs.width);
    let predictor = bundle.predictor();
    for (batch, calls) in [(1, CALLS), (PLANNER_BATCH, CALLS / 4)] {
        let frames = Array4::<f32>::from_elem((batch, obs.stacked_channels(), h, w), 0.5);
        let u = Array2::<f32>::zeros((batch, nu));
        let maps = Array4::<f32>::from_elem((batch, 1, h, w), 1.0 / (h * w) as f32);
        let mut next_frame = Array4::<f32>::zeros((batch, obs.channels, h, w));
        let mut next_maps = Array4::<f32>::zeros((batch, 1, h, w));
        let t = median_us_of(calls, || {
            predictor.predict(
                frames.view(),
                u.view(),
                maps.view(),
                next_frame.view_mut(),
                next_maps.view_mut(),
            )
        })?;
        println!(
            "  predict at batch {batch:>3}, one map (median of {calls} calls, this thread) {:>9.1} us",
            t
        );
    }
    println!("valid: the predictor loaded, matches the manifest, keeps maps normalised and ran");
    Ok(())
}

fn inspect(dir: &Path) -> Result<(), BundleError> {
    let mut bundle = Bundle::load(dir)?;
    let m = bundle.manifest().clone();
    let obs = m.observation;
    let (nz, nu) = (m.latent_dim, m.action.dim);
    println!(
        "bundle        {} ({}), format version {}",
        m.name,
        dir.display(),
        m.format_version
    );
    println!(
        "observation   {} frame(s) x {} channel(s) x {} x {} -> encoder input [B, {}, {}, {}]",
        obs.frames,
        obs.channels,
        obs.height,
        obs.width,
        obs.stacked_channels(),
        obs.height,
        obs.width
    );
    println!("latent        nz = {nz}");
    println!(
        "action        nu = {nu}, low {:?}, high {:?}",
        m.action.low, m.action.high
    );
    println!("time step     {} s", m.time_step);
    match m.jacobians {
        JacobianSpec::Model => match bundle.jacobian_evaluator() {
            Evaluator::Native { .. } => {
                let how = match bundle.dynamics().native_jacobians() {
                    Some(NativeJacobians::DenseChain) => {
                        "a dense chain: one product per point with its last two layers packed \
                         together"
                    }
                    _ => "by reverse mode, one pass of nz rows per point",
                };
                println!(
                    "jacobians     the model's exact A/B on zplan's native kernels, {how}; \
                     agrees with the A/B outputs on the load probe"
                )
            }
            Evaluator::OnnxRuntime { reason } => {
                println!("jacobians     the model's A/B outputs on ONNX Runtime: {reason}")
            }
        },
        JacobianSpec::FiniteDifferences { step, scheme } => {
            let (name, rows) = match scheme {
                DifferenceScheme::Central => ("central", 2 * (nz + nu)),
                DifferenceScheme::Forward => ("forward", 1 + nz + nu),
            };
            println!(
                "jacobians     {name} differences, step {step}, one batched call of T x {rows} rows"
            )
        }
    }
    for (network, evaluator, per) in [
        ("encoder", bundle.encoder_evaluator(), "image"),
        ("dynamics", bundle.dynamics_evaluator(), "row"),
    ] {
        match evaluator {
            Evaluator::Native { isa, multiply_adds } => println!(
                "evaluator     {network} on zplan's native kernels ({}), {multiply_adds} \
                 multiply-adds per {per}; agrees with ONNX Runtime on the load probe",
                isa.name()
            ),
            Evaluator::OnnxRuntime { reason } => {
                println!("evaluator     {network} on ONNX Runtime: {reason}")
            }
        }
    }
    provenance(&m.provenance);

    println!("networks (median of {CALLS} calls at batch 1, this thread):");
    let image = Array4::<f32>::from_elem((1, obs.stacked_channels(), obs.height, obs.width), 0.5);
    let mut z = Array2::<f32>::zeros((1, nz));
    let u = Array2::<f32>::zeros((1, nu));
    let encoder = median_us(|| bundle.encoder().encode(image.view(), z.view_mut()))?;
    row(
        "encoder",
        format!(
            "{}  {} -> {}",
            m.encoder.file, m.encoder.input, m.encoder.output
        ),
        encoder,
    );
    let mut z_next = Array2::<f32>::zeros((1, nz));
    let dynamics = median_us(|| {
        bundle
            .dynamics()
            .step(z.view(), u.view(), z_next.view_mut())
    })?;
    let d = &m.dynamics;
    let heads = match (&d.a_output, &d.b_output) {
        (Some(a), Some(b)) => format!(", {a}, {b}"),
        _ => String::new(),
    };
    row(
        "dynamics",
        format!(
            "{}  {}, {} -> {}{heads}",
            d.file, d.state_input, d.action_input, d.output
        ),
        dynamics,
    );
    let (mut a, mut b) = (
        Array3::<f32>::zeros((1, nz, nz)),
        Array3::<f32>::zeros((1, nz, nu)),
    );
    let jacobians = median_us(|| {
        bundle
            .dynamics()
            .jacobians(z.view(), u.view(), a.view_mut(), b.view_mut())
    })?;
    row("jacobians", "one point".to_string(), jacobians);
    if let Some(spec) = &m.decoder {
        let mut decoded = Array4::<f32>::zeros((1, obs.stacked_channels(), obs.height, obs.width));
        let decoder = bundle.decoder().expect("the manifest names a decoder");
        let t = median_us(|| decoder.decode(z.view(), decoded.view_mut()))?;
        row(
            "decoder",
            format!("{}  {} -> {}", spec.file, spec.input, spec.output),
            t,
        );
    }
    if let Some(spec) = &m.reward {
        let mut r = Array1::<f32>::zeros(1);
        let reward = bundle.reward().expect("the manifest names a reward model");
        let t = median_us(|| reward.reward(z.view(), u.view(), r.view_mut()))?;
        row(
            "reward",
            format!(
                "{}  {}, {} -> {}",
                spec.file, spec.state_input, spec.action_input, spec.output
            ),
            t,
        );
    }
    println!("valid: every network loaded, matches the manifest and ran");
    Ok(())
}
