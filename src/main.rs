//! The `rdbinsight` binary: everything happens in the library's `run`.

fn main() {
    tune_malloc();
    std::process::exit(rdbinsight::run(std::env::args_os().collect()));
}

/// Largest allocation glibc takes from its heap instead of a fresh `mmap` (glibc's ceiling).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory glibc keeps at the top of the heap instead of giving it back (see below).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 64 << 20;

/// Tunes glibc's allocator for a few threads passing large buffers to each other:
///
/// - One arena. The parser, sort and writer threads each free buffers another thread
///   allocated; with an arena per thread glibc kept about 60 MiB of freed memory at peak on the
///   1 GB bench (177 MiB against 117 MiB, when the sort came in), and no slower with one arena
///   since allocations are few and large.
/// - Buffers up to 32 MiB (Arrow column buffers, read-ahead chunks, sort runs) come from the
///   heap and are reused. By default glibc maps each one of 128 KiB and more afresh and unmaps
///   it when freed: every batch then paid page faults, zeroed pages and TLB shootdowns on the
///   other core, a third of the parse's time in the kernel (docs/benchmarks-history.md).
/// - Freed memory at the top of the heap is kept up to 64 MiB: setting the mmap threshold
///   turns glibc's own adjustment off and leaves the trim threshold at 128 KiB, so the heap
///   shrank and grew again around every batch, each time faulting in zeroed pages.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn tune_malloc() {
    // SAFETY: mallopt only sets parameters of glibc's allocator; it is called first thing in
    // main, before any other thread exists, and its result (ignored) only says whether a
    // parameter was accepted.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
