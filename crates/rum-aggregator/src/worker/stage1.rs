//! Stage 1 behind Kafka: a member of `<group>.stage1` on the beacon topic.
//!
//! Per owned beacon partition it keeps one [`Stage1`] (its own dedupe table: a page view's
//! beacons all land on one partition), reads the partition in order, and cuts chunks at tick
//! records and every `chunk_records` records. A chunk's partials go to the partials topic, routed by
//! site, one [`PartialBatch`] (or several parts) per partials partition, even an empty one, so each
//! stage-2 owner sees every chunk's range and clock. It writes a tick into each owned partition
//! every `tick_interval`.
//!
//! After a chunk ends, when the snapshot interval has passed, it writes the partition's state as a
//! snapshot to the stage-1 state topic; once the snapshot's parts and every chunk before it are
//! acknowledged, it commits the snapshot pointer, then the position. A restarted or new owner
//! loads the pointed-to snapshot and reads on from its position, producing the same chunks again
//! (stage 2 skips the ones it has).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use prost::Message;
use rum_schema::proto::{Stage1State, Tick};
use rum_transport::log::{
    Assignment, Delivery, GroupConsumer, LogError, LogProducer, PartitionReader, Polled, StartFrom,
};

use super::health::StageHealth;
use super::orphans::OrphanWatch;
use super::parts::{self, BatchHeader};
use super::{TICK_KEY, Topics, kill_point, partials_partition};
use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::wire::BeaconView;

/// How long a poll waits for the next record.
const POLL: Duration = Duration::from_millis(50);
/// How often consumer lag is read from the broker.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// On stop, how long the worker waits for a last snapshot of each partition to be committed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often a partition whose restore failed (broker unreachable) is tried again.
const RESTORE_RETRY: Duration = Duration::from_secs(1);

/// Broker trouble is logged once per interval (the ledger and metrics count it all).
static BROKER_TROUBLE_LOG: rum_ledger::LogLimiter =
    rum_ledger::LogLimiter::new(Duration::from_secs(10));

fn broker_trouble(what: &str, error: &LogError) {
    if let Some(suppressed) = BROKER_TROUBLE_LOG.admit() {
        tracing::warn!(%error, suppressed, "stage 1: {what}; retrying");
    }
}

/// What stage 1 needs beyond the aggregation settings.
#[derive(Debug, Clone)]
pub struct Stage1WorkerSettings {
    pub aggregation: AggregatorSettings,
    pub topics: Topics,
    pub chunk_records: usize,
    pub tick_interval: Duration,
    pub snapshot_interval: Duration,
    pub start_from: StartFrom,
    /// A partition whose snapshot pointer has not moved for this long, and that this worker does
    /// not own, has no working owner: rejoin the group ([`super::orphans`]).
    pub orphan_after: Duration,
}

/// What a delivery report is about.
#[derive(Debug, Clone, Copy)]
enum Ticket {
    Chunk {
        partition: i32,
        generation: u64,
        end: i64,
    },
    SnapshotPart {
        partition: i32,
        generation: u64,
        part: u32,
    },
    Tick,
}

struct PendingChunk {
    end: i64,
    outstanding: usize,
    closed_at: Instant,
}

struct PendingSnapshot {
    position: i64,
    outstanding: usize,
    first_offset: Option<i64>,
    bytes: usize,
}

/// One owned beacon partition.
struct Partition {
    stage1: Stage1,
    /// Distinguishes this ownership's deliveries from an earlier one's.
    generation: u64,
    /// The next offset to read.
    expected: i64,
    chunk_start: i64,
    records_in_chunk: usize,
    newest_received_ms: i64,
    pending: VecDeque<PendingChunk>,
    /// Every chunk ending at or before this is acknowledged.
    acked_upto: i64,
    snapshot_due: Instant,
    snapshot: Option<PendingSnapshot>,
    /// A chunk's delivery failed: rebuild from the last snapshot.
    rewind: bool,
    last_snapshot_at: Instant,
}

struct Metrics {
    chunks: Counter,
    chunk_records: Histogram,
    chunk_ack_seconds: Histogram,
    partial_bytes: Counter,
    gaps: Counter,
    rebalances_assigned: Counter,
    rebalances_revoked: Counter,
    owned: Gauge,
    snapshots: Counter,
    snapshots_unreadable: Counter,
    rewinds: Counter,
    orphan_rejoins: Counter,
}

