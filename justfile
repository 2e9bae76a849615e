# rdbinsight developer recipes. `just` alone lists them.

# List the recipes
help:
    @just --list --unsorted

# Build the release binary
build:
    cargo build --release

# Install what the tests need (if missing) and run every test
test *ARGS:
    bash tests/run.sh {{ARGS}}

# Formatting check and clippy with warnings as errors
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs
ci:
    bash .ci/run

# Benchmarks on the strings, mixed and big datasets (made with redis-server on first use): parse, Parquet, ClickHouse, reports vs redis-check-rdb and the rdb crate
bench *DATASETS:
    bash tests/run.sh --install-only
    cargo build --release --bins --example rdb_crate_walk
    python3 benches/bench.py {{DATASETS}}

# The main job on a fixture: Parquet + HTML report under ./rdbinsight-out, summary printed
demo:
    cargo run --release -- analyze tests/fixtures/redis-7.4.1-all.rdb

# Show an RDB file's header, AUX fields and key counts
inspect FILE:
    cargo run --release -- inspect {{FILE}}

# Fuzz the RDB parser for SECONDS (default 600), seeded with the fixtures (installs cargo-fuzz)
fuzz SECONDS="600":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    mkdir -p fuzz/corpus/parse
    cp -n tests/fixtures/*.rdb fuzz/corpus/parse/ 2>/dev/null || true
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse corpus/parse -- -max_total_time={{SECONDS}} -rss_limit_mb=1024 -max_len=1048576

# Fuzz the diskless replication framing for SECONDS (default 600) (installs cargo-fuzz)
fuzz-repl SECONDS="600":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    mkdir -p fuzz/corpus/repl_framing
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run repl_framing corpus/repl_framing -- -max_total_time={{SECONDS}}

# Start the real ClickHouse engine (chdb-core, installed by tests/run.sh) behind its HTTP interface on PORT
clickhouse PORT="8123" DATA="/tmp/rdbinsight-chdb":
    bash tests/clickhouse-http/start-chdb-http.sh {{PORT}} {{DATA}}
