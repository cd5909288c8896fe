//! The push task: its physics (non-penetration, momentum-free sliding along the contact normal,
//! walls), its renderer and its episodes, as docs/tasks.md states them.

use rand::SeedableRng;
use zplan_envs::push::{
    AIM_OFFSET, GOAL_DISTANCE, GOAL_RANGE, MARGIN, MAX_STEP, OBJECT_LEVEL, OBJECT_RADIUS,
    PUSHER_LEVEL, PUSHER_RADIUS, SIZE, START_GAP,
};
use zplan_envs::{Env, Pcg64, Push, Task, TaskKind, uniform};

const REACH: f64 = PUSHER_RADIUS + OBJECT_RADIUS;

fn step(state: [f64; 4], action: [f64; 2]) -> [f64; 4] {
    let mut next = [0.0; 4];
    Push.step(&state, &action, &mut next);
    next
}

fn gap(s: &[f64]) -> f64 {
    (s[2] - s[0]).hypot(s[3] - s[1])
}

#[test]
fn a_head_on_push_moves_the_object_by_the_penetration() {
    // Pusher 6 px left of the object (0.5 px apart at the rims), pushed 1 px right: after the
    // first 0.5 px the object moves with the pusher, 0.5 px in all, along x only.
    let next = step([10.0, 16.0, 16.0, 16.0], [MAX_STEP, 0.0]);
    assert_eq!(next[..2], [11.0, 16.0]);
    assert!(
        (next[2] - 16.5).abs() < 1e-12 && next[3] == 16.0,
        "{next:?}"
    );
}

#[test]
fn the_object_slides_along_the_contact_normal_and_keeps_no_momentum() {
    // An off-centre push from the left and above the object's centre: the object moves right
    // and down (away from the pusher's centre), ends exactly in contact, and moves no further
    // once the pusher stops or backs away.
    let start = [10.0, 14.0, 15.0, 16.0];
    let next = step(start, [MAX_STEP, 0.0]);
    assert!(next[2] > start[2] && next[3] > start[3], "{next:?}");
    assert!((gap(&next) - REACH).abs() < 1e-9, "gap {}", gap(&next));
    assert_eq!(step(next, [0.0, 0.0])[2..], next[2..]);
    assert_eq!(step(next, [-MAX_STEP, 0.0])[2..], next[2..]);
    // A pusher that does not reach the object leaves it where it is.
    let far = [4.0, 4.0, 20.0, 20.0];
    assert_eq!(step(far, [MAX_STEP, MAX_STEP])[2..], far[2..]);
}

#[test]
fn pusher_and_object_never_overlap_and_stay_on_the_table() {
    let mut rng = Pcg64::seed_from_u64(3);
    let mut touched = 0;
    for episode in 0..200 {
        let mut state = Push.sample_state(&mut rng);
        for _ in 0..50 {
            let action = Push.random_policy_action(&state, episode, &mut rng);
            let mut next = vec![0.0; 4];
            Push.step(&state, &action, &mut next);
            assert!(
                gap(&next) >= REACH - 1e-9,
                "overlap {} from {state:?} under {action:?}: {next:?}",
                gap(&next)
            );
            for (i, radius) in [PUSHER_RADIUS, PUSHER_RADIUS, OBJECT_RADIUS, OBJECT_RADIUS]
                .into_iter()
                .enumerate()
            {
                assert!(
                    (radius..=SIZE as f64 - radius).contains(&next[i]),
                    "{next:?}"
                );
            }
            touched += usize::from(Push::object_moved(&state, &next));
            state = next;
        }
    }
    assert!(touched > 1000, "{touched} contacts");
}

#[test]
fn walls_stop_the_object_and_the_pusher_stops_at_it() {
    // The object against the right wall, pushed further right.
    let mut state = [
        SIZE as f64 - OBJECT_RADIUS - 6.0,
        16.0,
        SIZE as f64 - 4.0,
        16.0,
    ];
    for _ in 0..20 {
        state = step(state, [MAX_STEP, 0.0]);
    }
    assert_eq!(state[2], SIZE as f64 - OBJECT_RADIUS);
    assert!((state[0] - (SIZE as f64 - OBJECT_RADIUS - REACH)).abs() < 1e-9);
    assert!((gap(&state) - REACH).abs() < 1e-9);
    // The pusher alone against the top wall.
    let state = step([10.0, 2.5, 25.0, 25.0], [0.0, -MAX_STEP]);
    let state = step(state, [0.0, -MAX_STEP]);
    assert_eq!(state[1], PUSHER_RADIUS);
}

#[test]
fn actions_are_clipped_to_the_limits() {
    let next = step([16.0, 16.0, 4.0, 28.0], [10.0, -10.0]);
    assert_eq!(next[..2], [16.0 + MAX_STEP, 16.0 - MAX_STEP]);
}

#[test]
fn renders_two_grey_levels_anti_aliased() {
    let task = TaskKind::Push.task();
    let frame_len = task.image().frame_len();
    let mut frame = vec![0; frame_len];
    let state = [8.5, 8.5, 20.5, 20.5];
    task.render(&state, &mut frame);
    let at = |f: &[u8], col: usize, row: usize| f[row * SIZE + col];
    assert_eq!(at(&frame, 20, 20), OBJECT_LEVEL);
    assert_eq!(at(&frame, 8, 8), PUSHER_LEVEL);
    assert_eq!(at(&frame, 0, 0), 0);
    assert_eq!(Push::object_pixel(&state), [20, 20]);
    // Total intensity = level x area (coverage), within the supersampling's error.
    let sum: f64 = frame.iter().map(|&v| f64::from(v)).sum();
    let expected = std::f64::consts::PI
        * (f64::from(OBJECT_LEVEL) * OBJECT_RADIUS.powi(2)
            + f64::from(PUSHER_LEVEL) * PUSHER_RADIUS.powi(2));
    assert!((sum / expected - 1.0).abs() < 0.02, "{sum} vs {expected}");
    // A quarter-pixel move of the object changes its edge pixels.
    let mut moved = vec![0; frame_len];
    task.render(&[8.5, 8.5, 20.75, 20.5], &mut moved);
    assert!(frame.iter().zip(&moved).filter(|(a, b)| a != b).count() >= 4);
}

