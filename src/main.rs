//! The `rdbinsight` binary: everything happens in the library's `run`.

fn main() {
    one_malloc_arena();
    std::process::exit(rdbinsight::run(std::env::args_os().collect()));
}

/// Keeps glibc's allocator to one arena. The parser, sort and writer threads each free
/// buffers another thread allocated; with an arena per thread glibc kept about 60 MiB of freed
/// memory at peak on the 1 GB bench (177 MiB against 117 MiB, docs/benchmarks.md), and no
/// slower with one arena since allocations are few and large.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn one_malloc_arena() {
    // SAFETY: mallopt only sets a parameter of glibc's allocator; it is called first thing in
    // main, before any other thread exists, and its result (ignored) only says whether the
    // parameter was accepted.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}
