#!/usr/bin/env python3
"""Time from a beacon's 202 to its effect on /metrics, through `rum standalone` on loopback.

Starts the binary (default target/release/rum) with OS-chosen ports, then N times: posts one beacon
with a new page view, polls /metrics every 10 ms until rum_page_views_total{view="site"} moves, and
records the delay. Sleeps a random 0-1.5 s between samples so they do not lock onto the flush tick.
Prints p50/p95/max. Usage: benches/load/metrics_latency.py [--binary PATH] [--samples 40]
"""
import argparse
import json
import random
import re
import os
import statistics
import subprocess
import time
import urllib.request

LINE = re.compile(r"listen=(\S+) admin=(\S+)")
PAGE_VIEWS = re.compile(r'^rum_page_views_total\{view="site",site="demo"\} (\d+)$', re.M)


def page_views(admin):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    match = PAGE_VIEWS.search(text)
    return int(match.group(1)) if match else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/rum")
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    process = subprocess.Popen(
        [args.binary, "standalone", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
        # Start empty and save nothing (without a config, standalone keeps ./rum-state).
        env={**os.environ, "RUM_AGGREGATOR__STATE_DIR": ""},
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        listen = admin = None
        while time.time() < deadline and admin is None:
            match = LINE.search(process.stderr.readline())
            if match:
                listen, admin = match.group(1), match.group(2)
        if admin is None:
            raise SystemExit("rum did not start")
        delays = []
        for index in range(args.samples):
            time.sleep(random.uniform(0, 1.5))
            before = page_views(admin)
            body = json.dumps({
                "v": 1, "sid": "latency", "pid": f"latency-{index}", "url": "https://example.com/", "nav": "navigate",
                "sent": int(time.time() * 1000),
                "events": [{"type": "vital", "name": "LCP", "value": 1234, "id": "l"}]}).encode()
            request = urllib.request.Request(f"http://{listen}/rum/v1/beacon?key=demo", data=body,
                                             headers={"Content-Type": "text/plain",
                                                      # A browser UA: the collector drops bots.
                                                      "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"})
            assert urllib.request.urlopen(request, timeout=5).status == 202
            accepted = time.perf_counter()
            while page_views(admin) <= before:
                if time.perf_counter() - accepted > 10:
                    raise SystemExit("beacon not visible within 10 s")
                time.sleep(0.01)
            delays.append(time.perf_counter() - accepted)
        delays.sort()
        p95 = delays[min(len(delays) - 1, int(0.95 * len(delays)))]
        print(f"beacon -> /metrics over {len(delays)} samples: p50 {statistics.median(delays)*1000:.0f} ms, "
              f"p95 {p95*1000:.0f} ms, max {delays[-1]*1000:.0f} ms")
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    main()