impl Metrics {
    fn register() -> Self {
        super::describe_metrics();
        let stage = "stage1";
        Self {
            chunks: counter!("rum_aggregator_chunks_total", "stage" => stage, "outcome" => "produced"),
            chunk_records: histogram!("rum_aggregator_chunk_records"),
            chunk_ack_seconds: histogram!("rum_aggregator_chunk_ack_seconds"),
            partial_bytes: counter!("rum_aggregator_partial_bytes_total"),
            gaps: counter!("rum_aggregator_chunks_total", "stage" => stage, "outcome" => "gap"),
            rebalances_assigned: counter!("rum_aggregator_rebalances_total", "stage" => stage, "change" => "assigned"),
            rebalances_revoked: counter!("rum_aggregator_rebalances_total", "stage" => stage, "change" => "revoked"),
            owned: gauge!("rum_aggregator_partitions_owned", "stage" => stage),
            snapshots: counter!("rum_aggregator_snapshots_total", "stage" => stage, "outcome" => "committed"),
            snapshots_unreadable: counter!("rum_aggregator_snapshots_total", "stage" => stage, "outcome" => "unreadable"),
            rewinds: counter!("rum_aggregator_rewinds_total", "stage" => stage),
            orphan_rejoins: counter!("rum_aggregator_orphan_rejoins_total", "stage" => stage),
        }
    }
}

/// Stage 1 as a group member. Run it on a thread of its own with [`run`](Self::run).
pub struct Stage1Worker<C, P, R> {
    settings: Stage1WorkerSettings,
    consumer: C,
    producer: P,
    reader: R,
    partitions: HashMap<i32, Partition>,
    /// Assigned partitions whose state could not be restored yet (the broker was unreachable).
    restoring: std::collections::BTreeSet<i32>,
    last_restore_attempt: Instant,
    beacon_partitions: usize,
    partials_partitions: usize,
    dedupe_capacity: usize,
    next_ticket: u64,
    tickets: HashMap<u64, Ticket>,
    next_generation: u64,
    last_tick: Instant,
    last_lag: Instant,
    gauges: super::gauges::PartitionGauges,
    deliveries: Vec<Delivery>,
    orphans: OrphanWatch,
    health: Arc<StageHealth>,
    metrics: Metrics,
}

impl<C: GroupConsumer, P: LogProducer, R: PartitionReader> Stage1Worker<C, P, R> {
    pub fn new(
        settings: Stage1WorkerSettings,
        mut consumer: C,
        mut producer: P,
        reader: R,
        health: Arc<StageHealth>,
    ) -> Result<Self, LogError> {
        let beacon_partitions = consumer.partition_count(&settings.topics.beacons)?;
        let partials_partitions = producer.partition_count(&settings.topics.partials)?;
        // The dedupe table's capacity is the deployment's, shared out per partition so that a
        // partition's table (and the chunks it yields) does not depend on who owns what.
        let dedupe_capacity =
            (settings.aggregation.dedupe_capacity / beacon_partitions.max(1)).max(1);
        let orphans = OrphanWatch::new(
            &settings.topics.stage1_state,
            beacon_partitions,
            settings.orphan_after,
        );
        Ok(Self {
            orphans,
            settings,
            consumer,
            producer,
            reader,
            partitions: HashMap::new(),
            restoring: std::collections::BTreeSet::new(),
            last_restore_attempt: Instant::now(),
            beacon_partitions,
            partials_partitions,
            dedupe_capacity,
            next_ticket: 0,
            tickets: HashMap::new(),
            next_generation: 0,
            last_tick: Instant::now(),
            last_lag: Instant::now(),
            gauges: super::gauges::PartitionGauges::new("stage1"),
            deliveries: Vec::new(),
            health,
            metrics: Metrics::register(),
        })
    }

