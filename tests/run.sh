#!/usr/bin/env bash
# Installs what the tests and benchmarks need when it is missing (Debian's redis-server, chromium,
# tmux, curl and GNU time, Python's pyarrow, rust-just and chdb-core), checks that the crate builds
# without its optional sinks, then runs every test of the workspace (`--install-only`: stops after
# installing). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v redis-cli >/dev/null || need_apt+=(redis-tools)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v curl >/dev/null || need_apt+=(curl)
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} (apt)" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -c 'import pyarrow' 2>/dev/null || { echo "installing pyarrow (pip)" >&2; python3 -m pip install -q pyarrow; }
command -v just >/dev/null || { echo "installing just (pip rust-just)" >&2; python3 -m pip install -q rust-just; }

# The real ClickHouse engine for the ClickHouse sink's tests: PyPI's chdb-core in a venv, served
# over ClickHouse's HTTP interface by tests/clickhouse-http/chdb_http_server.py.
chdb_venv="${RDBINSIGHT_CHDB_VENV:-$HOME/.cache/rdbinsight/chdb-venv}"
if ! "$chdb_venv/bin/python" -c 'import chdb, zstandard' 2>/dev/null; then
    echo "installing chdb-core into $chdb_venv (pip)" >&2
    python3 -m venv "$chdb_venv"
    "$chdb_venv/bin/pip" install -q chdb-core==26.9.0 zstandard
fi
export RDBINSIGHT_TEST_CHDB_PYTHON="$chdb_venv/bin/python"

[ "${1:-}" = "--install-only" ] && exit 0
# The crate also builds without its optional sinks (the fuzz targets build it so).
cargo check --locked --quiet --lib --no-default-features
cargo test --workspace --locked "$@"
