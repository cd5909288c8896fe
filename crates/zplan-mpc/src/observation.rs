//! Planning in observation space (Visual Foresight: Finn & Levine 2017; Ebert et al. 2018): the
//! sampling search of [`crate::SamplingSettings`] over a video bundle's predictor, scored by
//! where the predictor carries the designated pixels.
//!
//! The user designates P pixels of the camera image and a goal pixel for each. Each designated
//! pixel enters as a map (a distribution over the pixels, one-hot at first); the predictor
//! carries the maps forward with the images. A sampled action sequence u_0..u_{T-1} costs
//!
//! ```text
//! J = sum_p sum_{t=1..T} w_t sum_x map_{p,t}(x) ||x - g_p||,   w_t = 1 (t < T), w_T = final_weight
//! ```
//!
//! the expected Euclidean distance (px) of each step's map to its goal g_p, x the pixel centres
//! (col + 0.5, row + 0.5). Every sample of a time step goes through the predictor in one batched
//! call (an iteration is T calls of batch N). After a plan the designated maps are carried one
//! step by the best plan's prediction of its first action, the action the robot executes (as
//! Visual Foresight does); a robot stack that tracks the pixel itself sets the goals anew
//! instead.

use std::time::{Duration, Instant};

use ndarray::{Array1, Array2, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, Axis, s};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use zplan_onnx::{PredictorNet, VideoBundle, VideoManifest};

use crate::planner::PlanError;
use crate::sampling::{SamplingReport, SamplingSettings, Search, shift_plan};

/// A designated pixel and where it should go, in pixel coordinates: x to the right, y down,
/// pixel (col, row) covering [col, col + 1) x [row, row + 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelGoal {
    /// (x, y) of the designated spot; its map starts one-hot on the pixel holding it.
    pub from: [f64; 2],
    /// (x, y) where it should go.
    pub to: [f64; 2],
}

/// Settings of the observation-space planner.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationSettings {
    /// The search (Visual Foresight's CEM by default).
    pub sampling: SamplingSettings,
    /// Steps planned ahead, T.
    pub horizon: usize,
    /// Weight of the last step's distance (Visual Foresight's `finalweight`: 10).
    pub final_weight: f64,
    /// Seed of the sampling.
    pub seed: u64,
}

impl Default for ObservationSettings {
    /// Visual Foresight's planner: CEM with 200 samples, 3 iterations, 10 elites, a 15-step
    /// horizon as 5 actions each held 3 steps, a full covariance, final weight 10.
    fn default() -> Self {
        Self {
            sampling: SamplingSettings::visual_foresight(),
            horizon: 15,
            final_weight: 10.0,
            seed: 0,
        }
    }
}

/// Timings of the last plan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ObservationTimes {
    /// The whole plan call.
    pub total: Duration,
    /// In the predictor's calls of the search.
    pub predictor: Duration,
    /// Predictor calls of the search (iterations x T).
    pub predictor_calls: usize,
}

/// CEM over a video predictor toward designated-pixel goals. The buffers are sized at
/// construction and, for the maps, when the goals are set; a plan allocates nothing on the Rust
/// side once the predictor has seen its batch sizes.
pub struct ObservationPlanner {
    predictor: PredictorNet,
    manifest: VideoManifest,
    settings: ObservationSettings,
    search: Search,
    rng: Pcg64,
    low: Vec<f64>,
    high: Vec<f64>,
    /// Designated pixels P (0: no goal set yet).
    goals: usize,
    /// Per goal, the distance of every pixel centre to it, [P, H W].
    distance: Array2<f32>,
    /// The designated pixels' current maps, [1, P, H, W], and their successor under the
    /// plan's first action.
    maps: Array4<f32>,
    carried: Array4<f32>,
    /// The current context frames scaled to [0, 1], [1, F C, H, W].
    current: Array4<f32>,
    /// Rollout state of the N samples: context frames, maps, and their successors.
    frames: Array4<f32>,
    next_frame: Array4<f32>,
    batch_maps: Array4<f32>,
    next_maps: Array4<f32>,
    /// One step's actions of the N samples, [N, m].
    actions: Array2<f32>,
    /// The plan (T x m) and the previous plan shifted, for the warm start.
    plan: Vec<f64>,
    previous: Vec<f64>,
    has_previous: bool,
    /// The plan's rollout: its predicted frames [T, C, H, W] and maps [T, P, H, W], and the
    /// batch-1 buffers it runs in.
    predicted_frames: Array4<f32>,
    predicted_maps: Array4<f32>,
    plan_frames: Array4<f32>,
    plan_maps: Array4<f32>,
    plan_next_maps: Array4<f32>,
    plan_u: Array2<f32>,
    action: Array1<f64>,
    times: ObservationTimes,
}

