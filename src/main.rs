//! The `rdbinsight` binary: everything happens in the library's `run`.

fn main() {
    std::process::exit(rdbinsight::run(std::env::args_os().collect()));
}
