//! Medians of repeated runs, shared by every bench (no PKCS#11 needed).

use std::time::{Duration, Instant};

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median time of `reps` runs of `f`, after one warm-up run.
pub fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> Duration {
    f();
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}