impl ObservationPlanner {
    /// A planner over the predictor of `bundle`.
    pub fn new(bundle: VideoBundle, settings: ObservationSettings) -> Result<Self, PlanError> {
        settings.sampling.check()?;
        if settings.horizon == 0 {
            return Err(PlanError::Settings("the horizon must be at least 1 step"));
        }
        if !(settings.final_weight.is_finite() && settings.final_weight >= 0.0) {
            return Err(PlanError::Settings("final_weight must be finite and >= 0"));
        }
        let (manifest, predictor) = bundle.into_parts();
        let obs = manifest.observation;
        let (h, w, m) = (obs.height, obs.width, manifest.action.dim);
        let (n, t) = (settings.sampling.samples, settings.horizon);
        let context = obs.stacked_channels();
        Ok(Self {
            search: Search::new(settings.sampling.clone(), m, t),
            rng: Pcg64::seed_from_u64(settings.seed),
            low: manifest.action.low.clone(),
            high: manifest.action.high.clone(),
            goals: 0,
            distance: Array2::zeros((0, h * w)),
            maps: Array4::zeros((1, 0, h, w)),
            carried: Array4::zeros((1, 0, h, w)),
            current: Array4::zeros((1, context, h, w)),
            frames: Array4::zeros((n, context, h, w)),
            next_frame: Array4::zeros((n, obs.channels, h, w)),
            batch_maps: Array4::zeros((n, 0, h, w)),
            next_maps: Array4::zeros((n, 0, h, w)),
            actions: Array2::zeros((n, m)),
            plan: vec![0.0; t * m],
            previous: vec![0.0; t * m],
            has_previous: false,
            predicted_frames: Array4::zeros((t, obs.channels, h, w)),
            predicted_maps: Array4::zeros((t, 0, h, w)),
            plan_frames: Array4::zeros((1, context, h, w)),
            plan_maps: Array4::zeros((1, 0, h, w)),
            plan_next_maps: Array4::zeros((1, 0, h, w)),
            plan_u: Array2::zeros((1, m)),
            action: Array1::zeros(m),
            times: ObservationTimes::default(),
            predictor,
            manifest,
            settings,
        })
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &VideoManifest {
        &self.manifest
    }

    /// The settings.
    pub fn settings(&self) -> &ObservationSettings {
        &self.settings
    }

    /// Whether `manifest`'s bundle can replace this planner's (see [`Self::swap_bundle`]): the
    /// same images and number of actions, and room for the designated pixels set.
    pub fn check_swap(&self, manifest: &VideoManifest) -> Result<(), PlanError> {
        crate::planner::check_same_interface(
            (&manifest.observation, manifest.action.dim),
            (&self.manifest.observation, self.low.len()),
        )?;
        if manifest.predictor.max_maps < self.goals {
            return Err(PlanError::BundleMismatch(format!(
                "its predictor takes {} maps, fewer than the {} designated pixels set",
                manifest.predictor.max_maps, self.goals
            )));
        }
        Ok(())
    }

    /// Replaces the predictor with `bundle`'s (a retrained model), keeping the settings, the
    /// goals, the designated pixels' current maps and the buffers; the action limits become the
    /// new manifest's and the warm start is dropped. On an error the planner keeps its bundle.
    pub fn swap_bundle(&mut self, bundle: VideoBundle) -> Result<(), PlanError> {
        self.check_swap(bundle.manifest())?;
        let (manifest, predictor) = bundle.into_parts();
        self.low.clone_from(&manifest.action.low);
        self.high.clone_from(&manifest.action.high);
        self.predictor = predictor;
        self.manifest = manifest;
        self.has_previous = false;
        Ok(())
    }

    /// Sets the designated pixels and their goals (1 to the bundle's `max_maps`); each map
    /// starts one-hot on the pixel holding `from`. Both points must lie inside the image. Clears
    /// the warm start.
    pub fn set_pixel_goals(&mut self, goals: &[PixelGoal]) -> Result<(), PlanError> {
        let obs = self.manifest.observation;
        let (h, w) = (obs.height, obs.width);
        let max = self.predictor.max_maps();
        if goals.is_empty() || goals.len() > max {
            return Err(PlanError::PixelGoal {
                index: goals.len(),
                problem: format!(
                    "{} goals given; the bundle takes 1 to {max} (predictor.max_maps)",
                    goals.len()
                ),
            });
        }
        for (index, goal) in goals.iter().enumerate() {
            for (name, [x, y]) in [("from", goal.from), ("to", goal.to)] {
                if !inside([x, y], w, h) {
                    return Err(PlanError::PixelGoal {
                        index,
                        problem: format!(
                            "`{name}` ({x}, {y}) lies outside the {w} x {h} image \
                             (x in [0, {w}), y in [0, {h}))"
                        ),
                    });
                }
            }
        }
        let (p, n, t) = (
            goals.len(),
            self.settings.sampling.samples,
            self.settings.horizon,
        );
        if p != self.goals {
            self.distance = Array2::zeros((p, h * w));
            self.maps = Array4::zeros((1, p, h, w));
            self.carried = Array4::zeros((1, p, h, w));
            self.batch_maps = Array4::zeros((n, p, h, w));
            self.next_maps = Array4::zeros((n, p, h, w));
            self.predicted_maps = Array4::zeros((t, p, h, w));
            self.plan_maps = Array4::zeros((1, p, h, w));
            self.plan_next_maps = Array4::zeros((1, p, h, w));
        }
        self.goals = p;
        self.maps.fill(0.0);
        for (p, goal) in goals.iter().enumerate() {
            let [x, y] = goal.from;
            self.maps[[0, p, y as usize, x as usize]] = 1.0;
            let [gx, gy] = goal.to;
            for (pixel, d) in self.distance.row_mut(p).iter_mut().enumerate() {
                let (cx, cy) = ((pixel % w) as f64 + 0.5, (pixel / w) as f64 + 0.5);
                *d = ((cx - gx).powi(2) + (cy - gy).powi(2)).sqrt() as f32;
            }
        }
        self.has_previous = false;
        Ok(())
    }

    /// Re-registers the designated pixels at `pixels` ((x, y) each, as many as goals set),
    /// one-hot, keeping their goals and the warm start: for a robot stack that tracks the
    /// spots itself instead of relying on the carried maps.
    pub fn set_designated_pixels(&mut self, pixels: &[[f64; 2]]) -> Result<(), PlanError> {
        let obs = self.manifest.observation;
        let (h, w) = (obs.height, obs.width);
        if pixels.len() != self.goals {
            return Err(PlanError::PixelGoal {
                index: pixels.len(),
                problem: format!("{} pixels given for {} goals", pixels.len(), self.goals),
            });
        }
        if let Some(index) = pixels.iter().position(|&point| !inside(point, w, h)) {
            let [x, y] = pixels[index];
            return Err(PlanError::PixelGoal {
                index,
                problem: format!("the pixel ({x}, {y}) lies outside the {w} x {h} image"),
            });
        }
        self.maps.fill(0.0);
        for (p, &[x, y]) in pixels.iter().enumerate() {
            self.maps[[0, p, y as usize, x as usize]] = 1.0;
        }
        Ok(())
    }

    /// Plans from the current context frames, u8 [F C, H, W] (oldest first, 0..=255 scaled by
    /// 1/255); returns the first action of the plan. Afterwards the designated maps are the
    /// plan's prediction one step ahead.
    pub fn plan(&mut self, frames: ArrayView3<'_, u8>) -> Result<ArrayView1<'_, f64>, PlanError> {
        let start = Instant::now();
        self.check_frames(frames.shape())?;
        for (dst, &src) in self.current.iter_mut().zip(frames.iter()) {
            *dst = f32::from(src) * (1.0 / 255.0);
        }
        self.search_from(start)
    }

    /// As [`Self::plan`] for frames of floats in [0, 1]; NaN and infinities are refused.
    pub fn plan_f32(
        &mut self,
        frames: ArrayView3<'_, f32>,
    ) -> Result<ArrayView1<'_, f64>, PlanError> {
        let start = Instant::now();
        self.check_frames(frames.shape())?;
        if let Some(index) = frames.iter().position(|v| !v.is_finite()) {
            return Err(PlanError::Bundle(zplan_onnx::BundleError::NonFinite {
                network: "predictor",
                input: "frames",
                index,
            }));
        }
        for (dst, &src) in self.current.iter_mut().zip(frames.iter()) {
            *dst = src;
        }
        self.search_from(start)
    }

    /// Forgets the previous plan (a new episode): the next plan starts without a warm start.
    /// The designated pixels and goals stay.
    pub fn reset(&mut self) {
        self.has_previous = false;
    }

    /// Refuses a plan before goals are set or for frames of another shape than the context.
    fn check_frames(&self, shape: &[usize]) -> Result<(), PlanError> {
        if self.goals == 0 {
            return Err(PlanError::NoPixelGoal);
        }
        let expected = &self.current.shape()[1..];
        if shape != expected {
            return Err(frames_error(format!(
                "has shape {shape:?}, the bundle's context is {expected:?}"
            )));
        }
        Ok(())
    }

    /// The search from the context frames in `self.current`; `start` is when the plan call
    /// began.
    fn search_from(&mut self, start: Instant) -> Result<ArrayView1<'_, f64>, PlanError> {
        let (t, m) = (self.settings.horizon, self.low.len());
        let n = self.settings.sampling.samples;
        let final_weight = self.settings.final_weight as f32;
        let warm = self.has_previous.then_some(&self.previous[..]);
        let mut calls = 0;
        let (predictor, current, maps, distance) = (
            &mut self.predictor,
            &self.current,
            &self.maps,
            self.distance.view(),
        );
        let (frames, next_frame, batch_maps, next_maps, actions) = (
            &mut self.frames,
            &mut self.next_frame,
            &mut self.batch_maps,
            &mut self.next_maps,
            &mut self.actions,
        );
        let rollout = |controls: &[f64], costs: &mut [f64]| -> Result<Duration, PlanError> {
            let mut in_network = Duration::ZERO;
            for b in 0..n {
                frames
                    .index_axis_mut(Axis(0), b)
                    .assign(&current.index_axis(Axis(0), 0));
                batch_maps
                    .index_axis_mut(Axis(0), b)
                    .assign(&maps.index_axis(Axis(0), 0));
            }
            costs.fill(0.0);
            for step in 0..t {
                for (dst, &src) in actions.iter_mut().zip(&controls[step * n * m..]) {
                    *dst = src as f32;
                }
                let call = Instant::now();
                predictor.predict(
                    frames.view(),
                    actions.view(),
                    batch_maps.view(),
                    next_frame.view_mut(),
                    next_maps.view_mut(),
                )?;
                in_network += call.elapsed();
                calls += 1;
                let weight = if step + 1 == t { final_weight } else { 1.0 };
                add_expected_distances(next_maps.view(), distance.view(), weight, costs);
                shift_in(frames, next_frame.view());
                std::mem::swap(batch_maps, next_maps);
            }
            Ok(in_network)
        };
        self.search.run(
            rollout,
            (&self.low, &self.high),
            warm,
            &mut self.rng,
            (start, None),
            &mut self.plan,
        )?;
        let predictor_time = self.search.report().dynamics;
        self.roll_out_plan()?;
        // The designated pixels move with the executed action's predicted effect.
        self.maps
            .index_axis_mut(Axis(0), 0)
            .assign(&self.predicted_maps.index_axis(Axis(0), 0));
        shift_plan(&self.plan, &mut self.previous, m);
        self.has_previous = true;
        for (a, &u) in self.action.iter_mut().zip(&self.plan[..m]) {
            *a = u;
        }
        self.times = ObservationTimes {
            total: start.elapsed(),
            predictor: predictor_time,
            predictor_calls: calls,
        };
        Ok(self.action.view())
    }

