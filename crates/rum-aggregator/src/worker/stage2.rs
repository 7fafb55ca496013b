//! Stage 2 behind Kafka: a member of `<group>.stage2` on the partials topic.
//!
//! Per owned partials partition it keeps one [`Stage2`] (every segment of the sites routed there),
//! how far each beacon partition's chunks are applied, and the parts of chunks not yet complete.
//! A chunk is applied once: one that ends at or before the applied position is a duplicate (a
//! replay, or a zombie's copy) and is skipped, counted; one that starts after it is a gap,
//! counted (it must stay 0). Its clock is the slowest beacon partition's tick time, so windows
//! close when every partition has moved past them, and an idle partition still moves time (its
//! owner writes ticks). Nothing it does depends on the wall clock, so a replay rebuilds the same
//! state; alert evaluation ([`SegmentObserver`]) reads that state and keeps its own beside it.
//!
//! Every `snapshot_interval` it writes a partition's state to the stage-2 state topic and, once
//! acknowledged, commits the snapshot pointer, then the position. A new owner loads the snapshot,
//! replays the partials after it, and serves the partition's segments only once it has read up
//! to the end the partition had when it was assigned.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use prost::Message;
use rum_ledger::{DropCounters, Item};
use rum_schema::proto::{PartialBatch, SourceProgress, Stage2State};
use rum_transport::log::{
    Assignment, Delivery, GroupConsumer, LogError, LogProducer, PartitionReader, Polled, StartFrom,
};

use super::health::StageHealth;
use super::orphans::OrphanWatch;
use super::parts;
use super::{Topics, chunk_of, kill_point};
use crate::metrics::PartialDrop;
use crate::settings::AggregatorSettings;
use crate::stage2::Stage2;

/// How long a poll waits for the next record (queries wait at most this long to be answered).
const POLL: Duration = Duration::from_millis(20);
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// How often observers (alert evaluation) run, at most.
const OBSERVE_CHECK: Duration = Duration::from_millis(500);
/// Parts of incomplete chunks kept per partition at most (a bound against a corrupt stream).
const MAX_PENDING_PARTS: usize = 10_000;
/// How often a partition whose restore failed (broker unreachable) is tried again.
const RESTORE_RETRY: Duration = Duration::from_secs(1);

/// Broker trouble is logged once per interval.
static BROKER_TROUBLE_LOG: rum_ledger::LogLimiter =
    rum_ledger::LogLimiter::new(Duration::from_secs(10));

fn broker_trouble(what: &str, error: &LogError) {
    if let Some(suppressed) = BROKER_TROUBLE_LOG.admit() {
        tracing::warn!(%error, suppressed, "stage 2: {what}; retrying");
    }
}

/// What stage 2 needs beyond the aggregation settings.
#[derive(Debug, Clone)]
pub struct Stage2WorkerSettings {
    pub aggregation: AggregatorSettings,
    pub topics: Topics,
    pub snapshot_interval: Duration,
    pub start_from: StartFrom,
    /// See [`super::stage1::Stage1WorkerSettings::orphan_after`].
    pub orphan_after: Duration,
}

/// Something that reads one partials partition's stage 2 now and then and keeps state that moves
/// with the partition (the alert evaluator of its segments).
pub trait SegmentObserver: Send {
    /// How often [`observe`](Self::observe) wants to run.
    fn interval(&self) -> Duration;
    /// Looks at the segments; `now_ms` is the wall clock.
    fn observe(&mut self, stage2: &Stage2, now_ms: i64);
    /// Its state, for the partition's snapshot.
    fn snapshot(&self) -> Vec<u8>;
    /// Takes back what [`snapshot`](Self::snapshot) wrote (a move from another worker).
    fn restore(&mut self, bytes: &[u8]);
}

/// Makes the observer of a newly owned partition.
pub type ObserverFactory = Box<dyn Fn(i32) -> Box<dyn SegmentObserver> + Send>;

/// A read of the caught-up partitions' stage 2s, run on the worker's thread.
pub type WorkerQuery = Box<dyn FnOnce(&[&Stage2]) + Send>;

/// Asks the stage-2 worker questions (the exposition) from other threads.
#[derive(Clone)]
pub struct Stage2Handle {
    queries: mpsc::SyncSender<WorkerQuery>,
}

