//! Abuse limits at the edge: token buckets per site and per client network, a cap on bodies read
//! at once, and a resident-memory watermark. Connections are capped in the accept loop
//! (`server.rs`). Every refusal is an [`HttpError`] the ledger counts.
//!
//! The client network is the /24 of an IPv4 address or the /48 of an IPv6 one, taken from the
//! address `rum_enrich` resolves (trusted proxies honoured) before that address is dropped; only
//! the truncated network is kept, as a number, in a bounded LRU table.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use lru::LruCache;
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use rum_config::LimitsConfig;

use crate::error::HttpError;

/// Network buckets are split over this many locks, so concurrent requests rarely share one.
const NETWORK_SHARDS: usize = 16;
/// How often resident memory is read (`/proc/self/status`).
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

const NETWORKS_FORGOTTEN: &str = "rum_collector_rate_limit_networks_forgotten_total";
const RESIDENT_MEMORY: &str = "rum_collector_resident_memory_bytes";
pub(crate) const CONNECTIONS_OPEN: &str = "rum_collector_connections_open";
pub(crate) const CONNECTION_LIMIT_WAITS: &str = "rum_collector_connection_limit_waits_total";
const BODY_SLOT_WAITS: &str = "rum_collector_body_slot_waits_total";

/// A rate and the burst above it, in beacons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `None` for 0 (off). A burst of 0 means twice the rate (at least 1).
    pub fn new(per_second: f64, burst: f64) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            per_second,
            burst: if burst > 0.0 {
                burst
            } else {
                (per_second * 2.0).max(1.0)
            },
        })
    }
}

/// One token bucket: full at `burst`, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    pub(crate) fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            updated: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / rate.per_second,
            ))
        }
    }
}

/// A bucket for one site (its keys share it).
#[derive(Debug)]
pub(crate) struct SiteLimit {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

impl SiteLimit {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            bucket: Mutex::new(Bucket::full(rate, Instant::now())),
        }
    }

    pub(crate) fn check(&self) -> Result<(), HttpError> {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        bucket
            .take(self.rate, Instant::now())
            .map_err(|wait| HttpError::SiteRateLimited {
                retry_after_secs: retry_after(wait),
            })
    }
}

/// `Retry-After` in whole seconds, at least 1.
fn retry_after(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// The truncated network as a number: /24 of IPv4, /48 of IPv6 (IPv4-mapped IPv6 is IPv4).
pub(crate) fn network_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00),
        IpAddr::V6(v6) => (u128::from(v6) & !((1u128 << 80) - 1)) | 1,
    }
}

/// Token buckets per client network, in a bounded table.
pub(crate) struct NetworkLimit {
    rate: Rate,
    shards: Vec<Mutex<LruCache<u128, Bucket>>>,
    forgotten: Counter,
}

impl NetworkLimit {
    pub(crate) fn new(rate: Rate, tracked: usize) -> Self {
        let per_shard = NonZeroUsize::new(tracked.div_ceil(NETWORK_SHARDS).max(1)).expect("> 0");
        describe_counter!(
            NETWORKS_FORGOTTEN,
            "Client networks whose rate-limit bucket was dropped for a newer one (limits.tracked_networks)."
        );
        Self {
            rate,
            shards: (0..NETWORK_SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
            forgotten: counter!(NETWORKS_FORGOTTEN),
        }
    }

    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), HttpError> {
        let key = network_key(ip);
        // The low bits of a /24 are zero: mix before picking a shard.
        let shard = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 64) as usize % NETWORK_SHARDS;
        let now = Instant::now();
        let mut table = self.shards[shard]
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(bucket) = table.get_mut(&key) {
            return bucket
                .take(self.rate, now)
                .map_err(|wait| HttpError::NetworkRateLimited {
                    retry_after_secs: retry_after(wait),
                });
        }
        let mut bucket = Bucket::full(self.rate, now);
        let taken = bucket.take(self.rate, now);
        if table.push(key, bucket).is_some_and(|(old, _)| old != key) {
            self.forgotten.increment(1);
        }
        taken.map_err(|wait| HttpError::NetworkRateLimited {
            retry_after_secs: retry_after(wait),
        })
    }
}

/// Refuses new beacons while resident memory is above a watermark. A thread samples it.
pub(crate) struct MemoryWatermark {
    limit: u64,
    resident: Arc<AtomicU64>,
}

