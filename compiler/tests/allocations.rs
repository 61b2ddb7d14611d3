//! A training step allocates nothing, for every spec in `specs/` and `test_data/run/`, and `lstmc check --plan`
//! describes a spec near the memory bound without allocating its buffers: counted by a
//! global allocator that wraps the system's.
//!
//! A binary of its own, apart from `tests/it`, and without libtest's harness: a
//! `#[global_allocator]` counts for the whole binary, every thread included, and libtest's
//! own thread allocates while a test runs. Counting on every thread, rather than per
//! thread, is the point: rayon's workers run parts of the large products.
//!
//! Each spec's first epoch warms up (rayon's threads allocate once, on their first job).
//! Training runs on a thread of a rayon pool, as `lstmc run --seeds` trains: from a thread
//! outside any pool, each product large enough for threads is one job on rayon's global
//! queue, which allocates a 1.5 KB block for every 63 jobs (encoder_decoder, one such
//! product a step: 2 blocks in 130 epochs). That allocation is rayon's, and no caller
//! outside the pool can avoid it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use compiler::load::Folder;
use compiler::{compile_with, lower, report};
use runtime::shapes::describe;
use runtime::train::Trainer;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

fn count(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(bytes, Ordering::Relaxed);
}

// SAFETY: every call is passed to `System` unchanged; counting touches only atomics, so it
// cannot allocate or recurse.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Epochs counted per spec, after the one that warms up: every spec has more, and an epoch
/// runs every batch size its trainer uses.
const COUNTED_EPOCHS: usize = 2;

/// `(allocations, bytes)` over `COUNTED_EPOCHS` epochs of the spec at `path`, after one.
fn allocations_per_epochs(path: &std::path::Path) -> (usize, usize) {
    let bytes = std::fs::read(path).unwrap();
    let compiled = compile_with(&bytes, &Folder::of(path));
    let (spec, checked) = compiled.result.as_ref().unwrap();
    let mut trainer = Trainer::new(&lower::lower(spec, checked));
    trainer.next_epoch().unwrap().unwrap();
    let (before, bytes_before) = (
        ALLOCATIONS.load(Ordering::SeqCst),
        BYTES.load(Ordering::SeqCst),
    );
    for _ in 0..COUNTED_EPOCHS {
        trainer.next_epoch().unwrap().unwrap();
    }
    (
        ALLOCATIONS.load(Ordering::SeqCst) - before,
        BYTES.load(Ordering::SeqCst) - bytes_before,
    )
}

/// Bytes `lstmc check --plan` may allocate for a spec whose buffers take gigabytes: the text
/// and the graph, nothing in proportion to the sizes.
const PLAN_BYTES: usize = 1 << 20;

/// Compiles, lowers and describes the spec near the memory bound as `lstmc check --plan`
/// does, and checks that its buffers were counted, not allocated.
fn plan_allocates_nothing_in_proportion() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/plan/near_memory_bound.lstm");
    let bytes_before = BYTES.load(Ordering::SeqCst);
    let bytes = std::fs::read(&path).unwrap();
    let compiled = compile_with(&bytes, &Folder::of(&path));
    let (spec, checked) = compiled.result.as_ref().unwrap();
    let plan = lower::lower(spec, checked);
    let (layers, parameters) = describe(&plan, plan.train.batch);
    let text = report::plan(&plan, &checked.graph, &layers, parameters);
    let allocated = BYTES.load(Ordering::SeqCst) - bytes_before;
    let buffers: usize = layers.iter().map(|layer| layer.floats).sum();
    assert!(4 * (buffers + parameters) > 3 << 30, "{text}");
    assert!(
        allocated < PLAN_BYTES,
        "check --plan allocated {allocated} bytes:\n{text}"
    );
}

fn main() {
    plan_allocates_nothing_in_proportion();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The specs, and those only tests run, which clip and schedule with every optimizer.
    let mut paths: Vec<_> = [root.join("../specs"), root.join("test_data/run")]
        .iter()
        .flat_map(|folder| std::fs::read_dir(folder).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "lstm"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 18,
        "the nine experiments, the series and the test runs"
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    // Each worker allocates its work-stealing bookkeeping (about 2 KB) the first time it
    // looks for work, which may be in the middle of a counted epoch; a job on every thread
    // gets that done before anything is counted.
    pool.broadcast(|_| ());
    let counts: Vec<_> = paths
        .iter()
        .map(|path| {
            let count = pool.install(|| allocations_per_epochs(path));
            (path.file_stem().unwrap().to_owned(), count)
        })
        .collect();
    let allocating: Vec<_> = counts.iter().filter(|(_, (n, _))| *n > 0).collect();
    assert!(
        allocating.is_empty(),
        "(spec, (allocations, bytes)) over {COUNTED_EPOCHS} epochs: {allocating:?}"
    );
}
