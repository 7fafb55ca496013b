#!/usr/bin/env python3
"""Soak: `rum collector` (Kafka sink, tansu on loopback, overflow spool) at ~70% of its measured
capacity for --duration seconds (default 30 minutes) with the realistic mix of beacon_mix.lua plus
5% hostile requests (malformed JSON, gzip bombs, oversize bodies, unknown keys, and slow bodies
from --slow-clients threads that trickle past collector.body_timeout).

Phases: (1) capacity: wrk as fast as it goes for --capacity-seconds, clean mix; (2) baseline: 60 s
at the target rate with the hostile share; (3) the soak itself at the same rate, sampling the
collector's RSS every --sample-every seconds; (4) drain: the load stops, the producer queue and
the spool empty. Then it reports RSS over time, p50/p99 of the baseline and of the soak (wrk's
latency distribution), and the ledger, and checks:

- RSS flat after warm-up: the largest sample of the last half is within 10% (and 16 MiB) of the
  largest sample of the first quarter after the first 10% of the run;
- the soak's p99 within 2x of the baseline's;
- every beacon accounted for: requests answered (wrk and the slow clients) = the collector's
  requests; 202s = accepted + dropped by policy; received = accepted + dropped at the edge and by
  policy; accepted + recovered = delivered + queued + spooled + lost in the sink (0 lost).

Exit status 1 if a check fails. --checks accounting checks only the last (short runs: CI).
Usage: benches/load/soak.py [--binary target/release/rum] [--duration 1800] [--storage sqlite://tansu.db]
       [--load 0.7] [--hostile 0.05] [--slow-clients 2] [--checks all|accounting]
"""
import argparse
import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kafka_pipeline as kp  # noqa: E402  (shared helpers: processes, metrics, waiting)

UA = kp.UA
CONFIG = """
[collector]
body_timeout = "2s"

[kafka]
# With a spool, the producer's memory queue need only cover the broker's round trips: a stall
# beyond it goes to disk, not to RSS (the default 100000 is ~120 MB of beacons).
queue_messages = 10000

[topics.beacons]
partitions = 4

[spool]
dir = "{spool}"
mode = "overflow"

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"""


def run_wrk(url, seconds, connections, env):
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                          os.path.join(HERE, "soak_mix.lua"), url],
                         capture_output=True, text=True, env=env, check=True).stdout
    statuses = {int(code): int(count) for code, count in re.findall(r"^STATUS (\d+) (\d+)$", out, re.M)}
    latency = kp.wrk_percentiles(out, ("50", "99"))
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    # A request answered early (413 on Content-Length) and closed while wrk still writes shows up
    # as a socket error, not a status: the server counted it, the client cannot.
    lost_answers = sum(int(n) for n in re.findall(r"(?:read|write|timeout) (\d+)", errors.group(1))) if errors else 0
    statuses[0] = statuses.get(0, 0) + lost_answers
    return statuses, latency, errors.group(1) if errors else "none", out


