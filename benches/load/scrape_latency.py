#!/usr/bin/env python3
"""What a /metrics scrape (or the built-in view's refresh) costs `rum standalone` with many
segments, and what it does to beacons.

For each segment count N (default 2000 and 20000): starts the binary with views (site) and
(site, route) and bounds raised so N routes fit, sends one beacon per route (N segments of the
site_route view, each with the five vitals and navigation timing), waits until stage 2 holds them,
then measures
  - scrape time: SCRAPES sequential GET /metrics (wall time and body size);
  - beacon latency without scrapes: wrk with benches/load/beacon_mix.lua for DURATION seconds;
  - beacon latency with scrapes: the same wrk run while another thread scrapes back to back;
and prints one table. Compare two binaries in one session (`--binary A --binary B`, run
interleaved): this VM's clock drifts, so only same-session figures compare. With `--reader view`
the reader does what one refresh of the built-in view (the admin listener's `/`) asks for instead
of a scrape: /api/v1/sites, /api/v1/summary, /api/v1/breakdown (site_route, LCP) and
/api/v1/errors.

Usage: benches/load/scrape_latency.py [--binary PATH ...] [--segments 2000 20000]
       [--duration 10] [--scrapes 5] [--connections 8] [--worker-threads 2]
       [--reader metrics|view]
Needs wrk (scripts/install-test-deps installs it). Loopback only; every process it starts is
stopped before it exits.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LINE = re.compile(r"listen=(\S+) admin=(\S+)")
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def route_name(index):
    """A route slug of letters only, so route templating keeps it as it is."""
    letters = []
    for _ in range(4):
        letters.append(chr(ord("a") + index % 26))
        index //= 26
    return "r-" + "".join(letters)


def config(segments):
    return f"""
[aggregator]
top_n = {segments + 100}
site_segment_budget = {segments + 1000}

[[aggregator.views]]
name = "site"
dimensions = ["site"]
navigation = true

