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
    #[cfg(test)]
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Starts `jobs` jobs on the workers, each running `f` with a sender of results, and returns
    /// the receiving end: the caller takes results as they come, while the jobs go on. The
    /// receiver's iteration ends once every job has returned or panicked (a panicking job loses
    /// only what it had not sent yet).
    pub(crate) fn stream<T, F>(&self, jobs: usize, f: F) -> Result<Receiver<T>, WorkerGone>
    where
        T: Send + 'static,
        F: Fn(&Sender<T>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (results, receiver) = mpsc::channel();
        for _ in 0..jobs {
            let (f, results) = (f.clone(), results.clone());
            self.submit(Box::new(move || f(&results)))?;
        }
        Ok(receiver)
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

    /// Every item of `items` through `f` on `workers`, in the items' order (the jobs take items
    /// from a shared counter).
    fn map(workers: &Workers, items: Vec<u64>, f: impl Fn(u64) -> u64 + Send + Sync + 'static) -> Option<Vec<u64>> {
        let count = items.len();
        let items = Arc::new(items);
        let next = Arc::new(AtomicUsize::new(0));
        let results = workers
            .stream(workers.size(), move |out| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { return };
                let _ = out.send((i, f(*item)));
            })
            .ok()?;
        let mut out = vec![None; count];
        for (i, v) in results {
            out[i] = Some(v);
        }
        out.into_iter().collect()
    }

    #[test]
    fn results_stream_back_from_every_job() {
        let workers = Workers::new(3, "test-worker");
        let out = map(&workers, (0..100u64).collect(), |i| i * i).unwrap();
        assert_eq!(out, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
        assert!(map(&workers, Vec::new(), |i| i).unwrap().is_empty());
        // No jobs: the receiver ends at once.
        assert_eq!(workers.stream(0, |out: &Sender<u8>| out.send(1).unwrap()).unwrap().iter().count(), 0);
    }

    #[test]
    fn many_callers_share_a_fixed_number_of_threads() {
        let workers = Arc::new(Workers::new(4, "test-worker"));
        let threads = Arc::new(Mutex::new(HashSet::new()));
        std::thread::scope(|scope| {
            for _ in 0..32 {
                let (workers, threads) = (workers.clone(), threads.clone());
                scope.spawn(move || {
                    let out = map(&workers, (0..30).collect(), move |i| {
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
    fn a_panicking_job_loses_its_results_and_the_workers_survive() {
        let workers = Workers::new(2, "test-worker");
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let results = workers
            .stream(3, move |out| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n == 1 {
                    panic!("job {n} fails on purpose");
                }
                out.send(n).unwrap();
            })
            .unwrap();
        assert_eq!(results.iter().count(), 2, "the panicked job's result is missing, the stream still ends");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert_eq!(map(&workers, vec![5, 6], |i| i * 2).unwrap(), vec![10, 12]);
    }
}