    /// Rolls the plan out once (batch 1) into the predicted frames and maps.
    fn roll_out_plan(&mut self) -> Result<(), PlanError> {
        let (t, m) = (self.settings.horizon, self.low.len());
        self.plan_frames.assign(&self.current);
        self.plan_maps.assign(&self.maps);
        for step in 0..t {
            for (dst, &src) in self.plan_u.iter_mut().zip(&self.plan[step * m..]) {
                *dst = src as f32;
            }
            let next_frame = self
                .predicted_frames
                .slice_mut(s![step..step + 1, .., .., ..]);
            self.predictor.predict(
                self.plan_frames.view(),
                self.plan_u.view(),
                self.plan_maps.view(),
                next_frame,
                self.plan_next_maps.view_mut(),
            )?;
            self.predicted_maps
                .index_axis_mut(Axis(0), step)
                .assign(&self.plan_next_maps.index_axis(Axis(0), 0));
            shift_in(
                &mut self.plan_frames,
                self.predicted_frames.slice(s![step..step + 1, .., .., ..]),
            );
            std::mem::swap(&mut self.plan_maps, &mut self.plan_next_maps);
        }
        Ok(())
    }

    /// The last plan, T x m.
    pub fn plan_actions(&self) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.plan[..])
    }

    /// The last plan's predicted frames, [T, C, H, W] in [0, 1].
    pub fn predicted_frames(&self) -> ArrayView4<'_, f32> {
        self.predicted_frames.view()
    }

    /// The last plan's predicted maps of the designated pixels, [T, P, H, W].
    pub fn predicted_maps(&self) -> ArrayView4<'_, f32> {
        self.predicted_maps.view()
    }

    /// The designated pixels' current maps, [P, H, W].
    pub fn designated_maps(&self) -> ArrayView3<'_, f32> {
        self.maps.index_axis(Axis(0), 0)
    }

    /// The expected position (x, y) of each designated pixel under its current map, [P, 2].
    pub fn designated_means(&self) -> Array2<f64> {
        let mut means = Array2::zeros((self.goals, 2));
        for (p, map) in self.designated_maps().outer_iter().enumerate() {
            for ((row, col), &v) in map.indexed_iter() {
                means[[p, 0]] += f64::from(v) * (col as f64 + 0.5);
                means[[p, 1]] += f64::from(v) * (row as f64 + 0.5);
            }
        }
        means
    }

    /// What the last search did.
    pub fn report(&self) -> SamplingReport {
        self.search.report()
    }

    /// Timings of the last plan.
    pub fn times(&self) -> ObservationTimes {
        self.times
    }
}

