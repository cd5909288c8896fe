//! Writes one frame of a task at a given state as a binary PGM: `render_pgm TASK OUT.pgm S...`.

use zplan_envs::TaskKind;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: render_pgm TASK OUT.pgm STATE...");
        std::process::exit(2);
    }
    let task = TaskKind::from_name(&args[0]).expect("a task name").task();
    let state: Vec<f64> = args[2..]
        .iter()
        .map(|v| v.parse().expect("a number"))
        .collect();
    let image = task.image();
    let mut frame = vec![0; image.frame_len()];
    task.render(&state, &mut frame);
    let mut out = format!("P5\n{} {}\n255\n", image.width, image.height).into_bytes();
    out.extend_from_slice(&frame);
    std::fs::write(&args[1], out).expect("write the image");
}