    /// Runs until `stop` is set, then takes a last snapshot of every partition (within a grace
    /// period) and flushes what it produced.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), LogError> {
        self.health.set_running(true);
        let _panic = super::health::FailedOnPanic::new(Arc::clone(&self.health));
        let outcome = self.run_until(stop);
        if outcome.is_err() {
            self.health.set_failed();
        }
        let grace = Instant::now() + STOP_GRACE;
        for partition in self.partitions.values_mut() {
            partition.snapshot_due = Instant::now();
        }
        while Instant::now() < grace
            && self
                .partitions
                .values()
                .any(|p| p.snapshot_due <= Instant::now() || p.snapshot.is_some())
        {
            // Keep reading: the next tick closes each partition's chunk and lets it snapshot.
            if let Err(error) = self.step() {
                tracing::warn!(%error, "stage 1 stopping with an error");
                break;
            }
        }
        let left = self.producer.flush(Duration::from_secs(5));
        if left > 0 {
            tracing::warn!(
                left,
                "stage 1 stopped with undelivered partials (they are produced again)"
            );
        }
        self.health.set_running(false);
        outcome
    }

    fn run_until(&mut self, stop: &AtomicBool) -> Result<(), LogError> {
        while !stop.load(Ordering::Relaxed) {
            self.step()?;
        }
        Ok(())
    }

    /// One round: a poll, delivery reports, ticks, snapshots and commits. Broker trouble is
    /// retried, never fatal: what was not acknowledged is produced again.
    fn step(&mut self) -> Result<(), LogError> {
        match self.consumer.poll(POLL) {
            Ok(Polled::Record(record)) => self.on_record(record),
            Ok(Polled::Assignment(Assignment::Assigned(partitions))) => {
                self.on_assigned(&partitions)
            }
            Ok(Polled::Assignment(Assignment::Revoked(partitions))) => self.on_revoked(&partitions),
            Ok(Polled::Idle) => {}
            Err(error) => broker_trouble("consumer error", &error),
        }
        self.on_deliveries();
        self.retry_restores();
        self.write_ticks();
        if let Err(error) = self.commit_snapshots() {
            broker_trouble("commit failed", &error);
        }
        self.report_lag();
        self.rejoin_if_orphans();
        Ok(())
    }

    fn rejoin_if_orphans(&mut self) {
        let owned: Vec<i32> = self
            .partitions
            .keys()
            .chain(self.restoring.iter())
            .copied()
            .collect();
        let is_owned = |partition: i32| owned.contains(&partition);
        let Some(orphan) = self.orphans.orphaned(&mut self.consumer, &is_owned) else {
            return;
        };
        tracing::warn!(
            partition = orphan,
            "a beacon partition has no working owner; rejoining the group so it is assigned again"
        );
        self.metrics.orphan_rejoins.increment(1);
        let mine: Vec<i32> = owned;
        self.on_revoked(&mine);
        if let Err(error) = self.consumer.rejoin() {
            broker_trouble("rejoin failed", &error);
        }
        self.orphans.reset();
    }

    fn on_record(&mut self, record: rum_transport::log::LogRecord) {
        let chunk_records = self.settings.chunk_records;
        let Some(partition) = self.partitions.get_mut(&record.partition) else {
            return;
        };
        if record.offset < partition.expected {
            return;
        }
        if record.offset > partition.expected {
            // Records the log no longer has (retention) or never had: the chunk spans them.
            self.metrics.gaps.increment(1);
            tracing::warn!(
                partition = record.partition,
                expected = partition.expected,
                got = record.offset,
                "beacon partition skipped offsets"
            );
        }
        partition.expected = record.offset + 1;
        if record.key.as_deref() == Some(TICK_KEY) {
            if let Ok(tick) = Tick::decode(record.payload.as_slice()) {
                partition.stage1.advance_to_tick(tick.at_ms);
            }
            self.close_chunk(record.partition, record.offset + 1);
            return;
        }
        match BeaconView::decode(&record.payload) {
            Ok(beacon) => {
                partition.newest_received_ms =
                    partition.newest_received_ms.max(beacon.received_at_ms);
                partition.stage1.ingest(&beacon);
            }
            Err(_) => partition.stage1.undecodable(),
        }
        partition.records_in_chunk += 1;
        if partition.records_in_chunk >= chunk_records {
            self.close_chunk(record.partition, record.offset + 1);
        }
    }

    /// Ends the partition's chunk at `end` (exclusive): its partials go out, routed by site. If
    /// they cannot all be handed to the producer, the partition is rebuilt from its snapshot.
    fn close_chunk(&mut self, source: i32, end: i64) {
        let partials_partitions = self.partials_partitions;
        let Some(partition) = self.partitions.get_mut(&source) else {
            return;
        };
        let mut routed: Vec<Vec<rum_schema::proto::Partial>> =
            vec![Vec::new(); partials_partitions];
        for partial in partition.stage1.flush() {
            let site = partial.dimension_values.first().map_or("", String::as_str);
            routed[partials_partition(site, partials_partitions) as usize].push(partial);
        }
        let header = BatchHeader {
            source_partition: source,
            start_offset: partition.chunk_start,
            end_offset: end,
            tick_ms: partition.stage1.tick_ms(),
            source_partitions: self.beacon_partitions as i32,
            newest_received_ms: partition.newest_received_ms,
        };
        self.metrics
            .chunk_records
            .record(partition.records_in_chunk as f64);
        partition.chunk_start = end;
        partition.records_in_chunk = 0;
        partition.newest_received_ms = 0;
        let generation = partition.generation;
        kill_point("stage1.before_chunk_produce");
        let mut outstanding = 0;
        for (target, partials) in routed.into_iter().enumerate() {
            for batch in parts::batches(header, partials) {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.tickets.insert(
                    ticket,
                    Ticket::Chunk {
                        partition: source,
                        generation,
                        end,
                    },
                );
                let payload = batch.encode_to_vec();
                self.metrics.partial_bytes.increment(payload.len() as u64);
                if let Err(error) = self.producer.send(
                    &self.settings.topics.partials,
                    target as i32,
                    None,
                    &payload,
                    ticket,
                ) {
                    broker_trouble("partials not handed to the producer", &error);
                    if let Some(partition) = self.partitions.get_mut(&source) {
                        partition.rewind = true;
                    }
                    return;
                }
                outstanding += 1;
            }
            if target == 0 {
                kill_point("stage1.chunk_partly_produced");
            }
        }
        self.metrics.chunks.increment(1);
        let partition = self.partitions.get_mut(&source).expect("still owned");
        partition.pending.push_back(PendingChunk {
            end,
            outstanding,
            closed_at: Instant::now(),
        });
        if partition.snapshot.is_none() && partition.snapshot_due <= Instant::now() {
            self.start_snapshot(source, end);
        }
    }

    /// Writes the partition's state (at the chunk boundary `position`) as a snapshot.
    fn start_snapshot(&mut self, source: i32, position: i64) {
        let Some(partition) = self.partitions.get_mut(&source) else {
            return;
        };
        let state = partition.stage1.snapshot(source, position);
        let bytes = state.encode_to_vec();
        let generation = partition.generation;
        let snapshot_id = snapshot_id(position);
        let parts = parts::snapshot_parts(snapshot_id, &bytes);
        partition.snapshot = Some(PendingSnapshot {
            position,
            outstanding: parts.len(),
            first_offset: None,
            bytes: bytes.len(),
        });
        for part in parts {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            self.tickets.insert(
                ticket,
                Ticket::SnapshotPart {
                    partition: source,
                    generation,
                    part: part.part,
                },
            );
            if let Err(error) = self.producer.send(
                &self.settings.topics.stage1_state,
                source,
                Some(&parts::part_key(source, part.part)),
                &part.encode_to_vec(),
                ticket,
            ) {
                broker_trouble("snapshot not handed to the producer", &error);
                if let Some(partition) = self.partitions.get_mut(&source) {
                    partition.snapshot = None;
                    partition.snapshot_due = Instant::now() + self.settings.snapshot_interval;
                }
                return;
            }
        }
    }

    fn on_deliveries(&mut self) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        self.producer.deliveries(&mut deliveries);
        for delivery in deliveries.drain(..) {
            let Some(ticket) = self.tickets.remove(&delivery.ticket) else {
                continue;
            };
            match ticket {
                Ticket::Tick => {
                    if let Err(error) = &delivery.result {
                        tracing::debug!(%error, "a tick record was not written");
                    }
                }
                Ticket::Chunk {
                    partition,
                    generation,
                    end,
                } => {
                    let Some(owned) = self.partitions.get_mut(&partition) else {
                        continue;
                    };
                    if owned.generation != generation {
                        continue;
                    }
                    if let Err(error) = &delivery.result {
                        tracing::error!(partition, %error, "partials not delivered; rebuilding the partition from its snapshot");
                        owned.rewind = true;
                        continue;
                    }
                    if let Some(chunk) = owned.pending.iter_mut().find(|chunk| chunk.end == end) {
                        chunk.outstanding = chunk.outstanding.saturating_sub(1);
                    }
                    while owned
                        .pending
                        .front()
                        .is_some_and(|chunk| chunk.outstanding == 0)
                    {
                        let chunk = owned.pending.pop_front().expect("checked");
                        owned.acked_upto = chunk.end;
                        self.metrics
                            .chunk_ack_seconds
                            .record(chunk.closed_at.elapsed().as_secs_f64());
                    }
                }
                Ticket::SnapshotPart {
                    partition,
                    generation,
                    part,
                } => {
                    let Some(owned) = self.partitions.get_mut(&partition) else {
                        continue;
                    };
                    if owned.generation != generation {
                        continue;
                    }
                    let Some(snapshot) = owned.snapshot.as_mut() else {
                        continue;
                    };
                    match delivery.result {
                        Ok(offset) => {
                            if part == 0 {
                                snapshot.first_offset = Some(offset);
                            }
                            snapshot.outstanding = snapshot.outstanding.saturating_sub(1);
                        }
                        Err(error) => {
                            tracing::warn!(partition, %error, "snapshot not written; trying again later");
                            owned.snapshot = None;
                            owned.snapshot_due = Instant::now() + self.settings.snapshot_interval;
                        }
                    }
                }
            }
        }
        self.deliveries = deliveries;
        let rewinding: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(_, partition)| partition.rewind)
            .map(|(number, _)| *number)
            .collect();
        for partition in rewinding {
            self.metrics.rewinds.increment(1);
            self.partitions.remove(&partition);
            self.restoring.insert(partition);
        }
        self.retry_restores();
    }

    /// Commits each snapshot whose parts and preceding chunks are all acknowledged: the pointer
    /// first, then the position.
    fn commit_snapshots(&mut self) -> Result<(), LogError> {
        let ready: Vec<(i32, i64, i64, usize)> = self
            .partitions
            .iter()
            .filter_map(|(number, partition)| {
                let snapshot = partition.snapshot.as_ref()?;
                let first = snapshot.first_offset?;
                (snapshot.outstanding == 0 && partition.acked_upto >= snapshot.position)
                    .then_some((*number, first, snapshot.position, snapshot.bytes))
            })
            .collect();
        for (number, first, position, bytes) in ready {
            kill_point("stage1.before_commit");
            self.consumer
                .commit(&[(&self.settings.topics.stage1_state, number, first)])?;
            self.consumer
                .commit(&[(&self.settings.topics.beacons, number, position)])?;
            let interval = self.settings.snapshot_interval;
            if let Some(partition) = self.partitions.get_mut(&number) {
                partition.snapshot = None;
                partition.snapshot_due = Instant::now() + interval;
                partition.last_snapshot_at = Instant::now();
            }
            self.metrics.snapshots.increment(1);
            self.gauges.snapshot_committed(number, bytes);
        }
        Ok(())
    }

    fn write_ticks(&mut self) {
        if self.last_tick.elapsed() < self.settings.tick_interval {
            return;
        }
        self.last_tick = Instant::now();
        let tick = Tick { at_ms: now_ms() }.encode_to_vec();
        let owned: Vec<i32> = self.partitions.keys().copied().collect();
        for partition in owned {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            self.tickets.insert(ticket, Ticket::Tick);
            if let Err(error) = self.producer.send(
                &self.settings.topics.beacons,
                partition,
                Some(TICK_KEY),
                &tick,
                ticket,
            ) {
                self.tickets.remove(&ticket);
                broker_trouble("tick not written", &error);
            }
        }
    }

    fn report_lag(&mut self) {
        if self.last_lag.elapsed() < LAG_INTERVAL {
            return;
        }
        self.last_lag = Instant::now();
        let owned: Vec<(i32, i64, Instant)> = self
            .partitions
            .iter()
            .map(|(number, partition)| (*number, partition.expected, partition.last_snapshot_at))
            .collect();
        self.gauges.report(&mut self.consumer, owned);
    }

    fn on_revoked(&mut self, revoked: &[i32]) {
        self.metrics.rebalances_revoked.increment(1);
        for partition in revoked {
            // Its chunks in flight may still land: the next owner produces them again from the
            // last committed snapshot, and stage 2 applies each once.
            self.partitions.remove(partition);
            self.restoring.remove(partition);
            self.gauges.revoked(*partition);
        }
        self.publish_health();
    }

    /// Restores each newly owned partition from its snapshot (or starts it fresh) and seeks to
    /// the snapshot's position; a partition the broker cannot help with yet is tried again.
    fn on_assigned(&mut self, assigned: &[i32]) {
        self.metrics.rebalances_assigned.increment(1);
        self.health.set_joined();
        self.restoring.extend(assigned.iter().copied());
        self.last_restore_attempt = Instant::now() - RESTORE_RETRY;
        self.retry_restores();
    }

    fn retry_restores(&mut self) {
        if self.restoring.is_empty() || self.last_restore_attempt.elapsed() < RESTORE_RETRY {
            return;
        }
        self.last_restore_attempt = Instant::now();
        let waiting: Vec<i32> = self.restoring.iter().copied().collect();
        for number in waiting {
            match self.restore_one(number) {
                Ok(()) => {
                    self.restoring.remove(&number);
                }
                Err(error) => broker_trouble("partition state not restored", &error),
            }
        }
        self.publish_health();
    }

    fn restore_one(&mut self, number: i32) -> Result<(), LogError> {
        {
            let (stage1, position) = self.restore(number)?;
            self.next_generation += 1;
            self.consumer.seek(number, position)?;
            self.partitions.insert(
                number,
                Partition {
                    stage1,
                    generation: self.next_generation,
                    expected: position,
                    chunk_start: position,
                    records_in_chunk: 0,
                    newest_received_ms: 0,
                    pending: VecDeque::new(),
                    acked_upto: position,
                    snapshot_due: Instant::now() + self.settings.snapshot_interval,
                    snapshot: None,
                    rewind: false,
                    last_snapshot_at: Instant::now(),
                },
            );
        }
        Ok(())
    }

    fn restore(&mut self, number: i32) -> Result<(Stage1, i64), LogError> {
        let topics = &self.settings.topics;
        if let Some(pointer) = self.consumer.committed(&topics.stage1_state, number)? {
            match parts::read_snapshot(&mut self.reader, &topics.stage1_state, number, pointer) {
                Ok(Some(bytes)) => match Stage1State::decode(bytes.as_slice()) {
                    Ok(state) if state.partition == number => {
                        let (stage1, skipped) = Stage1::restore(
                            self.settings.aggregation.clone(),
                            self.dedupe_capacity,
                            &state,
                        );
                        if skipped > 0 {
                            tracing::warn!(partition = number, skipped, "snapshot entries skipped");
                        }
                        tracing::info!(
                            partition = number,
                            position = state.next_offset,
                            page_views = state.entries.len(),
                            "stage 1 partition restored"
                        );
                        return Ok((stage1, state.next_offset));
                    }
                    _ => {}
                },
                Ok(None) => {}
                Err(error) => return Err(error),
            }
            self.metrics.snapshots_unreadable.increment(1);
            tracing::error!(
                partition = number,
                pointer,
                "stage 1 snapshot unreadable; starting the partition without its dedupe history"
            );
        }
        // Never read (or the snapshot is lost): start at the committed position, else where
        // `start_from` says, and commit that position first so a crash before the first snapshot
        // starts again from the same place.
        let position = match self.consumer.committed(&topics.beacons, number)? {
            Some(position) => position,
            None => {
                let (low, high) = self.consumer.watermarks(number)?;
                match self.settings.start_from {
                    StartFrom::Earliest => low,
                    StartFrom::Latest => high,
                }
            }
        };
        self.consumer
            .commit(&[(&self.settings.topics.beacons, number, position)])?;
        tracing::info!(
            partition = number,
            position,
            "stage 1 partition starts fresh"
        );
        Ok((
            Stage1::for_partition(self.settings.aggregation.clone(), self.dedupe_capacity),
            position,
        ))
    }

    fn publish_health(&self) {
        let owned = self.partitions.len() + self.restoring.len();
        self.metrics.owned.set(owned as f64);
        self.health.set_partitions(owned, self.restoring.len());
    }
}

/// Unique per snapshot: the time in ns folded with the position.
fn snapshot_id(position: i64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (position as u64).rotate_left(32)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
