//! zplan-envs: the five image-based tasks of the latent-control benchmark (E2C, PCC, PC3):
//! planar, swing, balance, cartpole, threepole (../shared/TASKS.md).
//!
//! Each [`Task`] gives the true dynamics (the reference's equations, clipping and wrapping),
//! the renderer (the reference's image sizes and geometry), the goal test, and the reference's
//! start/goal and training-data distributions, all as pure functions of the state. [`Env`]
//! runs episodes with stacked frames; [`sample_transition`] draws training data.
//!
//! Integration: the reference integrates each step with SciPy's adaptive RK45 (rtol 1e-3,
//! atol 1e-6) with the action held. Here each step is classic RK4 on [`SUBSTEPS`] equal
//! substeps, which follows the exact flow more closely than RK45 at those tolerances; the
//! tests compare both against SciPy over one step.
//! Randomness is a seeded PCG64 stream: every run is reproducible from its seed.

mod cartpole;
mod env;
mod integrate;
mod pendulum;
mod planar;
mod raster;
mod sample;
mod task;
mod threepole;

pub use cartpole::Cartpole;
pub use env::Env;
pub use pendulum::Pendulum;
pub use planar::Planar;
pub use rand_pcg::Pcg64;
pub use sample::{Sample, sample_transition};
pub use task::{ImageSpec, Task, TaskKind};
pub use threepole::Threepole;

/// RK4 substeps per environment step.
pub const SUBSTEPS: usize = 20;

/// Uniform in [low, high).
pub fn uniform(rng: &mut Pcg64, low: f64, high: f64) -> f64 {
    use rand::RngExt;
    rng.random_range(low..high)
}
