//! The disk spool's throughput: appends (overflow mode: no fsync on the path), replay (take and
//! ack), and write-ahead appends whose callers wait for the group commit, with 1 and 32 callers
//! (one in flight each, as request handlers are). Records are 1.2 KB, the mean encoded beacon of
//! benches/load/beacon_mix.lua. Figures in benches/README.md ("Disk spool").
//! `SPOOL_BENCH_DIR` picks the file system (default: the temp dir).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rum_transport::SinkRecord;
use rum_transport::spool::{Spool, SpoolCause, SpoolMode, SpoolSettings};

const RECORD_BYTES: usize = 1200;

fn settings(mode: SpoolMode, name: &str) -> SpoolSettings {
    let dir: PathBuf = std::env::var_os("SPOOL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("rum-spool-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    SpoolSettings {
        dir,
        mode,
        max_bytes: 64 << 30,
        max_age: Duration::from_secs(3600),
        segment_bytes: 64 << 20,
        segment_age: Duration::from_secs(600),
        fsync_interval: Duration::from_secs(1),
    }
}

fn record(n: u64) -> SinkRecord {
    SinkRecord {
        key: format!("shop/pv-{n:016}").into_bytes(),
        payload: vec![(n % 251) as u8; RECORD_BYTES],
    }
}

fn overflow(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool");
    group.throughput(Throughput::Elements(1));
    let (spool, _) = Spool::open(settings(SpoolMode::Overflow, "append")).unwrap();
    let mut n = 0;
    group.bench_function("append (overflow)", |b| {
        b.iter(|| {
            n += 1;
            spool.append(&record(n), SpoolCause::QueueFull).unwrap()
        })
    });
    // Replay: take in batches of 512 and ack each (the appends are not timed).
    group.bench_function("replay (take + ack)", |b| {
        b.iter_custom(|iterations| {
            while !spool.take(4096, Duration::ZERO).is_empty() {}
            for m in 0..iterations {
                spool.append(&record(m), SpoolCause::QueueFull).unwrap();
            }
            let started = Instant::now();
            let mut left = iterations as usize;
            while left > 0 {
                let batch = spool.take(512, Duration::from_millis(10));
                if batch.is_empty() {
                    break;
                }
                left = left.saturating_sub(batch.len());
                for taken in batch {
                    spool.ack(taken.position);
                }
            }
            started.elapsed()
        })
    });
    spool.close();
    group.finish();
}

fn write_ahead(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool write-ahead");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    for callers in [1u64, 32] {
        let (spool, _) =
            Spool::open(settings(SpoolMode::WriteAhead, &format!("wa-{callers}"))).unwrap();
        group.bench_function(format!("append + fsync wait, {callers} caller(s)"), |b| {
            b.iter_custom(|iterations| {
                let per_caller = iterations.div_ceil(callers);
                let started = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..callers)
                        .map(|caller| {
                            let spool = Arc::clone(&spool);
                            tokio::spawn(async move {
                                for n in 0..per_caller {
                                    let sequence = spool
                                        .append(&record(caller << 32 | n), SpoolCause::WriteAhead)
                                        .unwrap();
                                    spool.ticket(sequence).wait().await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
                // Per beacon: the total spread over every caller's beacons.
                started
                    .elapsed()
                    .mul_f64(iterations as f64 / (per_caller * callers) as f64)
            })
        });
        spool.close();
    }
    group.finish();
}

criterion_group!(benches, overflow, write_ahead);
criterion_main!(benches);