impl Stage2Handle {
    /// Runs `read` on the worker's thread over every caught-up partition; `None` once the worker
    /// has stopped. Blocks the calling thread until answered: call it from a thread that may
    /// wait (the admin listener's).
    pub fn query<T: Send + 'static>(
        &self,
        read: impl FnOnce(&[&Stage2]) -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = mpsc::sync_channel(1);
        let query: WorkerQuery = Box::new(move |stages| {
            let _asker_gone = answer.send(read(stages));
        });
        self.queries.send(query).ok()?;
        answered.recv().ok()
    }

    /// The answer of a JSON endpoint ([`crate::api`]) over every caught-up partition.
    pub fn api(&self, path: String, query: String) -> Option<crate::api::ApiAnswer> {
        self.query(move |stages| crate::api::answer(stages, &path, &query))
            .flatten()
    }

    /// The per-segment families of every caught-up partition, in `format`.
    pub fn render(&self, format: crate::exposition::Format) -> String {
        self.query(move |stages| crate::exposition::render_all_in(stages, format))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Source {
    applied_upto: Option<i64>,
    tick_ms: i64,
}

struct PendingSnapshot {
    outstanding: usize,
    first_offset: Option<i64>,
    position: i64,
    bytes: usize,
}

struct Owned {
    stage2: Stage2,
    generation: u64,
    expected: i64,
    sources: BTreeMap<i32, Source>,
    source_partitions: i32,
    /// Parts of chunks not complete yet, by chunk.
    pending_parts: HashMap<(i32, i64, i64), Vec<Option<PartialBatch>>>,
    /// The partition's end when it was assigned: caught up once read past it.
    catch_up_to: i64,
    caught_up: bool,
    observer: Option<Box<dyn SegmentObserver>>,
    last_observed: Instant,
    snapshot_due: Instant,
    snapshot: Option<PendingSnapshot>,
    last_snapshot_at: Instant,
}

struct Metrics {
    applied: Counter,
    duplicates: Counter,
    gaps: Counter,
    rebalances_assigned: Counter,
    rebalances_revoked: Counter,
    owned: Gauge,
    snapshots: Counter,
    snapshots_unreadable: Counter,
    edge_to_stage2: Histogram,
    dropped: DropCounters<PartialDrop>,
    orphan_rejoins: Counter,
}

impl Metrics {
    fn register() -> Self {
        super::describe_metrics();
        let stage = "stage2";
        Self {
            applied: counter!("rum_aggregator_chunks_total", "stage" => stage, "outcome" => "applied"),
            duplicates: counter!("rum_aggregator_chunks_total", "stage" => stage, "outcome" => "duplicate"),
            gaps: counter!("rum_aggregator_chunks_total", "stage" => stage, "outcome" => "gap"),
            rebalances_assigned: counter!("rum_aggregator_rebalances_total", "stage" => stage, "change" => "assigned"),
            rebalances_revoked: counter!("rum_aggregator_rebalances_total", "stage" => stage, "change" => "revoked"),
            owned: gauge!("rum_aggregator_partitions_owned", "stage" => stage),
            snapshots: counter!("rum_aggregator_snapshots_total", "stage" => stage, "outcome" => "committed"),
            snapshots_unreadable: counter!("rum_aggregator_snapshots_total", "stage" => stage, "outcome" => "unreadable"),
            edge_to_stage2: histogram!("rum_aggregator_edge_to_stage2_seconds"),
            dropped: DropCounters::register(Item::Partial),
            orphan_rejoins: counter!("rum_aggregator_orphan_rejoins_total", "stage" => stage),
        }
    }
}

/// Stage 2 as a group member. Run it on a thread of its own with [`run`](Self::run).
pub struct Stage2Worker<C, P, R> {
    settings: Stage2WorkerSettings,
    consumer: C,
    producer: P,
    reader: R,
    owned: HashMap<i32, Owned>,
    restoring: std::collections::BTreeSet<i32>,
    last_restore_attempt: Instant,
    observers: Option<ObserverFactory>,
    queries: mpsc::Receiver<WorkerQuery>,
    next_ticket: u64,
    /// ticket -> (partition, generation, part)
    tickets: HashMap<u64, (i32, u64, u32)>,
    next_generation: u64,
    last_lag: Instant,
    gauges: super::gauges::PartitionGauges,
    state_gauges: crate::metrics::StateGauges,
    last_observe_check: Instant,
    deliveries: Vec<Delivery>,
    /// Made once the partials topic's partition count is known (first assignment).
    orphans: Option<OrphanWatch>,
    health: Arc<StageHealth>,
    metrics: Metrics,
}

impl<C: GroupConsumer, P: LogProducer, R: PartitionReader> Stage2Worker<C, P, R> {
    /// The worker, and the handle other threads query it through.
    pub fn new(
        settings: Stage2WorkerSettings,
        consumer: C,
        producer: P,
        reader: R,
        observers: Option<ObserverFactory>,
        health: Arc<StageHealth>,
    ) -> (Self, Stage2Handle) {
        let (queries_tx, queries) = mpsc::sync_channel(16);
        (
            Self {
                settings,
                consumer,
                producer,
                reader,
                owned: HashMap::new(),
                restoring: std::collections::BTreeSet::new(),
                last_restore_attempt: Instant::now(),
                observers,
                queries,
                next_ticket: 0,
                tickets: HashMap::new(),
                next_generation: 0,
                last_lag: Instant::now(),
                gauges: super::gauges::PartitionGauges::new("stage2"),
                state_gauges: crate::metrics::StateGauges::register(),
                last_observe_check: Instant::now(),
                deliveries: Vec::new(),
                orphans: None,
                health,
                metrics: Metrics::register(),
            },
            Stage2Handle {
                queries: queries_tx,
            },
        )
    }

    /// Runs until `stop` is set, then snapshots every partition (waiting a few seconds for the
    /// acknowledgements) so the next owner replays little.
    pub fn run(mut self, stop: &AtomicBool) -> Result<(), LogError> {
        self.health.set_running(true);
        let _panic = super::health::FailedOnPanic::new(Arc::clone(&self.health));
        let mut outcome = Ok(());
        while !stop.load(Ordering::Relaxed) {
            if let Err(error) = self.step() {
                outcome = Err(error);
                self.health.set_failed();
                break;
            }
        }
        let partitions: Vec<i32> = self.owned.keys().copied().collect();
        for partition in partitions {
            if self
                .owned
                .get(&partition)
                .is_some_and(|owned| owned.caught_up && owned.snapshot.is_none())
            {
                self.start_snapshot(partition);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.owned.values().any(|owned| owned.snapshot.is_some())
        {
            self.producer.flush(Duration::from_millis(200));
            self.on_deliveries();
            if let Err(error) = self.commit_snapshots() {
                tracing::warn!(%error, "final snapshot not committed");
                break;
            }
        }
        self.health.set_running(false);
        outcome
    }

    /// One round. Broker trouble is retried, never fatal.
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
        self.answer_queries();
        self.observe();
        self.retry_restores();
        self.start_due_snapshots();
        self.on_deliveries();
        if let Err(error) = self.commit_snapshots() {
            broker_trouble("commit failed", &error);
        }
        self.report_lag();
        self.rejoin_if_orphans();
        Ok(())
    }

    fn rejoin_if_orphans(&mut self) {
        if self.orphans.is_none() {
            let topic = self.settings.topics.partials.clone();
            if let Ok(partitions) = self.consumer.partition_count(&topic) {
                self.orphans = Some(OrphanWatch::new(
                    &self.settings.topics.stage2_state,
                    partitions,
                    self.settings.orphan_after,
                ));
            }
        }
        let owned: Vec<i32> = self
            .owned
            .keys()
            .chain(self.restoring.iter())
            .copied()
            .collect();
        let is_owned = |partition: i32| owned.contains(&partition);
        let Some(watch) = self.orphans.as_mut() else {
            return;
        };
        let Some(orphan) = watch.orphaned(&mut self.consumer, &is_owned) else {
            return;
        };
        tracing::warn!(
            partition = orphan,
            "a partials partition has no working owner; rejoining the group so it is assigned again"
        );
        self.metrics.orphan_rejoins.increment(1);
        self.on_revoked(&owned);
        if let Err(error) = self.consumer.rejoin() {
            broker_trouble("rejoin failed", &error);
        }
        if let Some(watch) = self.orphans.as_mut() {
            watch.reset();
        }
    }

    fn answer_queries(&mut self) {
        while let Ok(query) = self.queries.try_recv() {
            let mut stages: Vec<(&i32, &Stage2)> = self
                .owned
                .iter()
                .filter(|(_, owned)| owned.caught_up)
                .map(|(number, owned)| (number, &owned.stage2))
                .collect();
            stages.sort_by_key(|(number, _)| **number);
            let stages: Vec<&Stage2> = stages.into_iter().map(|(_, stage2)| stage2).collect();
            query(&stages);
        }
    }

    fn observe(&mut self) {
        if self.last_observe_check.elapsed() < OBSERVE_CHECK {
            return;
        }
        self.last_observe_check = Instant::now();
        let now = now_ms();
        for owned in self.owned.values_mut() {
            if !owned.caught_up {
                continue;
            }
            let Some(observer) = owned.observer.as_mut() else {
                continue;
            };
            if owned.last_observed.elapsed() >= observer.interval() {
                owned.last_observed = Instant::now();
                observer.observe(&owned.stage2, now);
            }
        }
    }

    fn on_record(&mut self, record: rum_transport::log::LogRecord) {
        let Some(owned) = self.owned.get_mut(&record.partition) else {
            return;
        };
        if record.offset < owned.expected {
            return;
        }
        owned.expected = record.offset + 1;
        if !owned.caught_up && owned.expected >= owned.catch_up_to {
            owned.caught_up = true;
            tracing::info!(partition = record.partition, "stage 2 partition caught up");
        }
        let batch = match PartialBatch::decode(record.payload.as_slice()) {
            Ok(batch) => batch,
            Err(_) => {
                self.metrics.dropped.count(PartialDrop::Undecodable);
                return;
            }
        };
        let complete = if batch.parts <= 1 {
            Some(batch)
        } else {
            collect_part(owned, batch)
        };
        if let Some(batch) = complete {
            apply_chunk(owned, batch, &self.metrics);
        }
        kill_point("stage2.after_apply");
        self.publish_health();
    }

    fn start_due_snapshots(&mut self) {
        let due: Vec<i32> = self
            .owned
            .iter()
            // Also while catching up: a snapshot is valid at any position (it is the state after
            // the partials before it), and a moving pointer tells the group the partition is owned.
            .filter(|(_, owned)| owned.snapshot.is_none() && owned.snapshot_due <= Instant::now())
            .map(|(number, _)| *number)
            .collect();
        for partition in due {
            self.start_snapshot(partition);
        }
    }

    fn start_snapshot(&mut self, partition: i32) {
        let Some(owned) = self.owned.get_mut(&partition) else {
            return;
        };
        let mut state = owned.stage2.export();
        state.partition = partition;
        state.next_offset = owned.expected;
        state.source_partitions = owned.source_partitions;
        state.sources = owned
            .sources
            .iter()
            .map(|(number, source)| SourceProgress {
                partition: *number,
                applied_upto: source.applied_upto.unwrap_or(-1),
                tick_ms: source.tick_ms,
            })
            .collect();
        state.pending_parts = owned
            .pending_parts
            .values()
            .flatten()
            .flatten()
            .map(Message::encode_to_vec)
            .collect();
        state.alerts = owned
            .observer
            .as_ref()
            .map(|observer| observer.snapshot())
            .unwrap_or_default();
        let bytes = state.encode_to_vec();
        let generation = owned.generation;
        let position = owned.expected;
        let parts = parts::snapshot_parts(snapshot_id(position), &bytes);
        let count = parts.len();
        owned.snapshot = Some(PendingSnapshot {
            outstanding: count,
            first_offset: None,
            position,
            bytes: bytes.len(),
        });
        for part in parts {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            self.tickets
                .insert(ticket, (partition, generation, part.part));
            if let Err(error) = self.producer.send(
                &self.settings.topics.stage2_state,
                partition,
                Some(&parts::part_key(partition, part.part)),
                &part.encode_to_vec(),
                ticket,
            ) {
                broker_trouble("snapshot not handed to the producer", &error);
                if let Some(owned) = self.owned.get_mut(&partition) {
                    owned.snapshot = None;
                    owned.snapshot_due = Instant::now() + self.settings.snapshot_interval;
                }
                return;
            }
            if part.part == 0 && count > 1 {
                kill_point("stage2.during_snapshot");
            }
        }
        if count == 1 {
            kill_point("stage2.during_snapshot");
        }
    }

    fn on_deliveries(&mut self) {
        let mut deliveries = std::mem::take(&mut self.deliveries);
        self.producer.deliveries(&mut deliveries);
        for delivery in deliveries.drain(..) {
            let Some((partition, generation, part)) = self.tickets.remove(&delivery.ticket) else {
                continue;
            };
            let Some(owned) = self.owned.get_mut(&partition) else {
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
                    tracing::warn!(partition, %error, "stage 2 snapshot not written; trying again later");
                    owned.snapshot = None;
                    owned.snapshot_due = Instant::now() + self.settings.snapshot_interval;
                }
            }
        }
        self.deliveries = deliveries;
    }

    fn commit_snapshots(&mut self) -> Result<(), LogError> {
        let ready: Vec<(i32, i64, i64, usize)> = self
            .owned
            .iter()
            .filter_map(|(number, owned)| {
                let snapshot = owned.snapshot.as_ref()?;
                let first = snapshot.first_offset?;
                (snapshot.outstanding == 0).then_some((
                    *number,
                    first,
                    snapshot.position,
                    snapshot.bytes,
                ))
            })
            .collect();
        for (number, first, position, bytes) in ready {
            self.consumer
                .commit(&[(&self.settings.topics.stage2_state, number, first)])?;
            self.consumer
                .commit(&[(&self.settings.topics.partials, number, position)])?;
            let interval = self.settings.snapshot_interval;
            if let Some(owned) = self.owned.get_mut(&number) {
                owned.snapshot = None;
                owned.snapshot_due = Instant::now() + interval;
                owned.last_snapshot_at = Instant::now();
            }
            self.metrics.snapshots.increment(1);
            self.gauges.snapshot_committed(number, bytes);
        }
        Ok(())
    }

    fn report_lag(&mut self) {
        if self.last_lag.elapsed() < LAG_INTERVAL {
            return;
        }
        self.last_lag = Instant::now();
        let mut size = crate::stage2::StateSize::default();
        for owned in self.owned.values() {
            size += owned.stage2.size();
        }
        self.state_gauges.set(size);
        let owned: Vec<(i32, i64, Instant)> = self
            .owned
            .iter()
            .map(|(number, owned)| (*number, owned.expected, owned.last_snapshot_at))
            .collect();
        self.gauges.report(&mut self.consumer, owned);
    }

    fn on_revoked(&mut self, revoked: &[i32]) {
        self.metrics.rebalances_revoked.increment(1);
        for partition in revoked {
            // Dropped without a word to alert receivers: the next owner carries the alerts on
            // from the partition's snapshot, so nothing resolves falsely or fires twice.
            self.owned.remove(partition);
            self.restoring.remove(partition);
            self.gauges.revoked(*partition);
        }
        self.publish_health();
    }

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
        let mut owned = self.restore(number)?;
        self.next_generation += 1;
        owned.generation = self.next_generation;
        let (_, end) = self.consumer.watermarks(number)?;
        owned.catch_up_to = end;
        owned.caught_up = owned.expected >= end;
        self.consumer.seek(number, owned.expected)?;
        self.owned.insert(number, owned);
        Ok(())
    }

    fn restore(&mut self, number: i32) -> Result<Owned, LogError> {
        let topics = self.settings.topics.clone();
        let mut observer = self.observers.as_ref().map(|factory| factory(number));
        let fresh =
            |stage2: Stage2, expected: i64, observer: Option<Box<dyn SegmentObserver>>| Owned {
                stage2,
                generation: 0,
                expected,
                sources: BTreeMap::new(),
                source_partitions: 0,
                pending_parts: HashMap::new(),
                catch_up_to: 0,
                caught_up: false,
                observer,
                last_observed: Instant::now(),
                snapshot_due: Instant::now() + self.settings.snapshot_interval,
                snapshot: None,
                last_snapshot_at: Instant::now(),
            };
        if let Some(pointer) = self.consumer.committed(&topics.stage2_state, number)? {
            if let Some(bytes) =
                parts::read_snapshot(&mut self.reader, &topics.stage2_state, number, pointer)?
                && let Ok(state) = Stage2State::decode(bytes.as_slice())
                && state.partition == number
            {
                let (stage2, dropped) = Stage2::import(self.settings.aggregation.clone(), &state);
                if dropped > 0 {
                    tracing::warn!(
                        partition = number,
                        dropped,
                        "snapshot segments of unknown views dropped"
                    );
                }
                if let Some(observer) = observer.as_mut() {
                    observer.restore(&state.alerts);
                }
                let mut owned = fresh(stage2, state.next_offset, observer);
                owned.source_partitions = state.source_partitions;
                for source in &state.sources {
                    owned.sources.insert(
                        source.partition,
                        Source {
                            applied_upto: (source.applied_upto >= 0).then_some(source.applied_upto),
                            tick_ms: source.tick_ms,
                        },
                    );
                }
                for part in &state.pending_parts {
                    if let Ok(batch) = PartialBatch::decode(part.as_slice()) {
                        collect_part(&mut owned, batch);
                    }
                }
                tracing::info!(
                    partition = number,
                    position = state.next_offset,
                    segments = state.segments.len(),
                    "stage 2 partition restored"
                );
                return Ok(owned);
            }
            self.metrics.snapshots_unreadable.increment(1);
            tracing::error!(
                partition = number,
                pointer,
                "stage 2 snapshot unreadable; the partition starts without its windows"
            );
        }
        let position = match self.consumer.committed(&topics.partials, number)? {
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
            .commit(&[(&topics.partials, number, position)])?;
        tracing::info!(
            partition = number,
            position,
            "stage 2 partition starts fresh"
        );
        Ok(fresh(
            Stage2::for_partition(self.settings.aggregation.clone()),
            position,
            observer,
        ))
    }

    fn publish_health(&self) {
        let not_ready =
            self.owned.values().filter(|owned| !owned.caught_up).count() + self.restoring.len();
        let owned = self.owned.len() + self.restoring.len();
        self.metrics.owned.set(owned as f64);
        self.health.set_partitions(owned, not_ready);
    }
}

/// Keeps a part; the whole chunk's batch once every part is there.
fn collect_part(owned: &mut Owned, batch: PartialBatch) -> Option<PartialBatch> {
    let chunk = chunk_of(&batch);
    let parts = batch.parts as usize;
    if batch.part as usize >= parts
        || owned.pending_parts.values().map(Vec::len).sum::<usize>() > MAX_PENDING_PARTS
    {
        return None;
    }
    let slots = owned
        .pending_parts
        .entry(chunk)
        .or_insert_with(|| vec![None; parts]);
    if slots.len() != parts {
        return None;
    }
    let index = batch.part as usize;
    slots[index] = Some(batch);
    if slots.iter().any(Option::is_none) {
        return None;
    }
    let mut slots = owned.pending_parts.remove(&chunk)?.into_iter().flatten();
    let mut whole = slots.next()?;
    for part in slots {
        whole.partials.extend(part.partials);
    }
    whole.part = 0;
    whole.parts = 1;
    Some(whole)
}

/// Applies a whole chunk once, then moves the clock to the slowest source partition's tick.
fn apply_chunk(owned: &mut Owned, batch: PartialBatch, metrics: &Metrics) {
    let source = owned.sources.entry(batch.source_partition).or_default();
    if let Some(applied) = source.applied_upto {
        if batch.end_offset <= applied {
            metrics.duplicates.increment(1);
            return;
        }
        if batch.start_offset != applied {
            metrics.gaps.increment(1);
            tracing::error!(
                source = batch.source_partition,
                applied,
                start = batch.start_offset,
                end = batch.end_offset,
                "partials chunk does not follow the last applied one"
            );
            if batch.start_offset < applied {
                // Overlaps what is applied: applying it would count part of it twice.
                return;
            }
        }
    }
    source.applied_upto = Some(batch.end_offset);
    source.tick_ms = source.tick_ms.max(batch.tick_ms);
    owned.source_partitions = owned.source_partitions.max(batch.source_partitions);
    if batch.newest_received_ms > 0 {
        metrics
            .edge_to_stage2
            .record(((now_ms() - batch.newest_received_ms).max(0) as f64) / 1000.0);
    }
    for partial in batch.partials {
        owned.stage2.apply(partial);
    }
    metrics.applied.increment(1);
    // The clock: the slowest of every beacon partition (one that has not reported holds it).
    let all_reported = (0..owned.source_partitions).all(|partition| {
        owned
            .sources
            .get(&partition)
            .is_some_and(|source| source.tick_ms > 0)
    });
    if all_reported {
        let slowest = owned
            .sources
            .values()
            .map(|source| source.tick_ms)
            .min()
            .unwrap_or(0);
        owned.stage2.advance(slowest);
    }
}

fn snapshot_id(position: i64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (position as u64).rotate_left(32) ^ 0x5354_4147_4532
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}
