//! Runs both stages in one process (`rum standalone`): stage 1 reads beacons from the in-process
//! channel and flushes partials every flush interval over a bounded channel to stage 2, which a
//! ticker moves forward in time. The exposition and the alert evaluator read stage 2 under a lock.

use std::future::Future;
use std::sync::{Arc, Mutex};

use rum_schema::proto::Partial;
use rum_transport::ChannelSource;
use tokio::sync::{mpsc, oneshot};

use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::stage2::Stage2;
use crate::wire::BeaconView;

/// Batches of partials in flight between the stages; a full channel makes stage 1 wait (beacons
/// then queue in the sink channel, whose fullness the collector reports as 503).
const PARTIAL_BATCHES_IN_FLIGHT: usize = 64;
/// Records stage 1 takes from the beacon channel at a time.
const RECV_BATCH: usize = 1024;
/// After a batch, stage 1 lets beacons gather this long before it takes the next. Waiting on the
/// channel instead would wake the aggregator thread once per beacon under load: a context switch
/// on the collector's core costs more than stage 1's whole work on the beacon. The channel holds
/// far more than a millisecond of beacons (`sink.channel_capacity`).
const GATHER_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);
/// How often stage 2 moves its windows forward when no data arrives.
const ADVANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Wall-clock milliseconds, derived from tokio's clock so paused-time tests control it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch_ms_at_start: i64,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn system() -> Self {
        Self::starting_at(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as i64),
        )
    }

    /// A clock reading `epoch_ms` now (tests).
    pub fn starting_at(epoch_ms: i64) -> Self {
        Self {
            epoch_ms_at_start: epoch_ms,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.epoch_ms_at_start + self.start.elapsed().as_millis() as i64
    }
}

/// Shared access to stage 2 for the exposition and the alert evaluator.
#[derive(Clone)]
pub struct AggregatorHandle {
    stage2: Arc<Mutex<Stage2>>,
    clock: Clock,
}

impl AggregatorHandle {
    /// Runs `read` on stage 2 after moving it to the current time.
    pub fn read<T>(&self, read: impl FnOnce(&Stage2) -> T) -> T {
        let mut stage2 = self
            .stage2
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        stage2.advance(self.clock.now_ms());
        read(&stage2)
    }

    /// The per-segment Prometheus families.
    pub fn render(&self) -> String {
        self.read(crate::exposition::render)
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }
}

/// The name of the thread [`Aggregator::spawn_on_own_thread`] runs both stages on. The load
/// benchmark (benches/load) reads it to tell the aggregator's CPU time from the collector's.
pub const AGGREGATOR_THREAD_NAME: &str = "rum-aggregator";

/// The running stages.
pub struct Aggregator {
    pub handle: AggregatorHandle,
    /// Resolves once both stages have ended (the beacon source closed and stage 2 took the rest).
    finished: oneshot::Receiver<()>,
}

impl Aggregator {
    /// Starts both stages on the current tokio runtime, reading beacons from `source`.
    pub fn spawn(settings: AggregatorSettings, source: ChannelSource, clock: Clock) -> Self {
        let (aggregator, stages) = Self::start(settings, source, clock);
        tokio::spawn(stages);
        aggregator
    }

    /// Starts both stages on a thread of their own ([`AGGREGATOR_THREAD_NAME`], a current-thread
    /// runtime): a flush or a merge into stage 2 then never holds up a collector worker between two
    /// requests, and the aggregator's CPU time is accounted to its own thread.
    pub fn spawn_on_own_thread(
        settings: AggregatorSettings,
        source: ChannelSource,
        clock: Clock,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (aggregator, stages) = {
            // The stages' timers belong to the runtime that is current when they are created.
            let _entered = runtime.enter();
            Self::start(settings, source, clock)
        };
        std::thread::Builder::new()
            .name(AGGREGATOR_THREAD_NAME.to_owned())
            .spawn(move || runtime.block_on(stages))?;
        Ok(aggregator)
    }

    /// The handle, and the future that runs both stages to their end and then says so.
    fn start(
        settings: AggregatorSettings,
        source: ChannelSource,
        clock: Clock,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let stage2 = Arc::new(Mutex::new(Stage2::new(settings.clone())));
        let handle = AggregatorHandle {
            stage2: stage2.clone(),
            clock,
        };
        let (partials_tx, partials_rx) = mpsc::channel(PARTIAL_BATCHES_IN_FLIGHT);
        let (finished_tx, finished) = oneshot::channel();
        let stage1 = run_stage1(
            Stage1::new(settings.clone()),
            source,
            partials_tx,
            settings.flush_interval,
        );
        let stages = async move {
            // Joined, not spawned: both stages share whichever task runs this future, which keeps
            // the own-thread runtime to one task; they meet only through the partials channel.
            tokio::join!(stage1, run_stage2(stage2, partials_rx, clock));
            let _ = finished_tx.send(());
        };
        (Self { handle, finished }, stages)
    }

    /// Waits until the beacon source is closed and everything it held reached stage 2.
    pub async fn finish(self) {
        let _ = self.finished.await;
    }
}

async fn run_stage1(
    mut stage1: Stage1,
    mut source: ChannelSource,
    partials: mpsc::Sender<Vec<Partial>>,
    flush_interval: std::time::Duration,
) {
    let undecodable =
        metrics::counter!("rum_aggregator_dropped_total", "reason" => "undecodable_beacon");
    let mut flush = tokio::time::interval(flush_interval);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut records = Vec::with_capacity(RECV_BATCH);
    loop {
        tokio::select! {
            received = source.recv_many(&mut records, RECV_BATCH) => {
                if received == 0 { break }
                for record in records.drain(..) {
                    // The view borrows its strings from the payload: nothing is copied.
                    match BeaconView::decode(&record.payload) {
                        Ok(beacon) => stage1.ingest(&beacon),
                        Err(_) => undecodable.increment(1),
                    }
                }
                tokio::time::sleep(GATHER_PAUSE).await;
            }
            _ = flush.tick() => {
                let batch = stage1.flush();
                if !batch.is_empty() && partials.send(batch).await.is_err() {
                    return;
                }
            }
        }
    }
    let batch = stage1.flush();
    if !batch.is_empty() {
        let _ = partials.send(batch).await;
    }
}

async fn run_stage2(
    stage2: Arc<Mutex<Stage2>>,
    mut partials: mpsc::Receiver<Vec<Partial>>,
    clock: Clock,
) {
    let mut advance = tokio::time::interval(ADVANCE_INTERVAL);
    advance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            batch = partials.recv() => {
                let Some(batch) = batch else { break };
                let mut stage2 = stage2.lock().unwrap_or_else(|poison| poison.into_inner());
                stage2.advance(clock.now_ms());
                for partial in batch {
                    stage2.apply(partial);
                }
            }
            _ = advance.tick() => {
                stage2.lock().unwrap_or_else(|poison| poison.into_inner()).advance(clock.now_ms());
            }
        }
    }
}
