//! `zplan inspect DIR`: load and validate a model bundle, describe it, and time one call of
//! each network.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use ndarray::{Array1, Array2, Array3, Array4};
use zplan_onnx::{Bundle, BundleError, DifferenceScheme, Evaluator, JacobianSpec};

/// Calls per network for the latency median.
const CALLS: usize = 200;

/// Load and validate a model bundle, describe its networks, shapes, action bounds and Jacobian
/// mode, and time one call of each network; exit 1 with the error otherwise.
#[derive(Args)]
pub struct InspectCommand {
    /// The bundle directory (holding zplan.json).
    bundle: PathBuf,
}

impl InspectCommand {
    pub fn execute(self) -> anyhow::Result<()> {
        Ok(inspect(&self.bundle)?)
    }
}

/// Median wall time of `f` in microseconds over `CALLS` calls, after one warm-up call.
fn median_us(mut f: impl FnMut() -> Result<(), BundleError>) -> Result<f64, BundleError> {
    f()?;
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    Ok(zplan_loop::quantile(&samples, 0.5))
}

fn row(network: &str, description: String, us: f64) {
    println!("  {network:<11} {description:<44} {us:>9.1} us");
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
        JacobianSpec::Model => println!("jacobians     from the model's A/B outputs"),
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
    match bundle.dynamics_evaluator() {
        Evaluator::Native { isa, multiply_adds } => println!(
            "evaluator     dynamics on zplan's native kernels ({}), {multiply_adds} multiply-adds \
             per row; agrees with ONNX Runtime on the load probe",
            isa.name()
        ),
        Evaluator::OnnxRuntime { reason } => {
            println!("evaluator     dynamics on ONNX Runtime: {reason}")
        }
    }
    println!(
        "provenance    trainer {:?}, data {:?}",
        m.provenance.trainer, m.provenance.dataset
    );
    for (loss, value) in &m.provenance.losses {
        println!("              loss {loss} = {value}");
    }

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