class SlowClients:
    """Threads that send a beacon's head, then its body a byte at a time past the body timeout."""

    def __init__(self, listen, threads, pace):
        host, port = listen.rsplit(":", 1)
        self.address, self.pace = (host, int(port)), pace
        self.statuses, self.lock = {}, threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self):
        body = b'{"v":1,"sid":"slow","pid":"slow","url":"https://shop.example.com/","events":[]}' * 3
        head = (f"POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                f"User-Agent: {UA}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        while not self.stopping.is_set():
            status = 0
            try:
                with socket.create_connection(self.address, timeout=10) as sock:
                    sock.sendall(head)
                    sock.settimeout(self.pace)
                    answer = b""
                    for byte in body:
                        try:
                            sock.sendall(bytes([byte]))
                        except OSError:
                            break
                        try:
                            answer += sock.recv(4096)
                        except socket.timeout:
                            continue
                        if b"\r\n" in answer:
                            break
                    sock.settimeout(10)
                    while b"\r\n" not in answer:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
                    match = re.match(rb"HTTP/1\.1 (\d+)", answer)
                    status = int(match.group(1)) if match else 0
            except OSError:
                status = 0
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join()
        return dict(self.statuses)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/rum")
    parser.add_argument("--tansu", default=os.environ.get("TANSU", os.path.expanduser("~/.cargo/bin/tansu")))
    parser.add_argument("--storage", default="sqlite://tansu.db",
                        help="tansu storage; memory:// keeps every record in RAM (unbounded over a long run)")
    parser.add_argument("--duration", type=int, default=1800)
    parser.add_argument("--baseline", type=int, default=60)
    parser.add_argument("--capacity-seconds", type=int, default=20)
    parser.add_argument("--load", type=float, default=0.7, help="share of the measured capacity")
    parser.add_argument("--delay-ms", type=int, default=10, help="pause per connection between requests")
    parser.add_argument("--hostile", type=float, default=0.05)
    parser.add_argument("--slow-clients", type=int, default=2)
    parser.add_argument("--sample-every", type=int, default=30)
    parser.add_argument("--checks", default="all", choices=["all", "accounting"])
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="rum-soak-")
    env = {**os.environ, "RUST_LOG": "warn,rum=info", "NO_COLOR": "1"}
    processes = []
    failures = []
    try:
        broker, brokers = kp.start_tansu(args.tansu, args.storage, work, env)
        processes.append(broker)
        config = os.path.join(work, "soak.toml")
        with open(config, "w") as out:
            out.write(CONFIG.format(spool=os.path.join(work, "spool")))
        kp.create_topics(binary, brokers, config)
        collector, listen, admin = kp.start_collector(binary, brokers, config, env)
        processes.append(collector)
        kp.wait("the collector's /readyz", lambda: "broker ready" in text(f"http://{admin}/readyz"), 60)
        bomb = os.path.join(work, "bomb.gz")
        with open(bomb, "wb") as out:
            out.write(gzip.compress(b"\0" * (16 << 20), 9))
        beacon_url = f"http://{listen}/rum/v1/beacon?key=demo"
        wrk_env = {**os.environ, "BEACON_MIX_LUA": os.path.join(HERE, "beacon_mix.lua"), "SOAK_BOMB_FILE": bomb}

        answered = {}
        before = kp.metric(kp.scrape(admin), "rum_sink_delivered_total")
        statuses, capacity_latency, _, _ = run_wrk(beacon_url, args.capacity_seconds, 32,
                                                   {**wrk_env, "SOAK_HOSTILE": "0"})
        delivered_rate = (kp.metric(kp.scrape(admin), "rum_sink_delivered_total") - before) / args.capacity_seconds
        add(answered, statuses)
        # Capacity is what reaches the broker: beyond it the producer queue and then the spool
        # absorb the difference, and a long run at that rate would only fill the spool.
        capacity = min(statuses.get(202, 0) / args.capacity_seconds, delivered_rate)
        target = capacity * args.load
        # wrk paces in whole milliseconds per connection: each connection waits `delay` before
        # each request, so the rate is connections / (delay + answer time).
        delay_ms = args.delay_ms
        connections = max(1, round(target * (delay_ms + capacity_latency["50"] / 2) / 1000))
        print(f"capacity {capacity:.0f} beacons/s delivered (clean mix, 32 connections; "
              f"{statuses.get(202, 0) / args.capacity_seconds:.0f}/s accepted); target {target:.0f}/s: "
              f"{connections} connections, {delay_ms} ms apart", flush=True)
        kp.wait("the capacity phase to drain", lambda: drained(admin), 300)

        paced = {**wrk_env, "SOAK_HOSTILE": str(args.hostile), "SOAK_DELAY_MS": str(delay_ms)}
        # One calibration run: scale the connections by how far the first guess fell short.
        calibration, _, _, _ = run_wrk(beacon_url, 10, connections, paced)
        add(answered, calibration)
        achieved = sum(count for code, count in calibration.items() if code) / 10
        connections = max(1, round(connections * target / max(achieved, 1)))
        phases = 3
        print(f"calibration: {achieved:.0f} requests/s; now {connections} connections", flush=True)
        slow = SlowClients(listen, args.slow_clients, pace=0.5)
        base_statuses, base_latency, base_errors, _ = run_wrk(beacon_url, args.baseline, connections, paced)
        add(answered, base_statuses)
        print(f"baseline {args.baseline} s: {sum(base_statuses.values()) / args.baseline:.0f} requests/s, "
              f"p50 {base_latency['50']:.2f} ms, p99 {base_latency['99']:.2f} ms, socket errors: {base_errors}",
              flush=True)

        samples = []
        sampling = threading.Event()

        def sample():
            started = time.time()
            while not sampling.wait(args.sample_every):
                samples.append((time.time() - started, collector.rss_kib() / 1024))
                metrics = kp.scrape(admin)
                print(f"  t={samples[-1][0]:6.0f} s  collector RSS {samples[-1][1]:7.1f} MiB  "
                      f"producer queue {kp.metric(metrics, 'rum_sink_queue_depth'):6.0f}  "
                      f"spool {kp.metric(metrics, 'rum_spool_records'):6.0f}", flush=True)

        sampler = threading.Thread(target=sample, daemon=True)
        samples.append((0.0, collector.rss_kib() / 1024))
        sampler.start()
        soak_statuses, soak_latency, soak_errors, _ = run_wrk(beacon_url, args.duration, connections, paced)
        sampling.set()
        sampler.join()
        samples.append((float(args.duration), collector.rss_kib() / 1024))
        add(answered, soak_statuses)
        add(answered, slow.stop())
        print(f"soak {args.duration} s: {sum(soak_statuses.values()) / args.duration:.0f} requests/s, "
              f"p50 {soak_latency['50']:.2f} ms, p99 {soak_latency['99']:.2f} ms, socket errors: {soak_errors}",
              flush=True)
        print("statuses answered (0: socket errors): "
              + ", ".join(f"{code}: {count}" for code, count in sorted(answered.items())))

        kp.wait("the producer queue and the spool to drain", lambda: drained(admin), 600)
        metrics = kp.scrape(admin)
        m = lambda name, labels="": kp.metric(metrics, name, labels)  # noqa: E731
        received = m("rum_collector_beacons_received_total")
        accepted = m("rum_collector_beacons_accepted_total")
        edge = m("rum_dropped_total", 'stage="edge"') - m("rum_dropped_total", 'stage="edge",reason="x"')
        policy = m("rum_dropped_total", 'stage="enrich"')
        sink_lost = m("rum_dropped_total", 'stage="sink"')
        delivered = m("rum_sink_delivered_total")
        queued = m("rum_sink_queue_depth")
        spooled = m("rum_spool_records")
        recovered = m("rum_spool_recovered_total")
        requests = m("rum_collector_requests_total")
        print("ledger (nonzero):")
        for line in metrics.splitlines():
            if line.startswith("rum_dropped_total{") and not line.endswith(" 0"):
                print("  " + line)
        print(f"received {received:.0f} = accepted {accepted:.0f} + edge {edge:.0f} + policy {policy:.0f}; "
              f"delivered {delivered:.0f}, queued {queued:.0f}, spooled {spooled:.0f}, lost in sink {sink_lost:.0f}")
        # wrk stops at its deadline without reading the answers in flight: up to one per
        # connection per run may be answered by the collector and never seen by the client.
        in_flight = 32 + phases * connections
        seen = sum(count for code, count in answered.items() if code)
        unseen = answered.get(0, 0)
        check(failures, seen <= requests <= seen + unseen + in_flight,
              f"requests the collector counted ({requests:.0f}) = answers the clients saw ({seen}) "
              f"+ at most the {unseen} answered early and cut off (socket errors)")
        ok = answered.get(202, 0) <= accepted + policy <= answered.get(202, 0) + in_flight
        check(failures, ok, f"202s seen by clients ({answered.get(202, 0)}) = accepted + dropped by policy "
              f"({accepted + policy:.0f}), up to the {in_flight} in flight when wrk stopped")
        check(failures, received == accepted + edge + policy, "received = accepted + edge + policy")
        check(failures, accepted + recovered == delivered + queued + spooled + sink_lost,
              "accepted + recovered = delivered + queued + spooled + lost")
        check(failures, sink_lost == 0, "nothing lost in the sink")
        check(failures, m("rum_dropped_total", 'reason="body_timeout"') > 0, "slow bodies were cut off (408)")
        if args.checks == "all":
            warm = [rss for t, rss in samples if 0.1 * args.duration <= t <= 0.35 * args.duration] or [samples[0][1]]
            late = [rss for t, rss in samples if t >= 0.5 * args.duration]
            limit = max(warm) * 1.10 + 16
            check(failures, max(late) <= limit,
                  f"RSS flat after warm-up: late max {max(late):.1f} MiB <= {limit:.1f} MiB (warm max {max(warm):.1f})")
            check(failures, soak_latency["99"] <= 2 * base_latency["99"],
                  f"soak p99 {soak_latency['99']:.2f} ms within 2x of the baseline's {base_latency['99']:.2f} ms")
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        sys.exit(1)
    print("all checks passed")


def text(url):
    try:
        import urllib.request
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception:  # noqa: BLE001  (not ready yet: any failure means "wait")
        return ""


def drained(admin):
    metrics = kp.scrape(admin)
    return kp.metric(metrics, "rum_sink_queue_depth") == 0 and kp.metric(metrics, "rum_spool_records") == 0


def add(total, statuses):
    for code, count in statuses.items():
        total[code] = total.get(code, 0) + count


def check(failures, ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


if __name__ == "__main__":
    main()
