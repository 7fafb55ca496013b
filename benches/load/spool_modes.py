#!/usr/bin/env python3
"""What the disk spool costs per beacon at the edge: `rum collector` (Kafka sink, tansu on
loopback) with no spool, with the overflow spool and with the write-ahead spool, measured in turns.

Each round runs wrk with benches/load/beacon_mix.lua (-t1 -c32) against each collector in turn
for --duration seconds (all three collectors run throughout, so each turn shares the machine the
same way) and reads back the 202 rate, the latency percentiles wrk reports, and the spool's
fsyncs per accepted beacon. --rounds interleaved rounds (the VM's clock drifts; compare within a
round). The broker is tansu 0.6.0 with memory:// storage (nothing restarts here).

Usage: benches/load/spool_modes.py [--binary target/release/rum] [--duration 15] [--rounds 2]
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kafka_pipeline as kp  # noqa: E402  (shared helpers: processes, metrics, waiting)

MODES = ["none", "overflow", "write-ahead"]


def wrk_latency(url, duration):
    out = kp.wrk_output(url, duration)
    return (*kp.wrk_counts(out), kp.wrk_percentiles(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/rum")
    parser.add_argument("--tansu", default=os.environ.get("TANSU", os.path.expanduser("~/.cargo/bin/tansu")))
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="rum-spool-modes-")
    env = {**os.environ, "RUST_LOG": "warn,rum=info", "NO_COLOR": "1"}
    processes = []
    try:
        broker, brokers = kp.start_tansu(args.tansu, "memory://tansu/", work, env)
        processes.append(broker)
        collectors = {}
        for mode in MODES:
            config = os.path.join(work, f"{mode}.toml")
            with open(config, "w") as out:
                out.write("[topics.beacons]\npartitions = 4\n")
                if mode != "none":
                    out.write(f'[spool]\ndir = "{work}/spool-{mode}"\nmode = "{mode}"\n')
            if mode == "none":
                kp.create_topics(binary, brokers, config)
            process, listen, admin = kp.start_collector(binary, brokers, config, env)
            processes.append(process)
            kp.wait(f"{mode}'s /readyz", lambda: kp.status(f"http://{admin}/readyz") == 200, 60)
            collectors[mode] = (listen, admin)
        print(f"{'round':>5} {'spool':>12} {'beacons/s':>10} {'non-2xx':>8} {'p50 ms':>7} {'p90 ms':>7} "
              f"{'p99 ms':>7} {'fsyncs/beacon':>14}")
        for round_number in range(1, args.rounds + 1):
            for mode in MODES:
                listen, admin = collectors[mode]
                before = kp.scrape(admin)
                requests, non2xx, latency = wrk_latency(f"http://{listen}/rum/v1/beacon?key=demo", args.duration)
                after = kp.scrape(admin)
                accepted = kp.metric(after, "rum_collector_beacons_accepted_total") - \
                    kp.metric(before, "rum_collector_beacons_accepted_total")
                fsyncs = kp.metric(after, "rum_spool_fsyncs_total") - kp.metric(before, "rum_spool_fsyncs_total")
                print(f"{round_number:>5} {mode:>12} {accepted / args.duration:>10.0f} {non2xx:>8} "
                      f"{latency['50']:>7.2f} {latency['90']:>7.2f} {latency['99']:>7.2f} "
                      f"{fsyncs / max(accepted, 1):>14.4f}", flush=True)
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