[[aggregator.views]]
name = "site_route"
dimensions = ["site", "route"]
navigation = true

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"""


def start(binary, segments, worker_threads):
    path = tempfile.mktemp(suffix=".toml")
    with open(path, "w") as file:
        file.write(config(segments))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RUM_")}
    environment["RUM_COLLECTOR__WORKER_THREADS"] = str(worker_threads)
    environment["RUST_LOG"] = "info"
    process = subprocess.Popen(
        [binary, "standalone", "--config", path, "--listen", "127.0.0.1:0",
         "--admin-listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True, env=environment)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stderr.readline()
        match = LINE.search(line)
        if match:
            threading.Thread(target=lambda: process.stderr.read(), daemon=True).start()
            return process, match.group(1), match.group(2)
        if process.poll() is not None:
            break
    process.kill()
    sys.exit(f"{binary} did not start")


def populate(public, segments):
    with open(os.path.join(ROOT, "crates/rum-schema/fixtures/beacon_full.json")) as file:
        template = json.load(file)
    host, port = public.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    for index in range(segments):
        template["pid"] = f"populate-{index}"
        template["url"] = f"https://shop.example.com/{route_name(index)}"
        template["sent"] = int(time.time() * 1000)
        body = json.dumps(template).encode()
        connection.request("POST", "/rum/v1/beacon?key=demo", body=body, headers={
            "Content-Type": "text/plain;charset=UTF-8", "User-Agent": CHROME})
        response = connection.getresponse()
        response.read()
        if response.status != 202:
            sys.exit(f"populate: status {response.status}")
    connection.close()


def metric(admin, name):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=120).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


VIEW_REQUESTS = [
    "/api/v1/sites",
    "/api/v1/summary?site=demo&window=5m",
    "/api/v1/breakdown?site=demo&view=site_route&metric=lcp&window=5m&limit=50",
    "/api/v1/errors?site=demo&limit=10",
]


def scrape(admin, reader="metrics"):
    """One read: a /metrics scrape, or one refresh of the view (its requests in a row)."""
    paths = ["/metrics"] if reader == "metrics" else VIEW_REQUESTS
    started = time.perf_counter()
    size = 0
    for path in paths:
        size += len(urllib.request.urlopen(f"http://{admin}{path}", timeout=120).read())
    return time.perf_counter() - started, size


def wrk(public, duration, connections):
    # wrk counts a request slower than its timeout (2 s by default) as an error and leaves it out of
    # the latency figures: a long timeout keeps a stall in them.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "60s",
               "-s", os.path.join(HERE, "beacon_mix.lua"),
               f"http://{public}/rum/v1/beacon?key=demo"]
    environment = dict(os.environ, BEACON_TRACK_STATUS="0")
    output = subprocess.run(command, capture_output=True, text=True, env=environment).stdout
    percentiles = {}
    for label in ("50%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match:
            value = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
            percentiles[label] = value
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    # wrk's thread line: "Latency  avg  stdev  max  +/- stdev"; max shows a stall that p99 hides
    # (during a stall only the connections' few requests wait, so they are a tiny share).
    worst = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\b", output, re.M)
    maximum = None
    if worst:
        maximum = float(worst.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[worst.group(2)]
    return (percentiles.get("50%"), percentiles.get("99%"), float(rps.group(1)) if rps else None,
            maximum)


def measure(binary, segments, args):
    process, public, admin = start(binary, segments, args.worker_threads)
    try:
        populate(public, segments)
        deadline = time.time() + 120
        while metric(admin, "rum_aggregator_segments") < segments and time.time() < deadline:
            time.sleep(1)
        held = metric(admin, "rum_aggregator_segments")
        scrapes = [scrape(admin, args.reader) for _ in range(args.scrapes)]
        quiet = wrk(public, args.duration, args.connections)
        stop = threading.Event()
        during = []

        def scraper():
            while not stop.is_set():
                during.append(scrape(admin, args.reader)[0])
                time.sleep(0.2)

        thread = threading.Thread(target=scraper)
        thread.start()
        loaded = wrk(public, args.duration, args.connections)
        stop.set()
        thread.join()
        return {
            "segments": int(held),
            "scrape_ms": statistics.median(s[0] for s in scrapes) * 1000,
            "scrape_max_ms": max(s[0] for s in scrapes) * 1000,
            "scrape_mb": scrapes[0][1] / 1e6,
            "scrapes_under_load": len(during),
            "scrape_under_load_ms": statistics.median(during) * 1000 if during else None,
            "p50_quiet": quiet[0], "p99_quiet": quiet[1], "rps_quiet": quiet[2],
            "p50_scraped": loaded[0], "p99_scraped": loaded[1], "rps_scraped": loaded[2],
            "max_quiet": quiet[3], "max_scraped": loaded[3],
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", action="append")
    parser.add_argument("--segments", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--worker-threads", type=int, default=2)
    parser.add_argument("--reader", choices=["metrics", "view"], default="metrics")
    args = parser.parse_args()
    binaries = args.binary or [os.path.join(ROOT, "target/release/rum")]
    rows = []
    for segments in args.segments:
        for binary in binaries:
            row = measure(binary, segments, args)
            row["binary"] = binary
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"reader: {args.reader}")
    print("| binary | segments | scrape (median, max) | body | scrape under load | beacons p50 / p99 / max quiet "
          "| p50 / p99 / max while scraped | req/s quiet / scraped |")
    print("|---|---|---|---|---|---|---|---|")
    fmt = lambda value: "-" if value is None else f"{value:.2f}"
    for row in rows:
        print(f"| {os.path.basename(row['binary'])} | {row['segments']} | {row['scrape_ms']:.0f} ms, "
              f"{row['scrape_max_ms']:.0f} ms | {row['scrape_mb']:.1f} MB | "
              f"{fmt(row['scrape_under_load_ms'])} ms x{row['scrapes_under_load']} | "
              f"{fmt(row['p50_quiet'])} / {fmt(row['p99_quiet'])} / {fmt(row['max_quiet'])} ms | "
              f"{fmt(row['p50_scraped'])} / {fmt(row['p99_scraped'])} / {fmt(row['max_scraped'])} ms | "
              f"{fmt(row['rps_quiet'])} / {fmt(row['rps_scraped'])} |")


if __name__ == "__main__":
    main()
