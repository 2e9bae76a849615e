#!/usr/bin/env python3
"""Benchmarks of rdbinsight on three datasets made by a real redis-server (benches/gen_datasets.py:
strings-heavy, mixed types, and the 1 GiB file with huge keys), against two references on the same
file: redis-check-rdb (Redis's own loader, Debian package) and the `rdb` crate from crates.io
(examples/rdb_crate_walk.rs). Prints one table (wall and CPU seconds, MB/s, keys/s, peak RSS;
medians of --runs runs) and whether each target of the performance issue is met.

ClickHouse rows use the server of RDBINSIGHT_BENCH_CLICKHOUSE_URL (http://host:port), else the real
ClickHouse engine (chdb-core, installed by tests/run.sh) behind tests/clickhouse-http/.
Datasets are made on first use and kept under target/bench/.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rdbinsight")
RDB_CRATE = os.path.join(ROOT, "target", "release", "examples", "rdb_crate_walk")
GEN = os.path.join(ROOT, "benches", "gen_datasets.py")
DATASETS = ["strings", "mixed", "big"]


class Failed(Exception):
    pass


GNU_TIME = "/usr/bin/time"


def run(cmd):
    """Runs cmd under GNU time; returns (wall seconds, CPU seconds, peak RSS bytes, output).
    (A child forked from this Python process would inherit Python's RSS as its high-water mark:
    GNU time, a small process, forks the command instead.)"""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as t:
        start = time.perf_counter()
        p = subprocess.run([GNU_TIME, "-o", t.name, "-f", "%U %S %M"] + cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            raise Failed(p.stdout.decode(errors="replace").strip().splitlines()[-1:] or ["exit %d" % p.returncode])
        user, system, rss_kib = t.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kib) * 1024, p.stdout


def median_run(cmd, runs, setup=None):
    result = median_runs([cmd], runs, [setup])[0]
    if isinstance(result, Failed):
        raise result
    return result


def median_runs(cmds, runs, setups=None):
    """Runs `cmds` one after the other, `runs` times over, so that the ratios of their times
    are taken in the same spell of the machine (its speed drifts by a third over minutes);
    `setups[i]`, when given, runs before each run of `cmds[i]`, untimed. For each command:
    (median wall, median CPU, peak RSS, last output), or the Failed it raised (it is not run
    again)."""
    walls, cpus = [[] for _ in cmds], [[] for _ in cmds]
    rss, outs, failed = [0] * len(cmds), [b""] * len(cmds), [None] * len(cmds)
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            if failed[i]:
                continue
            if setups and setups[i]:
                setups[i]()
            try:
                wall, cpu, r, outs[i] = run(cmd)
            except Failed as e:
                failed[i] = e
                continue
            walls[i].append(wall)
            cpus[i].append(cpu)
            rss[i] = max(rss[i], r)
    return [f or (statistics.median(w), statistics.median(c), r, o)
            for f, w, c, r, o in zip(failed, walls, cpus, rss, outs)]


def ensure_dataset(name):
    path = os.path.join(ROOT, "target", "bench", name + ".rdb")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        print("generating %s with redis-server (once) ..." % path, file=sys.stderr)
        subprocess.run([sys.executable, GEN, "--dataset", name, "--out", path], check=True)
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
    """Returns (base URL, process or None, data directory or None); (None, None, None) when no
    server can be had."""
    url = os.environ.get("RDBINSIGHT_BENCH_CLICKHOUSE_URL")
    if url:
        return url.rstrip("/") + "/", None, None
    py = chdb_python()
    if not py:
        print("no chdb-core (run tests/run.sh once): skipping the ClickHouse rows", file=sys.stderr)
        return None, None, None
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
            return base, proc, data
        except Exception:
            time.sleep(0.1)
    proc.kill()
    shutil.rmtree(data, ignore_errors=True)
    sys.exit("the chDB HTTP server did not start")


def keys_of(out):
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("dumped "):
            return int(line.split()[1])
    return None


class Table:
    def __init__(self):
        self.rows = []  # (dataset, name, wall, cpu, rss, mb, keys) or (dataset, name, error)
        self.by = {}

    def add(self, dataset, name, mb, keys, result):
        wall, cpu, rss, _ = result
        self.rows.append((dataset, name, wall, cpu, rss, mb, keys))
        self.by[(dataset, name)] = (wall, cpu, rss)

    def fail(self, dataset, name, why):
        self.rows.append((dataset, name, why))

    def add_result(self, dataset, name, mb, keys, result):
        """A result of median_runs: a row of times, or of the failure."""
        if isinstance(result, Failed):
            self.fail(dataset, name, " ".join(result.args[0])[:120])
        else:
            self.add(dataset, name, mb, keys, result)

    def get(self, dataset, name):
        return self.by.get((dataset, name))

    def print(self):
        print("| dataset | run | wall s | CPU s | MB/s | keys/s | peak RSS |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for row in self.rows:
            if len(row) == 3:
                print("| %s | %s | fails: %s | | | | |" % row)
                continue
            dataset, name, wall, cpu, rss, mb, keys = row
            print("| %s | %s | %.3f | %.2f | %.0f | %s | %.0f MiB |" % (
                dataset, name, wall, cpu, mb / wall, "%.0f" % (keys / wall) if keys else "-", rss / 2**20))


PARSE, PARQUET, REPORT = "rdbinsight parse only (into-null)", "rdbinsight -> sorted zstd Parquet", \
    "rdbinsight report from Parquet"
CHECK, CRATE = "redis-check-rdb (reference)", "rdb crate 0.4 (reference)"
CH, CH_REPORT = "rdbinsight -> ClickHouse (ArrowStream, zstd)", "rdbinsight report from ClickHouse"
PAIR2, PAIR1 = "2 instances at once -> Parquet", "2 instances one after the other -> Parquet"


def bench_dataset(table, name, runs, ch_base):
    rdb = ensure_dataset(name)
    mb = os.path.getsize(rdb) / 1e6
    outdir = tempfile.mkdtemp(prefix="rdbinsight-bench-out-")
    clean = lambda: (shutil.rmtree(outdir, ignore_errors=True), os.makedirs(outdir))
    check = shutil.which("redis-check-rdb")
    # Every run of the group in turn, so that each ratio the targets take (to the references,
    # Parquet to parse only, the report to the dump it reads) compares runs of one spell.
    group = [(PARSE, [BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb, "into-null"])]
    if check:
        group.append((CHECK, [check, rdb]))
    group += [
        (CRATE, [RDB_CRATE, rdb]),
        (PARQUET, [BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb,
                   "into-parquet", "--dir", outdir]),
        (REPORT, [BIN, "-q", "report", "from-parquet", "--dir", outdir, "--cluster", "default",
                  "-o", os.path.join(outdir, "report.html")]),
    ]
    results = median_runs([cmd for _, cmd in group], runs,
                          [clean if label == PARQUET else None for label, _ in group])
    parse = results[0]
    if isinstance(parse, Failed):
        raise parse
    keys = keys_of(parse[3])
    for (label, _), result in zip(group, results):
        table.add_result(name, label, mb, keys, result)
    if ch_base:
        reset = lambda: (ch_query(ch_base, "DROP DATABASE IF EXISTS rdbi_bench"),
                         ch_query(ch_base, "CREATE DATABASE rdbi_bench"))
        url = ch_base + "?database=rdbi_bench"
        table.add(name, CH, mb, keys, median_run(
            [BIN, "-q", "dump", "--concurrency", "1", "from-file", "--path", rdb,
             "into-clickhouse", "--url", url, "--auto-create-tables"], runs, setup=reset))
        table.add(name, CH_REPORT, mb, keys, median_run(
            [BIN, "-q", "report", "from-clickhouse", "--url", url, "-o", os.path.join(outdir, "report-ch.html")],
            runs))
    shutil.rmtree(outdir, ignore_errors=True)
    return rdb, mb, keys


def bench_pair(table, name, rdb, mb, keys, runs):
    """The same file under two names: concurrently vs one after the other."""
    pair = tempfile.mkdtemp(prefix="rdbinsight-bench-pair-")
    a, b = os.path.join(pair, "a.rdb"), os.path.join(pair, "b.rdb")
    os.symlink(rdb, a)
    os.symlink(rdb, b)
    outdir = os.path.join(pair, "out")
    clean = lambda: (shutil.rmtree(outdir, ignore_errors=True), os.makedirs(outdir))
    labels = (PAIR2, PAIR1)
    cmds = [[BIN, "-q", "dump", "--concurrency", conc, "from-file", "--path", a, "--path", b,
             "into-parquet", "--dir", outdir] for conc in ("2", "1")]
    for label, result in zip(labels, median_runs(cmds, runs, [clean, clean])):
        table.add_result(name, label, 2 * mb, 2 * keys, result)
    shutil.rmtree(pair, ignore_errors=True)


def verdict(ok):
    return "met" if ok else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="*", default=DATASETS, help="among %s (default: all)" % DATASETS)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pair", default="strings", help="dataset of the two-instance rows")
    ap.add_argument("--no-clickhouse", action="store_true")
    args = ap.parse_args()
    for d in args.datasets:
        if d not in DATASETS:
            sys.exit("unknown dataset %s (one of %s)" % (d, DATASETS))
    if not os.path.exists(GNU_TIME):
        sys.exit("GNU time is needed for peak RSS: apt-get install time")
    for path in (BIN, RDB_CRATE):
        if not os.path.exists(path):
            sys.exit("%s is missing: cargo build --release --bins --example rdb_crate_walk" % path)
    ch_base, ch_proc, ch_data = (None, None, None) if args.no_clickhouse else start_clickhouse()
    table = Table()
    try:
        for name in args.datasets:
            rdb, mb, keys = bench_dataset(table, name, args.runs, ch_base)
            if name == args.pair:
                bench_pair(table, name, rdb, mb, keys, args.runs)
    finally:
        if ch_proc:
            ch_proc.kill()
            ch_proc.wait()
        if ch_data:
            shutil.rmtree(ch_data, ignore_errors=True)

    print()
    print("medians of %d runs, %d cores; CPU = user + system time of the process" % (args.runs, os.cpu_count()))
    print()
    table.print()
    print()
    for name in args.datasets:
        parse, parquet, report = (table.get(name, n) for n in (PARSE, PARQUET, REPORT))
        for ref in (CHECK, CRATE):
            r = table.get(name, ref)
            if r and name != "big":
                x = r[0] / parse[0]
                print("- %s: parse only %.2fx faster than %s (target 3x: %s)" % (name, x, ref, verdict(x >= 3)))
            elif r:
                print("- %s: parse only %.2fx faster than %s" % (name, r[0] / parse[0], ref))
        x = parquet[0] / parse[0]
        print("- %s: Parquet dump %.2fx the parse-only time (target 2.5x: %s)" % (name, x, verdict(x <= 2.5)))
        x = report[0] / parquet[0]
        if name != "big":
            print("- %s: report from Parquet %.1f%% of the dump time, peak RSS %.0f MiB"
                  % (name, 100 * x, report[2] / 2**20))
        else:
            print("- big: report from Parquet %.1f%% of the dump time (target 10%%: %s), peak RSS %.0f MiB "
                  "(target 256 MiB: %s)" % (100 * x, verdict(x <= 0.10), report[2] / 2**20,
                                            verdict(report[2] < 256 * 2**20)))
            print("- big: Parquet dump peak RSS %.0f MiB (target 128 MiB: %s)"
                  % (parquet[2] / 2**20, verdict(parquet[2] < 128 * 2**20)))
        if name == args.pair:
            two, one = table.get(name, PAIR2), table.get(name, PAIR1)
            x = two[0] / one[0]
            print("- %s: 2 instances at once take %.2fx the time of one after the other (target 0.6x: %s)"
                  % (name, x, verdict(x <= 0.6)))


if __name__ == "__main__":
    main()