/// An error in the frames handed to a plan.
fn frames_error(problem: String) -> PlanError {
    PlanError::Bundle(zplan_onnx::BundleError::Input {
        network: "predictor",
        input: "frames",
        problem,
    })
}

/// Whether (x, y) lies in the w x h image: 0 <= x < w and 0 <= y < h.
fn inside([x, y]: [f64; 2], w: usize, h: usize) -> bool {
    (0.0..w as f64).contains(&x) && (0.0..h as f64).contains(&y)
}

/// costs[b] += weight sum_p sum_x maps[b, p, x] distance[p, x].
fn add_expected_distances(
    maps: ArrayView4<'_, f32>,
    distance: ArrayView2<'_, f32>,
    weight: f32,
    costs: &mut [f64],
) {
    for (row, cost) in maps.outer_iter().zip(costs.iter_mut()) {
        let mut total = 0.0f32;
        for (map, to_goal) in row.outer_iter().zip(distance.outer_iter()) {
            let map = map.to_slice().expect("a map is contiguous");
            let to_goal = to_goal.to_slice().expect("a distance row is contiguous");
            total += map.iter().zip(to_goal).map(|(m, d)| m * d).sum::<f32>();
        }
        *cost += f64::from(weight * total);
    }
}

/// Drops the oldest context frame of every row of `frames` ([B, F C, H, W]) and appends
/// `frame` ([B, C, H, W]).
fn shift_in(frames: &mut Array4<f32>, frame: ArrayView4<'_, f32>) {
    let newest = frame.shape()[1] * frame.shape()[2] * frame.shape()[3];
    for (mut row, new) in frames.outer_iter_mut().zip(frame.outer_iter()) {
        let row = row.as_slice_mut().expect("a row of frames is contiguous");
        let keep = row.len() - newest;
        row.copy_within(newest.., 0);
        for (dst, src) in row[keep..].iter_mut().zip(new.iter()) {
            *dst = *src;
        }
    }
}
