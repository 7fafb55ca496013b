#!/usr/bin/env python3
"""RSS of `rum standalone` under a flood of distinct page views: what the dedupe table costs.

Starts the binary (default target/release/rum) on OS-chosen loopback ports with the dedupe capacity
given (RUM_AGGREGATOR__DEDUPE_CAPACITY; state saving off), samples its VmRSS from /proc, posts
`--page-views` native beacons of five vitals each (LCP, INP, CLS, FCP, TTFB with ids, as the
criterion fixture), every one a new page view (16 sessions, one route, so the rest of the process
does not grow with them), over keep-alive connections with pipelined requests, waits for the
aggregator to catch up (rum_aggregator_dedupe_entries stops moving), then stops the binary. Prints
one line: capacity, entries held, RSS at start, after the flood, and the peak.

Run it twice, with a small and with the full capacity, interleaved with the other binary: the RSS
difference over the entry difference is the bytes per remembered page view, whatever else the
process holds. Bounded: gives up after --timeout seconds.

Usage: benches/load/dedupe_memory.py [--binary PATH] [--capacity 200000] [--page-views 300000]
"""
import argparse
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

LINE = re.compile(r"listen=(\S+) admin=(\S+)")
ENTRIES = re.compile(r"^rum_aggregator_dedupe_entries (\S+)$", re.M)
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
BATCH = 200


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def dedupe_entries(admin):
    text = urllib.request.urlopen(f"http://{admin}/metrics", timeout=5).read().decode()
    match = ENTRIES.search(text)
    return int(float(match.group(1))) if match else 0


def request(host, run, index, now_ms):
    jitter = index * 7919 % 1000
    vitals = [("LCP", 1200 + jitter * 3), ("INP", 80 + jitter / 4), ("CLS", jitter / 10000),
              ("FCP", 700 + jitter), ("TTFB", 150 + jitter / 2)]
    body = json.dumps({
        "v": 1, "sid": f"flood-{index % 16}", "pid": f"{run}-{index}",
        "url": "https://shop.example.com/products/42", "nav": "navigate", "sent": now_ms,
        "events": [{"type": "vital", "name": name, "value": value, "id": f"v5-{run}-{index}-{name}"}
                   for name, value in vitals]}, separators=(",", ":")).encode()
    head = (f"POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: text/plain\r\nOrigin: https://shop.example.com\r\nUser-Agent: {UA}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def read_responses(connection, count, buffer):
    """Reads `count` responses; returns (statuses that were not 202, leftover bytes)."""
    refused = 0
    while count:
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            chunk = connection.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            buffer += chunk
            continue
        head = buffer[:end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        while len(buffer) < end + 4 + length:
            buffer += connection.recv(65536)
        if not head.startswith("HTTP/1.1 202"):
            refused += 1
        buffer = buffer[end + 4 + length:]
        count -= 1
    return refused, buffer


def flood(listen, run, start, stop, deadline):
    host, port = listen.rsplit(":", 1)
    connection = socket.create_connection((host, int(port)))
    now_ms = int(time.time() * 1000)
    refused, buffer = 0, b""
    for first in range(start, stop, BATCH):
        if time.time() > deadline:
            raise SystemExit("flood did not finish in time")
        last = min(first + BATCH, stop)
        connection.sendall(b"".join(request(listen, run, index, now_ms) for index in range(first, last)))
        batch_refused, buffer = read_responses(connection, last - first, buffer)
        refused += batch_refused
    connection.close()
    return refused


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/rum")
    parser.add_argument("--capacity", type=int, default=200_000)
    parser.add_argument("--page-views", type=int, default=300_000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    deadline = time.time() + args.timeout
    env = {**os.environ, "RUM_AGGREGATOR__STATE_DIR": "",
           "RUM_AGGREGATOR__DEDUPE_CAPACITY": str(args.capacity)}
    process = subprocess.Popen(
        [args.binary, "standalone", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
        env=env, stderr=subprocess.PIPE, text=True)
    try:
        listen = admin = None
        while time.time() < deadline and admin is None:
            match = LINE.search(process.stderr.readline())
            if match:
                listen, admin = match.group(1), match.group(2)
        if admin is None:
            raise SystemExit("rum did not start")
        time.sleep(2)
        start_kib = rss_kib(process.pid)
        run = f"r{os.getpid()}"
        share = -(-args.page_views // args.connections)
        ranges = [(listen, run, low, min(low + share, args.page_views), deadline)
                  for low in range(0, args.page_views, share)]
        peak_kib = start_kib
        with multiprocessing.Pool(len(ranges)) as pool:
            pending = pool.starmap_async(flood, ranges)
            while not pending.ready():
                peak_kib = max(peak_kib, rss_kib(process.pid))
                pending.wait(0.2)
            refused = sum(pending.get())
        # Stage 1 works through the queue after the last 202; wait until the table stops moving.
        entries, previous = dedupe_entries(admin), -1
        while entries != previous and time.time() < deadline:
            time.sleep(2)
            peak_kib = max(peak_kib, rss_kib(process.pid))
            previous, entries = entries, dedupe_entries(admin)
        end_kib = rss_kib(process.pid)
        peak_kib = max(peak_kib, end_kib)
        print(f"{args.binary}: capacity {args.capacity}, {args.page_views} page views "
              f"({refused} refused), {entries} entries held: RSS {start_kib / 1024:.1f} MiB at start, "
              f"{end_kib / 1024:.1f} MiB after, peak {peak_kib / 1024:.1f} MiB")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
