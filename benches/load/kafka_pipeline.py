#!/usr/bin/env python3
"""Collector -> Kafka -> `rum aggregator` against `rum standalone`, on loopback, in one run.

Starts tansu 0.6.0 (file storage) on a free port, creates the topics with `rum topics create`, then
one collector and one aggregator worker (both stages) with the default aggregator settings (1 s
ticks, 30 s snapshots, 10 s session timeout). Measures, in order:

1. throughput: wrk with benches/load/beacon_mix.lua against the collector for --duration; the
   pipeline's rate is the beacons stage 1 read over the time from the first request to the moment
   stage 1 had read every delivered beacon. Then the same wrk against `rum standalone`, whose
   aggregator reads the in-process channel (its rate: beacons read over the same span).
2. memory and sizes: the worker's RSS and live segments after the throughput phase against an idle
   worker's, the same for standalone; the last stage-2 snapshot's bytes per segment; partial bytes
   per partial (one segment and minute within one chunk).
3. latency: --samples times, a beacon with a new page view, then /metrics of the worker polled
   every 20 ms until rum_page_views_total{view="site"} moves; with a background sender at
   --background-rate beacons/s. Prints p50/p95/p99/max.
4. recovery: the worker SIGKILLed under the background load and started again; the time until its
   /readyz is 200, and until its page views include every beacon sent before the kill.

Everything is stopped at the end; the run is bounded by its phases (about 3-4 minutes by default).
Usage: benches/load/kafka_pipeline.py [--binary target/release/rum] [--duration 20]
       [--samples 30] [--background-rate 200] [--partitions 4] [--warm 10]
       [--phases throughput,latency,recovery] [--storage sqlite://tansu.db] [--logs DIR]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose stderr is drained on a thread (kept for the address line and errors)."""

    def __init__(self, args, cwd=None, env=None, wait_for=None):
        self.args = args
        self.lines = []
        self.process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.found = threading.Event()
        self.match = None
        self.wait_for = re.compile(wait_for) if wait_for else None
        threading.Thread(target=self._drain, daemon=True).start()
        if self.wait_for:
            if not self.found.wait(60):
                self.stop()
                raise SystemExit(f"{args[0]} {args[1]} did not start:\n" + "\n".join(self.lines[-20:]))

    def _drain(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            if self.wait_for and not self.found.is_set():
                match = self.wait_for.search(line)
                if match:
                    self.match = match
                    self.found.set()

    def rss_kib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def scrape(admin):
    return urllib.request.urlopen(f"http://{admin}/metrics", timeout=30).read().decode()


def metric(text, name, labels=""):
    """The sum of every sample of `name` whose labels contain `labels` (a substring)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            rest = head[len(name):]
            if rest and rest[0] not in "{ ":
                continue
            if labels in rest:
                total += float(value)
    return total


def status(url):
    try:
        return urllib.request.urlopen(url, timeout=5).status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def post_beacon(listen, page_view, session="bench"):
    body = json.dumps({
        "v": 1, "sid": session, "pid": page_view, "url": "https://shop.example.com/latency", "nav": "navigate",
        "sent": int(time.time() * 1000),
        "events": [{"type": "vital", "name": "LCP", "value": random.randint(500, 4000), "id": "l"}]}).encode()
    request = urllib.request.Request(f"http://{listen}/rum/v1/beacon?key=demo", data=body,
                                     headers={"Content-Type": "text/plain", "User-Agent": UA,
                                              "Origin": "https://shop.example.com"})
    return urllib.request.urlopen(request, timeout=5).status


class Background:
    """Sends one-vital beacons with new page views at a fixed rate until stopped."""

    def __init__(self, listen, rate):
        self.listen, self.rate, self.sent = listen, rate, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        interval = 1.0 / self.rate
        next_at = time.perf_counter()
        while not self.stopping.is_set():
            try:
                if post_beacon(self.listen, f"bg-{self.sent}-{random.getrandbits(32)}", "background") == 202:
                    self.sent += 1
            except OSError:
                pass
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)

    def stop(self):
        self.stopping.set()
        self.thread.join()


def wrk_output(url, duration):
    """wrk -t1 -c32 with the beacon mix; its whole output."""
    return subprocess.run(["wrk", "-t1", "-c32", f"-d{duration}s", "--latency", "-s",
                           os.path.join(HERE, "beacon_mix.lua"), url],
                          capture_output=True, text=True, env={**os.environ, "BEACON_TRACK_STATUS": "0"},
                          check=True).stdout


def wrk_counts(out):
    """(requests, non-2xx answers) of wrk's output."""
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return requests, int(non2xx.group(1)) if non2xx else 0


def wrk(url, duration):
    return wrk_counts(wrk_output(url, duration))


def start_collector(binary, brokers, config, env):
    """`rum collector` on free loopback ports; returns (process, listen, admin)."""
    process = Process([binary, "collector", "--brokers", brokers, "--config", config,
                       "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                      env=env, wait_for=r"listen=(\S+) admin=(\S+)")
    return process, process.match.group(1), process.match.group(2)


def create_topics(binary, brokers, config):
    wait("rum topics create", lambda: subprocess.run(
        [binary, "topics", "create", "--brokers", brokers, "--config", config],
        capture_output=True).returncode == 0, 120)


def wrk_percentiles(out, names=("50", "90", "99")):
    """The latency percentiles of `wrk --latency` output, in milliseconds."""
    latency = {}
    for name in names:
        match = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        latency[name] = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return latency


def start_tansu(tansu, storage, work, env):
    """tansu on a free loopback port, once its port answers; returns (process, "127.0.0.1:PORT")."""
    port = free_port()
    brokers = f"127.0.0.1:{port}"
    url = f"tcp://{brokers}"
    process = Process([tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                       "--storage-engine", storage], cwd=work, env=env)
    wait("the broker's port", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 60)
    return process, brokers


def wait(what, condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


CONFIG = """
[sink]
kind = "{sink}"

[topics.beacons]
partitions = {partitions}

[topics.partials]
partitions = {partitions}

[aggregator]
start_from = "earliest"

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"""


class Pipeline:
    """tansu, one collector and one aggregator worker (both stages), on loopback."""

    def __init__(self, args, work, env):
        self.args, self.work, self.env, self.processes = args, work, env, []

    def start(self):
        args, work = self.args, self.work
        self.config = os.path.join(work, "kafka.toml")
        with open(self.config, "w") as out:
            out.write(CONFIG.format(sink="kafka", partitions=args.partitions))
        broker, self.brokers = start_tansu(args.tansu, args.storage, work, self.env)
        self.processes.append(broker)
        wait("rum topics create", lambda: subprocess.run(
            [args.binary, "topics", "create", "--brokers", self.brokers, "--config", self.config],
            capture_output=True).returncode == 0, 120)
        collector = self.spawn([args.binary, "collector", "--brokers", self.brokers, "--config", self.config,
                                "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                               wait_for=r"listen=(\S+) admin=(\S+)")
        self.listen, self.collector_admin = collector.match.group(1), collector.match.group(2)
        wait("the collector's /readyz", lambda: status(f"http://{self.collector_admin}/readyz") == 200, 60)
        self.start_worker()

    def spawn(self, command, cwd=None, wait_for=None):
        process = Process(command, cwd=cwd, env=self.env, wait_for=wait_for)
        self.processes.append(process)
        return process

    def start_worker(self):
        self.worker = self.spawn([self.args.binary, "aggregator", "--brokers", self.brokers, "--config",
                                  self.config, "--listen-admin", "127.0.0.1:0"], wait_for=r"admin=(\S+)")
        self.admin = self.worker.match.group(1)

    def page_views(self):
        return metric(scrape(self.admin), "rum_page_views_total", 'view="site",site="demo"')


def throughput(args, pipeline, work, env):
    """wrk through Kafka, then the same wrk into `rum standalone`; memory and sizes of both."""
    wait("the worker's /readyz", lambda: status(f"http://{pipeline.admin}/readyz") == 200, 120)
    time.sleep(3)
    idle_rss = pipeline.worker.rss_kib()
    began = time.time()
    requests, non2xx = wrk(f"http://{pipeline.listen}/rum/v1/beacon?key=demo", args.duration)
    sent_for = time.time() - began
    accepted = metric(scrape(pipeline.collector_admin), "rum_collector_beacons_accepted_total")
    delivered = wait("the collector's deliveries", lambda: (
        lambda text: metric(text, "rum_sink_queue_depth") == 0 and metric(text, "rum_sink_delivered_total"))(
        scrape(pipeline.collector_admin)), 300)
    delivered_after = time.time() - began
    wait("stage 1 to read every delivered beacon",
         lambda: metric(scrape(pipeline.admin), "rum_aggregator_beacons_total") >= delivered, 600)
    span = time.time() - began
    # Stage 2 has the state once its lag is 0 (the gauges refresh every 5 s).
    time.sleep(6)
    wait("stage 2 to catch up", lambda: metric(scrape(pipeline.admin), "rum_aggregator_consumer_lag",
                                                'stage="stage2"') == 0, 120)
    time.sleep(6)
    text = scrape(pipeline.admin)
    segments = metric(text, "rum_aggregator_segments")
    state_bytes = metric(text, "rum_aggregator_window_memory_bytes")
    busy_rss = pipeline.worker.rss_kib()
    partials = metric(text, "rum_aggregator_partials_total")
    partial_bytes = metric(text, "rum_aggregator_partial_bytes_total")
    committed = metric(text, "rum_aggregator_snapshots_total", 'stage="stage2",outcome="committed"')
    # The next stage-2 snapshot of every partition (each every 30 s) covers the loaded state; its
    # size summed over partitions.
    wait("a stage-2 snapshot of the loaded state in every partition", lambda: metric(
        scrape(pipeline.admin), "rum_aggregator_snapshots_total", 'stage="stage2",outcome="committed"')
        >= committed + args.partitions, 120)
    snapshot = metric(scrape(pipeline.admin), "rum_aggregator_snapshot_bytes", 'stage="stage2"')
    stage1_snapshot = metric(scrape(pipeline.admin), "rum_aggregator_snapshot_bytes", 'stage="stage1"')

    config = os.path.join(work, "standalone.toml")
    with open(config, "w") as out:
        out.write(CONFIG.format(sink="channel", partitions=args.partitions))
    standalone = Process([args.binary, "standalone", "--config", config, "--listen", "127.0.0.1:0",
                          "--admin-listen", "127.0.0.1:0"], env=env, wait_for=r"listen=(\S+) admin=(\S+)")
    try:
        s_listen, s_admin = standalone.match.group(1), standalone.match.group(2)
        time.sleep(3)
        s_idle_rss = standalone.rss_kib()
        s_began = time.time()
        s_requests, s_non2xx = wrk(f"http://{s_listen}/rum/v1/beacon?key=demo", args.duration)
        s_accepted = metric(scrape(s_admin), "rum_collector_beacons_accepted_total")
        s_delivered = metric(scrape(s_admin), "rum_sink_delivered_total")
        wait("standalone's stage 1",
             lambda: metric(scrape(s_admin), "rum_aggregator_beacons_total") >= s_delivered, 120)
        s_span = time.time() - s_began
        time.sleep(3)
        s_text = scrape(s_admin)
        s_segments = metric(s_text, "rum_aggregator_segments")
        s_state_bytes = metric(s_text, "rum_aggregator_window_memory_bytes")
        s_busy_rss = standalone.rss_kib()
    finally:
        standalone.stop()

    print(f"partitions={args.partitions} duration={args.duration}s cores={os.cpu_count()}")
    print("path                   requests  accepted  sent_rps  aggregated_per_s  span_s  segments"
          "  idle_RSS  busy_RSS  RSS_KiB/seg  state_B/seg")
    for name, req, ok, span_s, segs, idle, busy, state in (
            ("collector->kafka->agg", requests, accepted, span, segments, idle_rss, busy_rss, state_bytes),
            ("standalone", s_requests, s_accepted, s_span, s_segments, s_idle_rss, s_busy_rss, s_state_bytes)):
        print(f"{name:<22}{req:>9}{ok:>10.0f}{req / args.duration:>10.0f}{ok / span_s:>18.0f}{span_s:>8.1f}"
              f"{segs:>10.0f}{idle / 1024:>7.1f}MiB{busy / 1024:>7.1f}MiB"
              f"{(busy - idle) / max(segs, 1):>13.1f}{state / max(segs, 1):>13.0f}")
    print(f"kafka: {non2xx} of {requests} answered non-2xx (503: producer queue full); wrk ran {sent_for:.1f}s, "
          f"the collector had delivered everything {delivered_after:.1f}s after the start, stage 1 had read it "
          f"{span:.1f}s after; standalone non-2xx {s_non2xx}")
    print(f"stage-2 snapshot: {snapshot:.0f} bytes for {segments:.0f} segments = "
          f"{snapshot / max(segments, 1):.0f} bytes/segment; stage-1 snapshots (dedupe tables) {stage1_snapshot:.0f} bytes")
    print(f"partials: {partials:.0f} produced, {partial_bytes:.0f} bytes = "
          f"{partial_bytes / max(partials, 1):.0f} bytes/partial (one segment and minute within one chunk)")


def latency(args, pipeline):
    """A beacon with a new page view, until the worker's /metrics counts it, under background load."""
    wait("the worker's /readyz", lambda: status(f"http://{pipeline.admin}/readyz") == 200, 300)
    background = Background(pipeline.listen, args.background_rate)
    delays = []
    try:
        for index in range(args.samples):
            time.sleep(random.uniform(0, 1.5))
            before = pipeline.page_views()
            assert post_beacon(pipeline.listen, f"latency-{index}-{random.getrandbits(32)}") == 202
            accepted = time.perf_counter()
            while pipeline.page_views() <= before:
                if time.perf_counter() - accepted > 30:
                    raise SystemExit("a beacon did not show within 30 s")
                time.sleep(0.02)
            delays.append(time.perf_counter() - accepted)
    finally:
        background.stop()
    print(f"receipt -> /metrics through kafka ({len(delays)} samples, background {args.background_rate}/s): "
          f"p50 {statistics.median(delays):.2f}s p95 {percentile(delays, 0.95):.2f}s "
          f"p99 {percentile(delays, 0.99):.2f}s max {max(delays):.2f}s")


def recovery(args, pipeline):
    """SIGKILL the worker under background load, start another: time to ready and to caught up."""
    wait("the worker's /readyz", lambda: status(f"http://{pipeline.admin}/readyz") == 200, 300)
    background = Background(pipeline.listen, args.background_rate)
    try:
        time.sleep(args.warm)
        before = pipeline.page_views()
        pipeline.worker.kill()
        killed = time.perf_counter()
        pipeline.start_worker()
        started = time.perf_counter() - killed
        wait("the restarted worker's /readyz", lambda: status(f"http://{pipeline.admin}/readyz") == 200, 600)
        ready = time.perf_counter() - killed
        # What the killed worker exported just before the kill must be back: its last snapshot plus
        # the partials (and beacons) after it, replayed.
        wait("the restarted worker to show every page view exported before the kill",
             lambda: pipeline.page_views() >= before, 600)
        caught_up = time.perf_counter() - killed
        text = scrape(pipeline.admin)
        rejoins = metric(text, "rum_aggregator_orphan_rejoins_total")
    finally:
        background.stop()
    print(f"recovery after SIGKILL ({args.warm}s after the last phase, background {args.background_rate}/s): "
          f"new process up {started:.1f}s, /readyz 200 after {ready:.1f}s, every page view exported "
          f"before the kill back after {caught_up:.1f}s (orphan rejoins in the new worker: {rejoins:.0f})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/rum")
    parser.add_argument("--tansu", default=os.environ.get("TANSU", os.path.expanduser("~/.cargo/bin/tansu")))
    parser.add_argument("--storage", default="sqlite://tansu.db",
                        help="tansu storage engine; memory://tansu/ is faster, but in 0.6.0 a restarted "
                             "consumer can skip records with it, so keep sqlite for the recovery phase")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--background-rate", type=int, default=200)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--warm", type=int, default=10, help="seconds of background load before the kill")
    parser.add_argument("--phases", default="throughput,latency,recovery",
                        help="comma-separated subset of throughput, latency, recovery")
    parser.add_argument("--logs", help="directory to write every process's log to at the end")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    phases = args.phases.split(",")
    work = tempfile.mkdtemp(prefix="rum-kafka-bench-")
    env = {**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"}
    pipeline = Pipeline(args, work, env)
    try:
        pipeline.start()
        if "throughput" in phases:
            throughput(args, pipeline, work, env)
        if "latency" in phases:
            latency(args, pipeline)
        if "recovery" in phases:
            recovery(args, pipeline)
    finally:
        processes = pipeline.processes
        for process in reversed(processes):
            process.stop()
        if args.logs:
            os.makedirs(args.logs, exist_ok=True)
            for index, process in enumerate(processes):
                name = f"{index}-{os.path.basename(process.args[0])}-{process.args[1]}.log"
                with open(os.path.join(args.logs, name), "w") as out:
                    out.write("\n".join(process.lines) + "\n")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
