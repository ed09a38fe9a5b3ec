//! The tokio runtime the controller runs on, sized for its job rather than for the machine
//! (issue 17, docs/performance.md "Controller memory").
//!
//! The controller handles one message at a time; its embedded broker is the only part that runs
//! in parallel, and on a vehicle computer it serves a few dozen connections. tokio's defaults
//! are one worker per CPU and up to 512 blocking threads (mqtt5's file storage does every file
//! operation on a blocking thread): on a large machine, or during a burst of retained writes,
//! that is many threads, each with its stack and, with glibc, possibly its own malloc arena,
//! which keeps what it once held. No I/O here.

/// Worker threads: at most this many, and never more than the CPUs.
pub const MAX_WORKER_THREADS: usize = 2;

/// Blocking threads (file I/O of `state.json` and of the embedded broker's storage): a thread
/// blocked on the disk does not make the disk faster, so a handful is enough.
pub const MAX_BLOCKING_THREADS: usize = 8;

/// Builds the controller's runtime.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cpus.clamp(1, MAX_WORKER_THREADS))
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
}