impl MemoryWatermark {
    pub(crate) fn start(limit: u64) -> Self {
        describe_gauge!(
            RESIDENT_MEMORY,
            "Resident memory of the collector process, sampled for limits.memory_high_watermark."
        );
        let resident = Arc::new(AtomicU64::new(0));
        let weak = Arc::downgrade(&resident);
        let gauge = gauge!(RESIDENT_MEMORY);
        let spawned = std::thread::Builder::new()
            .name("rum-memory-watermark".into())
            .spawn(move || sample_memory(weak, gauge));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the memory sampler; limits.memory_high_watermark is not enforced");
        }
        Self { limit, resident }
    }

    pub(crate) fn check(&self, retry_after_secs: u64) -> Result<(), HttpError> {
        if self.resident.load(Ordering::Relaxed) > self.limit {
            Err(HttpError::MemoryPressure { retry_after_secs })
        } else {
            Ok(())
        }
    }
}

fn sample_memory(resident: Weak<AtomicU64>, gauge: Gauge) {
    while let Some(resident) = resident.upgrade() {
        if let Some(bytes) = resident_bytes() {
            resident.store(bytes, Ordering::Relaxed);
            gauge.set(bytes as f64);
        }
        drop(resident);
        std::thread::sleep(MEMORY_SAMPLE_INTERVAL);
    }
}

/// `VmRSS` of `/proc/self/status` (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The limits that do not depend on the site, built from `[limits]`.
pub(crate) struct EdgeLimits {
    pub network: Option<NetworkLimit>,
    pub memory: Option<MemoryWatermark>,
    /// Bodies read at once.
    pub bodies: Arc<tokio::sync::Semaphore>,
    pub body_slot_waits: Counter,
}

impl EdgeLimits {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        describe_counter!(
            BODY_SLOT_WAITS,
            "Beacon bodies that waited for a slot (limits.max_concurrent_bodies)."
        );
        describe_gauge!(CONNECTIONS_OPEN, "Open connections on the public listener.");
        describe_counter!(
            CONNECTION_LIMIT_WAITS,
            "Times the public listener stopped accepting at limits.max_connections."
        );
        Self {
            network: Rate::new(config.network_rate, config.network_burst)
                .map(|rate| NetworkLimit::new(rate, config.tracked_networks)),
            memory: (config.memory_high_watermark.0 > 0)
                .then(|| MemoryWatermark::start(config.memory_high_watermark.0)),
            bodies: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_bodies)),
            body_slot_waits: counter!(BODY_SLOT_WAITS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate::new(10.0, 5.0).unwrap();
        let start = Instant::now();
        let mut bucket = Bucket::full(rate, start);
        for _ in 0..5 {
            bucket.take(rate, start).expect("burst");
        }
        let wait = bucket.take(rate, start).expect_err("empty");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        let later = start + Duration::from_millis(250);
        bucket.take(rate, later).expect("refilled");
        bucket.take(rate, later).expect("refilled");
        assert!(bucket.take(rate, later).is_err());
        // Refill stops at the burst.
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..5 {
            bucket.take(rate, much_later).expect("full again");
        }
        assert!(bucket.take(rate, much_later).is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        assert_eq!(retry_after(Duration::from_millis(10)), 1);
        assert_eq!(retry_after(Duration::from_millis(1500)), 2);
        assert_eq!(Rate::new(0.0, 5.0), None);
        assert_eq!(Rate::new(0.2, 0.0).unwrap().burst, 1.0);
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let key = |text: &str| network_key(text.parse().unwrap());
        assert_eq!(key("203.0.113.7"), key("203.0.113.250"));
        assert_ne!(key("203.0.113.7"), key("203.0.114.7"));
        assert_eq!(key("::ffff:203.0.113.7"), key("203.0.113.9"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:ffff::9"));
        assert_ne!(key("2001:db8:1::1"), key("2001:db8:2::1"));
        // An IPv6 network never equals an IPv4 one.
        assert_ne!(key("::"), key("0.0.0.0"));
    }

    #[test]
    fn one_network_is_limited_and_others_are_not() {
        let limit = NetworkLimit::new(Rate::new(1.0, 3.0).unwrap(), 100);
        let noisy: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..3 {
            limit.check(noisy).expect("burst");
        }
        let refused = limit.check("198.51.100.77".parse().unwrap()).unwrap_err();
        assert!(matches!(
            refused,
            HttpError::NetworkRateLimited {
                retry_after_secs: 1
            }
        ));
        limit
            .check("198.51.101.1".parse().unwrap())
            .expect("another network");
    }

    #[test]
    fn the_network_table_is_bounded() {
        let limit = NetworkLimit::new(Rate::new(1.0, 1.0).unwrap(), 32);
        for n in 0..10_000u32 {
            let ip = IpAddr::from((n << 8).to_be_bytes());
            let _ = limit.check(ip);
        }
        let tracked: usize = limit.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= 32, "{tracked}");
    }
}
