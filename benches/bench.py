#!/usr/bin/env python3
"""Benchmarks of rdbinsight: parse-only, Parquet and ClickHouse dump speed and peak RSS, against
redis-check-rdb (Redis's own loader) on the same file. Prints a table; medians of --runs runs.

ClickHouse: the server of RDBINSIGHT_BENCH_CLICKHOUSE_URL (http://host:port), else the real
ClickHouse engine (chdb-core, installed by tests/run.sh) behind tests/clickhouse-http/.

The bench RDB is made on first use by ../shared/fixtures/gen/gen_bench.py with Debian's
redis-server (scale 0.1 is about 100 MB, 1.0 about 1 GB) and kept under target/bench/.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rdbinsight")
GEN = os.path.join(ROOT, "..", "shared", "fixtures", "gen", "gen_bench.py")


def run(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS bytes, stdout+stderr)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = p.stdout.read()
    _, status, rusage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), out.decode(errors="replace")[-2000:]))
    return secs, rusage.ru_maxrss * 1024, out


def median_run(cmd, runs, setup=None):
    times, rss, out = [], 0, b""
    for _ in range(runs):
        if setup:
            setup()
        t, r, out = run(cmd)
        times.append(t)
        rss = max(rss, r)
    return statistics.median(times), rss, out


def ensure_rdb(scale):
    path = os.path.join(ROOT, "target", "bench", "bench-%s.rdb" % scale)
    if os.path.exists(path):
        return path
    if not os.path.exists(GEN):
        sys.exit("no bench RDB at %s and no generator at %s" % (path, GEN))
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        sys.exit("redis-server and redis-cli are needed to make the bench RDB (apt-get install redis-server)")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    work = tempfile.mkdtemp(prefix="rdbinsight-bench-")
    print("generating %s (scale %s) with %s ..." % (path, scale, server), file=sys.stderr)
    subprocess.run([sys.executable, GEN, "--server", server, "--cli", cli, "--out", path + ".part",
                    "--scale", str(scale), "--port", "6497", "--workdir", work], check=True,
                   stdout=subprocess.DEVNULL)
    os.rename(path + ".part", path)
    shutil.rmtree(work, ignore_errors=True)
    return path


def chdb_python():
    for p in (os.environ.get("RDBINSIGHT_TEST_CHDB_PYTHON"),
              os.path.expanduser("~/.cache/rdbinsight/chdb-venv/bin/python"), "/opt/chdb-venv/bin/python"):
        if p and os.path.exists(p):
            return p
    return None


def ch_query(base, sql):
    req = urllib.request.Request(base, data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.read().decode()


def start_clickhouse():
    """Returns (base URL, process or None); None when no server can be had."""
    url = os.environ.get("RDBINSIGHT_BENCH_CLICKHOUSE_URL")
    if url:
        return url.rstrip("/") + "/", None
    py = chdb_python()
    if not py:
        print("no chdb-core (run tests/run.sh once): skipping the ClickHouse rows", file=sys.stderr)
        return None, None
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="rdbinsight-bench-ch-")
    proc = subprocess.Popen([py, os.path.join(ROOT, "tests", "clickhouse-http", "chdb_http_server.py"),
                             "--path", data, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d/" % port
    for _ in range(600):
        try:
            ch_query(base, "SELECT 1")
            return base, proc
        except Exception:
            time.sleep(0.1)
    proc.kill()
    sys.exit("the chDB HTTP server did not start")


def rows_of(out):
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("dumped "):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="0.1")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rdb = ensure_rdb(args.scale)
    size = os.path.getsize(rdb)
    mb = size / 1e6
    results = []

    check = shutil.which("redis-check-rdb")
    if check:
        t, r, _ = median_run([check, rdb], args.runs)
        results.append(("redis-check-rdb (Redis loader)", t, r, None))

    t, r, out = median_run([BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb, "into-null"], args.runs)
    rows = rows_of(out)
    parse_t = t
    results.append(("rdbinsight parse only (into-null)", t, r, rows))

    outdir = tempfile.mkdtemp(prefix="rdbinsight-bench-out-")
    clean = lambda: (shutil.rmtree(outdir, ignore_errors=True), os.makedirs(outdir))
    t, r, out = median_run([BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb,
                            "into-parquet", "--dir", outdir], args.runs, setup=clean)
    results.append(("rdbinsight -> sorted zstd Parquet", t, r, rows_of(out)))
    dump_t = t

    # Report from the Parquet batch just written (the last run's).
    html = os.path.join(outdir, "report.html")
    report_t, report_r, _ = median_run([BIN, "-q", "report", "from-parquet", "--dir", outdir, "--cluster", "default",
                                        "-o", html], args.runs)
    results.append(("rdbinsight report from Parquet", report_t, report_r, rows))

    # ClickHouse: a fresh database per run.
    base, ch_proc = start_clickhouse()
    if base:
        reset = lambda: (ch_query(base, "DROP DATABASE IF EXISTS rdbi_bench"),
                         ch_query(base, "CREATE DATABASE rdbi_bench"))
        url = base + "?database=rdbi_bench"
        t, r, out = median_run([BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb,
                                "into-clickhouse", "--url", url, "--auto-create-tables"], args.runs, setup=reset)
        results.append(("rdbinsight -> ClickHouse (ArrowStream, zstd)", t, r, rows_of(out)))
        t, r, _ = median_run([BIN, "-q", "report", "from-clickhouse", "--url", url, "-o",
                              os.path.join(outdir, "report-ch.html")], args.runs)
        results.append(("rdbinsight report from ClickHouse", t, r, rows))
        if ch_proc:
            ch_proc.kill()

    # Two instances: the same file under two names, concurrently vs one after the other.
    pair = tempfile.mkdtemp(prefix="rdbinsight-bench-pair-")
    a, b = os.path.join(pair, "a.rdb"), os.path.join(pair, "b.rdb")
    os.symlink(rdb, a)
    os.symlink(rdb, b)
    t2, r2, out = median_run([BIN, "-q", "dump", "--concurrency", "2", "from-file", "--path", a, "--path", b,
                              "into-parquet", "--dir", outdir], max(1, args.runs // 2), setup=clean)
    results.append(("rdbinsight 2 instances, 2 at once -> Parquet", t2, r2, rows_of(out)))
    t1, r1, out = median_run([BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", a, "--path", b,
                              "into-parquet", "--dir", outdir], max(1, args.runs // 2), setup=clean)
    results.append(("rdbinsight 2 instances, 1 at a time -> Parquet", t1, r1, rows_of(out)))
    shutil.rmtree(pair, ignore_errors=True)
    shutil.rmtree(outdir, ignore_errors=True)

    print()
    print("file: %s (%.1f MB, %d keys), medians of %d runs, %d cores" % (rdb, mb, rows, args.runs, os.cpu_count()))
    print()
    print("| %-46s | %8s | %8s | %11s | %9s |" % ("run", "seconds", "MB/s", "rows/s", "peak RSS"))
    print("|%s|%s|%s|%s|%s|" % ("-" * 48, "-" * 10, "-" * 10, "-" * 13, "-" * 11))
    for name, t, r, n in results:
        factor = 2 if "2 instances" in name else 1
        rate = ("%11.0f" % (n / t)) if n else "%11s" % "-"
        print("| %-46s | %8.3f | %8.1f | %s | %5.0f MiB |" % (name, t, factor * mb / t, rate, r / 2**20))
    print()
    if check:
        print("parse-only speed-up over redis-check-rdb: %.2fx" % (results[0][1] / parse_t))
    print("Parquet dump / parse-only time: %.2fx" % (dump_t / parse_t))
    print("report / Parquet dump time: %.0f%%" % (100 * report_t / dump_t))
    print("2 instances concurrently / one after the other: %.2fx" % (t2 / t1))


if __name__ == "__main__":
    main()
