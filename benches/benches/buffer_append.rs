//! Append throughput of the transition buffer: 2 x 80 x 80 u8 observations, one action, a
//! commit (msync + fsync + meta.json rename) every 1000 transitions, episodes of 50 steps.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use zplan_buffer::{Buffer, BufferSpec, Transition};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("buffer_append");
    let transitions = 5000;
    group.throughput(Throughput::Elements(transitions as u64));
    group.sample_size(10);
    let frames: Vec<Vec<u8>> = (0..51)
        .map(|k| vec![(k % 251) as u8; 2 * 80 * 80])
        .collect();
    let dir = std::env::temp_dir().join(format!("zplan-bench-buffer-{}", std::process::id()));
    group.bench_function(
        BenchmarkId::new("2x80x80_commit_every_1000", transitions),
        |b| {
            b.iter(|| {
                let _ = std::fs::remove_dir_all(&dir);
                let spec = BufferSpec {
                    obs_shape: vec![2, 80, 80],
                    action_dim: 1,
                    chunk_rows: 4096,
                    state_dim: 0,
                };
                let mut buffer = Buffer::create(&dir, spec).expect("creates");
                for k in 0..transitions {
                    let step = k % 50;
                    let t = Transition {
                        obs: &frames[step],
                        action: &[0.1],
                        reward: 1.0,
                        next_obs: &frames[step + 1],
                        done: step == 49,
                        state: &[],
                        next_state: &[],
                    };
                    buffer.append(&t).expect("appends");
                    if (k + 1) % 1000 == 0 {
                        buffer.commit().expect("commits");
                    }
                }
            })
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
