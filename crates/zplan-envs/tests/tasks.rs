//! The tasks against the reference: frames drawn with PIL from the reference geometry,
//! transitions integrated by SciPy, physics invariants and the data distributions.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use zplan_envs::{
    Cartpole, Env, Pcg64, Planar, TaskKind, sample_sequence, sample_transition, uniform,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn read_pgm(path: &Path) -> (usize, usize, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let header: Vec<&[u8]> = bytes.splitn(4, |&b| b == b'\n').collect();
    let dims: Vec<usize> = std::str::from_utf8(header[1])
        .unwrap()
        .split(' ')
        .map(|d| d.parse().unwrap())
        .collect();
    (dims[0], dims[1], header[3].to_vec())
}

/// Our frames against PIL's, pixel for pixel (the rasteriser follows PIL's integer rules).
#[test]
fn frames_match_the_reference_geometry() {
    let frames = json("frames.json");
    for (name, kind, allowed) in [
        ("planar", TaskKind::Planar, 0),
        ("pendulum", TaskKind::Swing, 0),
        ("cartpole", TaskKind::Cartpole, 0),
        ("threepole", TaskKind::Threepole, 0),
    ] {
        let task = kind.task();
        let mut worst = 0;
        for case in frames[name].as_array().unwrap() {
            let state = floats(&case["state"]);
            let (w, h, reference) = read_pgm(
                &fixtures()
                    .join("frames")
                    .join(case["file"].as_str().unwrap()),
            );
            assert_eq!((w, h), (task.image().width, task.image().height));
            let mut ours = vec![0; w * h];
            task.render(&state, &mut ours);
            let lit = reference.iter().filter(|&&v| v > 127).count();
            let differing = ours
                .iter()
                .zip(&reference)
                .filter(|(a, b)| (**a > 127) != (**b > 127))
                .count();
            assert!(lit > 0);
            worst = worst.max(differing);
            println!("{name} {:?}: {differing} of {lit} lit pixels differ", state);
        }
        assert!(
            worst <= allowed,
            "{name}: {worst} pixels differ (allowed {allowed})"
        );
    }
}

/// One step against SciPy: the exact flow (rtol 1e-11) and the reference's RK45.
#[test]
fn steps_follow_the_exact_flow_and_the_reference_rk45() {
    let transitions = json("transitions.json");
    for (name, kind) in [
        ("pendulum", TaskKind::Swing),
        ("cartpole", TaskKind::Cartpole),
        ("threepole", TaskKind::Threepole),
    ] {
        let task = kind.task();
        let (mut worst_exact, mut worst_rk45, mut compared) = (0.0f64, 0.0f64, 0);
        for row in transitions[name].as_array().unwrap() {
            let (state, action) = (floats(&row["state"]), floats(&row["action"]));
            let mut ours = vec![0.0; state.len()];
            task.step(&state, &action, &mut ours);
            // The references are the raw integrals, before the task wraps angles and clips
            // rates: compare the rows where no limit acted.
            let (exact, rk45) = (floats(&row["exact"]), floats(&row["rk45"]));
            let untouched = exact.iter().zip(&ours).all(|(e, o)| (e - o).abs() < 1e-3);
            if !untouched {
                continue;
            }
            compared += 1;
            for i in 0..state.len() {
                worst_exact = worst_exact.max((ours[i] - exact[i]).abs());
                worst_rk45 = worst_rk45.max((ours[i] - rk45[i]).abs());
            }
        }
        println!(
            "{name}: {compared} steps, max |ours - exact| = {worst_exact:.2e}, max |ours - RK45| = {worst_rk45:.2e}"
        );
        assert!(
            compared >= 15,
            "{name}: only {compared} of 20 steps free of limits"
        );
        assert!(worst_exact < 1e-8, "{name}: {worst_exact}");
        assert!(worst_rk45 < 5e-3, "{name}: {worst_rk45}");
    }
}