#[test]
fn episodes_put_the_goal_8_to_20_px_from_the_object() {
    let mut rng = Pcg64::seed_from_u64(7);
    for _ in 0..500 {
        let (start, goal) = Push.sample_episode(&mut rng);
        let d = (goal[2] - start[2]).hypot(goal[3] - start[3]);
        assert!((GOAL_RANGE[0]..GOAL_RANGE[1]).contains(&d), "{d}");
        for v in [start[2], start[3], goal[2], goal[3]] {
            assert!((OBJECT_RADIUS + MARGIN..=SIZE as f64 - OBJECT_RADIUS - MARGIN).contains(&v));
        }
        let clear = gap(&start) - REACH;
        assert!((START_GAP[0]..=START_GAP[1]).contains(&clear), "{clear}");
        assert!(!Push.in_goal(&start, &goal));
        let mut near = goal.clone();
        near[2] += GOAL_DISTANCE * 0.99;
        assert!(Push.in_goal(&near, &goal));
    }
    // Seeded: the same seed gives the same episode.
    let (mut a, mut b) = (Env::new(TaskKind::Push, 11), Env::new(TaskKind::Push, 11));
    a.reset_seeded(4);
    b.reset_seeded(4);
    assert_eq!(a.state(), b.state());
    assert_eq!(a.goal(), b.goal());
}

#[test]
fn aimed_episodes_touch_the_object_far_more_often() {
    let mut rng = Pcg64::seed_from_u64(5);
    let mut share = [0.0; 2];
    for (slot, episode) in [(0, 0), (1, 1)] {
        let (mut moved, mut steps) = (0, 0);
        for _ in 0..100 {
            let mut state = Push.sample_state(&mut rng);
            for _ in 0..Push.episode_length() {
                let action = Push.random_policy_action(&state, episode, &mut rng);
                assert!(action.iter().all(|a| a.abs() <= MAX_STEP));
                let mut next = vec![0.0; 4];
                Push.step(&state, &action, &mut next);
                moved += usize::from(Push::object_moved(&state, &next));
                steps += 1;
                state = next;
            }
        }
        share[slot] = moved as f64 / steps as f64;
    }
    println!(
        "contact share: uniform {:.3}, aimed {:.3}",
        share[0], share[1]
    );
    assert!(share[1] > 0.3 && share[1] > 3.0 * share[0], "{share:?}");
}

#[test]
fn retreats_leave_the_object_where_it_is() {
    let mut rng = Pcg64::seed_from_u64(9);
    for _ in 0..500 {
        // A touching state: the pusher at the contact distance in a random direction.
        let object = [uniform(&mut rng, 8.0, 24.0), uniform(&mut rng, 8.0, 24.0)];
        let angle = uniform(&mut rng, -std::f64::consts::PI, std::f64::consts::PI);
        let state = [
            object[0] + REACH * angle.cos(),
            object[1] + REACH * angle.sin(),
            object[0],
            object[1],
        ];
        assert!(Push::touching(&state));
        let action = Push::retreat_action(&state, &mut rng);
        assert!(action.iter().all(|a| a.abs() <= MAX_STEP), "{action:?}");
        let next = step(state, [action[0], action[1]]);
        assert_eq!([next[2], next[3]], object, "a retreat moved the object");
        assert!(gap(&next) > gap(&state));
    }
}

#[test]
fn off_centre_aims_slide_the_pusher_along_the_object() {
    // Aim offsets cover [-AIM_OFFSET, AIM_OFFSET] evenly over any run of episodes.
    let offsets: Vec<f64> = (0..200).map(Push::aim_offset).collect();
    assert!(offsets.iter().all(|o| o.abs() <= AIM_OFFSET));
    for bin in 0..4 {
        let (low, high) = (-1.0 + 0.5 * bin as f64, -0.5 + 0.5 * bin as f64);
        let count = offsets
            .iter()
            .filter(|&&o| (low..high).contains(&(o / AIM_OFFSET)))
            .count();
        assert!((40..=60).contains(&count), "bin {bin}: {count} of 200");
    }
    // Head-on, the object moves about as far as the pusher steps; aimed off centre the pusher
    // slides along the object's rim, and the object moves only by the step's part along the
    // contact normal. Mean ratio of the object's move to the step, over 15 steps from contact
    // (before the object reaches a wall).
    let mut rng = Pcg64::seed_from_u64(3);
    let mut ratio = [0.0f64; 2];
    for (slot, offset) in [(0, 0.0), (1, 0.8 * AIM_OFFSET)] {
        let mut state = [4.5, 16.0, 10.0, 16.0];
        let (mut total, mut moves) = (0.0, 0);
        for _ in 0..15 {
            let u = Push::aimed_action(&state, offset, &mut rng);
            let next = step(state, [u[0], u[1]]);
            let moved = (next[2] - state[2]).hypot(next[3] - state[3]);
            if moved > 0.0 {
                total += moved / u[0].hypot(u[1]);
                moves += 1;
            }
            state = next;
        }
        assert!(
            moves > 10,
            "offset {offset}: the object moved in {moves} of 15 steps"
        );
        ratio[slot] = total / moves as f64;
    }
    assert!(ratio[0] > 0.85 && ratio[1] < 0.75, "{ratio:?}");
}
