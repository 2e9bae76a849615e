#!/usr/bin/env python3
"""Makes the bench RDB files with a real redis-server: deterministic (fixed seeds), one file per
dataset, written by the server's own SAVE.

  strings  about 300 MB: 3 million string keys (JSON-ish, counters, HTML-ish pages), 10% with TTL
  mixed    about 300 MB: hashes, lists, sets, sorted sets and streams in every encoding, strings
  big      about 1 GiB:  a 200 MiB string, a 5 million element list, a 2 million field hash,
           millions of small keys in two databases

usage: gen_datasets.py --dataset strings|mixed|big --out FILE [--server redis-server] [--cli redis-cli]
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NAMES = ["Ada", "Bo", "Chen", "Dmitri", "Eve", "Farah", "Gus", "Hiro", "Ines", "Jon", "Kemal", "Li"]
TOWNS = ["Accra", "Bergen", "Cusco", "Dakar", "Essen", "Fukuoka", "Graz", "Hanoi", "Izmir", "Jaipur"]
WORDS = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
         "labore et dolore magna aliqua cart order item price stock user page menu footer").split()
EXPIRE_BASE_MS = 4102444800000  # 2100-01-01: never expires during a bench


def resp(*args):
    """One command in RESP."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def profile(i, rng):
    n = NAMES[i % len(NAMES)]
    return ('{"id":%d,"name":"%s %d","mail":"%s%d@example.org","town":"%s","score":%.3f,"vip":%s}'
            % (i, n, i % 977, n.lower(), i, TOWNS[i % len(TOWNS)], rng.random() * 1e4,
               "true" if i % 7 == 0 else "false"))


def page(i, rng):
    words = " ".join(rng.choice(WORDS) for _ in range(15 + i % 40))
    return "<html><body><h1>item %d</h1><p>%s</p></body></html>" % (i, words)


def set_expiring(key, value, i, every):
    """SET of one key, with an expiry (PXAT, distinct per key) on every `every`-th one."""
    args = ["SET", key, value]
    if i % every == 0:
        args += ["PXAT", EXPIRE_BASE_MS + i]
    return resp(*args)


def strings(rng):
    yield resp("SELECT", 0)
    for i in range(1_800_000):
        yield set_expiring("user:%d:profile" % i, profile(i, rng), i, 10)
    for i in range(700_000):
        yield resp("SET", "counter:%d" % i, rng.randrange(-10**9, 10**12))
    for i in range(300_000):
        yield resp("SET", "cache:page:%d" % i, page(i, rng))
    yield resp("SELECT", 1)
    for i in range(200_000):
        yield set_expiring("session:%032x" % rng.getrandbits(128), "%048x" % rng.getrandbits(192), i, 1)


def mixed(rng):
    yield resp("SELECT", 0)
    fields = ["name", "mail", "town", "plan", "seen", "logins", "theme", "lang", "team", "note"]
    for i in range(300_000):
        args = ["HSET", "user:%d:attrs" % i]
        for j, f in enumerate(fields):
            args += [f, "%s-%d" % (f, (i * 31 + j) % 9973)]
        yield resp(*args)
    for i in range(300):
        args = ["HSET", "big:attrs:%d" % i]
        for j in range(800):
            args += ["field:%d" % j, "v%d" % (i * j)]
        yield resp(*args)
    for i in range(60_000):
        yield resp("RPUSH", "queue:%d" % i, *["job:%d:%d" % (i, j) for j in range(40 + i % 80)])
    for i in range(80_000):
        if i % 3 == 0:
            members = [rng.randrange(0, 10**6) for _ in range(30)]
        else:
            members = ["%s%d" % (rng.choice(WORDS), j) for j in range(30)]
        yield resp("SADD", "tags:%d" % i, *members)
    for i in range(200):
        yield resp("SADD", "tags:big:%d" % i, *["tag-%d" % j for j in range(1000)])
    for i in range(120_000):
        m = 200 if i % 200 == 0 else 5 + i % 60
        args = ["ZADD", "board:%d" % i]
        for j in range(m):
            args += ["%.2f" % (rng.random() * 1e5), "player:%d" % ((i * 7 + j) % 100003)]
        yield resp(*args)
    for i in range(8_000):
        key = "events:%d" % i
        for j in range(1, 61):
            yield resp("XADD", key, "%d-0" % (1700000000000 + j), "kind", rng.choice(["view", "buy"]), "n", j)
        if i % 8 == 0:
            yield resp("XGROUP", "CREATE", key, "g", "0")
            yield resp("XREADGROUP", "GROUP", "g", "c1", "COUNT", 10, "STREAMS", key, ">")
    for i in range(600_000):
        yield set_expiring("user:%d:profile" % i, profile(i, rng), i, 4)


def big(rng):
    yield resp("SELECT", 0)
    for i in range(3_000_000):
        yield resp("SET", "user:%d:profile" % i, profile(i, rng))
    for i in range(1_000_000):
        yield resp("SET", "counter:%d" % i, rng.randrange(-10**6, 10**12))
    for i in range(900_000):
        yield set_expiring("cache:page:%d" % i, page(i, rng), i, 5)
    for i in range(150_000):
        args = ["HSET", "user:%d:attrs" % i]
        for j in range(16):
            args += ["f%d" % j, "value-%d" % ((i * 17 + j) % 991)]
        yield resp(*args)
    for i in range(0, 2_000_000, 1000):
        yield resp("HSET", "big:hash", *[x for k in range(i, i + 1000) for x in ("field:%d" % k, "v%d" % (k * 7))])
    for i in range(0, 5_000_000, 2000):
        yield resp("RPUSH", "big:list", *["item-%d" % k for k in range(i, i + 2000)])
    blob = random.Random(7).randbytes(200 << 20)
    yield resp("SET", "big:string", blob)
    yield resp("SELECT", 1)
    for i in range(1_000_000):
        yield set_expiring("session:%032x" % rng.getrandbits(128), "%048x" % rng.getrandbits(192), i, 1)


DATASETS = {"strings": strings, "mixed": mixed, "big": big}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--server", default=shutil.which("redis-server"))
    ap.add_argument("--cli", default=shutil.which("redis-cli"))
    args = ap.parse_args()
    if not args.server or not args.cli:
        sys.exit("redis-server and redis-cli are needed (apt-get install redis-server redis-tools)")
    work = tempfile.mkdtemp(prefix="rdbinsight-gen-")
    port = free_port()
    server = subprocess.Popen([args.server, "--port", str(port), "--bind", "127.0.0.1", "--dir", work,
                               "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = [args.cli, "-h", "127.0.0.1", "-p", str(port)]
    try:
        for _ in range(100):
            if subprocess.run(cli + ["PING"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.1)
        else:
            sys.exit("redis-server did not start on port %d" % port)
        pipe = subprocess.Popen(cli + ["--pipe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        rng = random.Random(20261127)
        chunk = []
        for cmd in DATASETS[args.dataset](rng):
            chunk.append(cmd)
            if len(chunk) >= 2000:
                pipe.stdin.write(b"".join(chunk))
                chunk = []
        pipe.stdin.write(b"".join(chunk))
        pipe.stdin.close()
        if pipe.wait() != 0:
            sys.exit("redis-cli --pipe failed")
        subprocess.run(cli + ["SAVE"], check=True, stdout=subprocess.DEVNULL)
        tmp = args.out + ".part"
        shutil.copyfile(os.path.join(work, "dump.rdb"), tmp)
        os.replace(tmp, args.out)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