#[test]
fn energy_is_conserved_without_action_or_clipping() {
    // Pendulum: E = 1/2 (m l^2 / 3) theta_dot^2 + m g l cos(theta).
    let pendulum = TaskKind::Swing.task();
    let energy = |s: &[f64]| 0.5 * (0.1 * 0.25 / 3.0) * s[1] * s[1] + 0.1 * 9.81 * 0.5 * s[0].cos();
    // A swing around the bottom, theta = pi - 0.34: the rate stays below its 3 pi limit.
    let mut s = vec![2.8, 0.0];
    let e0 = energy(&s);
    for _ in 0..25 {
        let mut next = vec![0.0; 2];
        pendulum.step(&s, &[0.0], &mut next);
        s = next;
    }
    assert!(
        (energy(&s) - e0).abs() < 1e-9 * e0.abs().max(1.0),
        "pendulum energy {e0} -> {}",
        energy(&s)
    );

    // Cart-pole (pole of half length l, rod inertia):
    // E = 1/2 (M + m) x_dot^2 + m l x_dot theta_dot cos(theta) + 2/3 m l^2 theta_dot^2 + m g l cos(theta).
    let cartpole = Cartpole;
    let (mc, mp, l, g) = (1.0, 0.1, 0.5, 9.81);
    let energy = |s: &[f64]| {
        0.5 * (mc + mp) * s[3] * s[3]
            + mp * l * s[3] * s[1] * s[0].cos()
            + 2.0 / 3.0 * mp * l * l * s[1] * s[1]
            + mp * g * l * s[0].cos()
    };
    let mut s = vec![0.2, 0.5, 0.0, 0.3];
    let e0 = energy(&s);
    for _ in 0..15 {
        let mut next = vec![0.0; 4];
        zplan_envs::Task::step(&cartpole, &s, &[0.0], &mut next);
        s = next;
    }
    assert!(
        (energy(&s) - e0).abs() < 1e-9,
        "cart-pole energy {e0} -> {}",
        energy(&s)
    );
}

#[test]
fn the_planar_agent_never_enters_an_obstacle() {
    let task = TaskKind::Planar.task();
    let mut rng = Pcg64::seed_from_u64(3);
    let mut s = vec![5.0, 5.0];
    let mut moved = 0;
    for _ in 0..20_000 {
        let u = [uniform(&mut rng, -4.0, 4.0), uniform(&mut rng, -4.0, 4.0)];
        let mut next = vec![0.0; 2];
        task.step(&s, &u, &mut next);
        assert!(
            Planar::is_valid(&next),
            "entered an obstacle or left the map at {next:?}"
        );
        assert!((next[0] - s[0]).abs() <= 3.0 + 1e-12 && (next[1] - s[1]).abs() <= 3.0 + 1e-12);
        moved += usize::from(next != s);
        s = next;
    }
    assert!(moved > 10_000, "the walk moves");
}

#[test]
fn sampled_data_follow_the_reference_distributions() {
    let mut rng = Pcg64::seed_from_u64(11);
    let swing = TaskKind::Swing.task();
    let states: Vec<Vec<f64>> = (0..4000).map(|_| swing.sample_state(&mut rng)).collect();
    let mean = states.iter().map(|s| s[0]).sum::<f64>() / 4000.0;
    let var = states.iter().map(|s| (s[0] - mean).powi(2)).sum::<f64>() / 4000.0;
    assert!(
        mean.abs() < 0.1 && (var.sqrt() - PI / 3f64.sqrt()).abs() < 0.05,
        "theta ~ U[-pi, pi]"
    );
    assert!(states.iter().all(|s| s[1].abs() <= 3.0 * PI));

    let cartpole = TaskKind::Cartpole.task();
    for _ in 0..1000 {
        let sample = sample_transition(cartpole.as_ref(), 0, &mut rng);
        assert_eq!(sample.obs.len(), 2 * 80 * 80);
        assert!(sample.action[0].abs() <= 10.0);
        // x = [o0; o1], x' = [o1; o2]: the second frame of x is the first of x'.
        assert_eq!(&sample.obs[6400..], &sample.next_obs[..6400]);
    }
    let angles: Vec<f64> = (0..1000)
        .map(|_| cartpole.sample_state(&mut rng)[0])
        .collect();
    assert!(
        angles.iter().all(|a| a.abs() <= PI / 10.0),
        "the reference samples cart-pole angles within +-pi/10"
    );

    let planar = TaskKind::Planar.task();
    let grid = Planar::grid();
    for index in 0..300 {
        let sample = sample_transition(planar.as_ref(), index, &mut rng);
        assert_eq!(
            sample.state,
            grid[index].to_vec(),
            "planar data walk the grid of valid positions"
        );
        assert!(
            sample
                .action
                .iter()
                .all(|u| (u - u.round()).abs() <= 0.1 && u.abs() <= 3.0)
        );
        assert!(Planar::is_valid(&sample.next_state));
    }
}

