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

/// `ours` against its `floor`, run in turns (each repetition runs both, the order alternating),
/// so a change in the machine's load during the run weighs on both alike: the median times of
/// each and the median of the repetitions' ratios ours / floor, after one warm-up run of each.
pub fn time_against<T, U>(
    reps: usize,
    mut ours: impl FnMut() -> T,
    mut floor: impl FnMut() -> U,
) -> (Duration, Duration, f64) {
    ours();
    floor();
    let run = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed()
    };
    let (mut a, mut b, mut ratios) = (Vec::with_capacity(reps), Vec::with_capacity(reps), Vec::with_capacity(reps));
    for i in 0..reps {
        let mut o = || {
            std::hint::black_box(ours());
        };
        let mut f = || {
            std::hint::black_box(floor());
        };
        let (x, y) = if i % 2 == 0 {
            let x = run(&mut o);
            (x, run(&mut f))
        } else {
            let y = run(&mut f);
            (run(&mut o), y)
        };
        ratios.push(x.as_secs_f64() / y.as_secs_f64());
        a.push(x);
        b.push(y);
    }
    ratios.sort_by(f64::total_cmp);
    (median(a), median(b), ratios[ratios.len() / 2])
}
