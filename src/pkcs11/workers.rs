//! A fixed set of threads for token calls that a caller wants made at once (a session's
//! per-node signatures), so the number of threads stays the pool size however many callers
//! are in flight: callers queue their items, the workers take them in order.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads, started at the first call that needs them and stopped on drop.
pub(crate) struct Workers {
    size: usize,
    name: &'static str,
    state: Mutex<Option<Running>>,
}

struct Running {
    jobs: Sender<Job>,
    handles: Vec<JoinHandle<()>>,
}

/// A job's result never came back: the job panicked, or no worker could be started.
#[derive(Debug)]
pub(crate) struct WorkerGone;

impl Workers {
    /// Up to `size` threads (at least one) named `name`.
    pub(crate) fn new(size: usize, name: &'static str) -> Self {
        Self { size: size.max(1), name, state: Mutex::new(None) }
    }

    /// The number of threads.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// `f(item)` for every item, on the workers, results in the items' order.
    pub(crate) fn map<I, T, F>(&self, items: Vec<I>, f: F) -> Result<Vec<T>, WorkerGone>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(I) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let count = items.len();
        let (done, results) = mpsc::channel();
        for (index, item) in items.into_iter().enumerate() {
            let (f, done) = (f.clone(), done.clone());
            self.submit(Box::new(move || {
                // The caller may have given up (it never does today); nothing to report then.
                let _ = done.send((index, f(item)));
            }))?;
        }
        drop(done);
        let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(count).collect();
        // Ends when every job has sent or dropped its sender (a panicked job drops it).
        for (index, value) in results {
            out[index] = Some(value);
        }
        out.into_iter().collect::<Option<Vec<T>>>().ok_or(WorkerGone)
    }

    fn submit(&self, job: Job) -> Result<(), WorkerGone> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.is_none() {
            *state = Some(self.start()?);
        }
        let running = state.as_ref().ok_or(WorkerGone)?;
        running.jobs.send(job).map_err(|_| WorkerGone)
    }

    fn start(&self) -> Result<Running, WorkerGone> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut handles = Vec::with_capacity(self.size);
        for n in 0..self.size {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("{}-{n}", self.name)).spawn(move || work(&queue));
            match spawned {
                Ok(handle) => handles.push(handle),
                // Fewer threads than asked for still work; none does not.
                Err(e) if handles.is_empty() => {
                    log::error!("cannot start a {} thread: {e}", self.name);
                    return Err(WorkerGone);
                }
                Err(e) => log::warn!("started {n} of {} {} threads: {e}", self.size, self.name),
            }
        }
        Ok(Running { jobs, handles })
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return, // the pool was dropped
        };
        // A panicking job loses its own result (the caller sees `WorkerGone`), not the worker.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let running = self.state.get_mut().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Running { jobs, handles }) = running {
            drop(jobs);
            for handle in handles {
                let _ = handle.join();
            }
        }
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers").field("size", &self.size).field("name", &self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_keep_the_items_order() {
        let workers = Workers::new(3, "test-worker");
        let out = workers.map((0..100u64).collect(), |i| i * i).unwrap();
        assert_eq!(out, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
        assert!(workers.map(Vec::<u8>::new(), |i| i).unwrap().is_empty());
    }

    #[test]
    fn many_callers_share_a_fixed_number_of_threads() {
        let workers = Arc::new(Workers::new(4, "test-worker"));
        let threads = Arc::new(Mutex::new(HashSet::new()));
        std::thread::scope(|scope| {
            for _ in 0..32 {
                let (workers, threads) = (workers.clone(), threads.clone());
                scope.spawn(move || {
                    let out = workers
                        .map((0..30).collect(), move |i: u32| {
                            threads.lock().unwrap().insert(std::thread::current().id());
                            i + 1
                        })
                        .unwrap();
                    assert_eq!(out, (1..=30).collect::<Vec<_>>());
                });
            }
        });
        assert!(threads.lock().unwrap().len() <= 4, "{} threads ran jobs", threads.lock().unwrap().len());
    }

    #[test]
    fn a_panicking_job_fails_its_call_and_the_workers_survive() {
        let workers = Workers::new(2, "test-worker");
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let failed = workers.map(vec![1, 2, 3], move |i: i32| {
            counter.fetch_add(1, Ordering::SeqCst);
            if i == 2 {
                panic!("job {i} fails on purpose");
            }
            i
        });
        assert!(failed.is_err());
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert_eq!(workers.map(vec![5, 6], |i: i32| i * 2).unwrap(), vec![10, 12]);
    }
}
