//! The threads a training runs on.

/// A rayon pool of `threads` threads (0: `RAYON_NUM_THREADS`, or one a core), each flushing
/// denormals to zero for good. A worker waiting inside one task may run another (another
/// seed's training, with `--seeds`) while the first task's kernel has set the flush for its
/// guard; with the flush set on every worker from the start, every operation rounds the same
/// way whichever worker runs it and whatever it was doing, so the bits do not depend on the
/// threads.
pub fn pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| kernels::denormal::flush_for_good())
        .build()
}