#[test]
fn sequences_chain_their_transitions_and_length_one_is_the_reference_sample() {
    for kind in [TaskKind::Planar, TaskKind::Swing, TaskKind::Cartpole] {
        let task = kind.task();
        let (mut a, mut b) = (Pcg64::seed_from_u64(3), Pcg64::seed_from_u64(3));
        let one = sample_sequence(task.as_ref(), 7, 1, &mut a);
        let reference = sample_transition(task.as_ref(), 7, &mut b);
        assert_eq!(one[0].obs, reference.obs, "{kind:?}");
        assert_eq!(one[0].next_obs, reference.next_obs, "{kind:?}");
        assert_eq!(one[0].action, reference.action, "{kind:?}");

        let sequence = sample_sequence(task.as_ref(), 7, 12, &mut a);
        assert_eq!(sequence.len(), 12);
        for pair in sequence.windows(2) {
            assert_eq!(pair[0].next_obs, pair[1].obs, "{kind:?}: o'_k = o_k+1");
            assert_eq!(pair[0].next_state, pair[1].state, "{kind:?}: s'_k = s_k+1");
        }
        let moved = sequence.iter().filter(|s| s.state != s.next_state).count();
        assert!(moved > 0, "{kind:?}: the random actions move the state");
    }
}

#[test]
fn episodes_are_seeded_and_stack_frames_oldest_first() {
    let (mut a, mut b) = (Env::new(TaskKind::Swing, 5), Env::new(TaskKind::Swing, 5));
    assert_eq!(a.state(), b.state());
    assert!((0.9 * PI..=0.95 * PI).contains(&a.state()[0]) && a.state()[1] == 0.0);
    let len = a.image().len();
    let (mut first, mut second) = (vec![0; len], vec![0; len]);
    a.observation(&mut first);
    assert_eq!(
        first[..len / 2],
        first[len / 2..],
        "the first observation repeats the frame"
    );
    a.step(&[0.5]);
    a.observation(&mut second);
    assert_eq!(
        second[..len / 2],
        first[len / 2..],
        "the previous frame comes first"
    );
    let mut goal = vec![0; len];
    a.goal_observation(&mut goal);
    assert_eq!(goal[..len / 2], goal[len / 2..]);
    b.step(&[0.5]);
    assert_eq!(a.state(), b.state());

    let mut balance = Env::new(TaskKind::Balance, 0);
    assert!(balance.in_goal());
    balance.reset_to(&[PI / 6.0 + 0.01, 0.0], &[0.0, 0.0]);
    assert!(!balance.in_goal());
    let mut threepole = Env::new(TaskKind::Threepole, 0);
    assert!(!threepole.in_goal());
    threepole.reset_to(&[0.1, 0.0, 0.1, 0.0, 0.1, 0.0], &[0.0; 6]);
    assert!(threepole.in_goal());
    threepole.reset_to(&[0.3, 0.0, 0.2, 0.0, 0.1, 0.0], &[0.0; 6]);
    assert!(
        !threepole.in_goal(),
        "absolute angle of link 3 is 0.6 > pi/6"
    );
}
