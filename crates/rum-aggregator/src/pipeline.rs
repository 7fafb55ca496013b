//! Runs both stages in one process (`rum standalone`), each on a thread of its own: stage 1 reads
//! beacons from the in-process channel and flushes partials every flush interval over a bounded
//! channel to stage 2, which a ticker moves forward in time.
//!
//! Stage 2 is owned by its task: nothing else holds it, so no lock exists that a collector worker
//! could wait on. Everything that reads the windows (the `/metrics` exposition, alert evaluation,
//! JSON queries) sends a closure to that task ([`AggregatorHandle::query`]) and awaits the answer;
//! the caller's thread is free meanwhile, and stage 1 keeps reading beacons on its own thread.

use std::future::Future;

use rum_schema::proto::Partial;
use rum_transport::ChannelSource;
use tokio::sync::{mpsc, oneshot};

use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::stage2::Stage2;
use crate::state_file::StateFile;
use crate::wire::BeaconView;

/// Batches of partials in flight between the stages; a full channel makes stage 1 wait (beacons
/// then queue in the sink channel, whose fullness the collector reports as 503).
const PARTIAL_BATCHES_IN_FLIGHT: usize = 64;
/// Queries waiting for stage 2; past it, a caller waits for room (it is awaiting an answer anyway).
const QUERIES_IN_FLIGHT: usize = 16;
/// Records stage 1 takes from the beacon channel at a time.
const RECV_BATCH: usize = 1024;
/// After a batch, stage 1 lets beacons gather this long before it takes the next. Waiting on the
/// channel instead would wake the stage-1 thread once per beacon under load: a context switch
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

/// A read of stage 2, run on its task.
type Query = Box<dyn FnOnce(&Stage2) + Send>;

/// Asks stage 2 questions from anywhere (the admin listener, the alert evaluator).
#[derive(Clone)]
pub struct AggregatorHandle {
    queries: mpsc::Sender<Query>,
    clock: Clock,
}

impl AggregatorHandle {
    /// Runs `read` on stage 2's task, after moving stage 2 to the current time, and returns its
    /// answer; `None` once the aggregator has stopped. The caller's thread is not blocked: it
    /// awaits the answer while stage 2 computes it.
    pub async fn query<T, F>(&self, read: F) -> Option<T>
    where
        F: FnOnce(&Stage2) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let query: Query = Box::new(move |stage2| {
            // The asker may have given up (a scrape timed out): nothing to do then.
            let _unwanted = answer.send(read(stage2));
        });
        self.queries.send(query).await.ok()?;
        answered.await.ok()
    }

    /// The answer of a JSON endpoint ([`crate::api`]), or `None` for a path it does not serve
    /// (or once the aggregator has stopped).
    pub async fn api(&self, path: String, query: String) -> Option<crate::api::ApiAnswer> {
        self.query(move |stage2| crate::api::answer(&[stage2], &path, &query))
            .await
            .flatten()
    }

    /// The per-segment Prometheus families (empty once the aggregator has stopped).
    pub async fn render(&self) -> String {
        self.query(crate::exposition::render)
            .await
            .unwrap_or_default()
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }
}

/// Names of the threads [`Aggregator::spawn_on_own_threads`] runs the stages on; they share this
/// prefix, which the load benchmark (benches/load) reads to tell the aggregator's CPU time from
/// the collector's.
pub const STAGE1_THREAD_NAME: &str = "rum-stage1";
pub const STAGE2_THREAD_NAME: &str = "rum-stage2";
pub const AGGREGATOR_THREAD_PREFIX: &str = "rum-stage";

/// The running stages.
pub struct Aggregator {
    pub handle: AggregatorHandle,
    /// Resolves once both stages have ended (the beacon source closed and stage 2 took the rest).
    finished: Vec<oneshot::Receiver<()>>,
}

impl Aggregator {
    /// Starts both stages on the current tokio runtime, reading beacons from `source`.
    pub fn spawn(settings: AggregatorSettings, source: ChannelSource, clock: Clock) -> Self {
        let (handle, stage1, stage2) = Self::stages(settings, source, clock);
        let (stage1_done, stage1_finished) = oneshot::channel();
        let (stage2_done, stage2_finished) = oneshot::channel();
        tokio::spawn(async move {
            stage1.await;
            let _ = stage1_done.send(());
        });
        tokio::spawn(async move {
            stage2.await;
            let _ = stage2_done.send(());
        });
        Self {
            handle,
            finished: vec![stage1_finished, stage2_finished],
        }
    }

    /// Starts each stage on a thread of its own ([`STAGE1_THREAD_NAME`], [`STAGE2_THREAD_NAME`],
    /// each a current-thread runtime): a flush, a merge or a render never holds up a collector
    /// worker, a render never holds up stage 1, and the aggregator's CPU time is accounted to its
    /// own threads.
    pub fn spawn_on_own_threads(
        settings: AggregatorSettings,
        source: ChannelSource,
        clock: Clock,
    ) -> std::io::Result<Self> {
        let stage1_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let stage2_runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        // Each stage's timers belong to the runtime that is current when they are created.
        let (handle, stage1, stage2) = {
            let _entered = stage1_runtime.enter();
            Self::stages(settings, source, clock)
        };
        let finished = vec![
            run_on_thread(STAGE1_THREAD_NAME, stage1_runtime, stage1)?,
            run_on_thread(STAGE2_THREAD_NAME, stage2_runtime, stage2)?,
        ];
        Ok(Self { handle, finished })
    }

    /// The handle, and the futures that run stage 1 and stage 2 to their end. Both futures create
    /// their timers when first polled, on whichever runtime polls them.
    fn stages(
        settings: AggregatorSettings,
        source: ChannelSource,
        clock: Clock,
    ) -> (
        AggregatorHandle,
        impl Future<Output = ()> + Send + 'static,
        impl Future<Output = ()> + Send + 'static,
    ) {
        let (partials_tx, partials_rx) = mpsc::channel(PARTIAL_BATCHES_IN_FLIGHT);
        let (queries_tx, queries_rx) = mpsc::channel(QUERIES_IN_FLIGHT);
        let handle = AggregatorHandle {
            queries: queries_tx,
            clock,
        };
        let stage1 = run_stage1(
            Stage1::new(settings.clone()),
            source,
            partials_tx,
            settings.flush_interval,
        );
        let state_file = settings.state_dir.as_deref().map(StateFile::in_dir);
        let stage2 = match &state_file {
            Some(file) => restored_stage2(&settings, file),
            None => Stage2::new(settings.clone()),
        };
        let saving = state_file.map(|file| (file, settings.state_interval));
        let stage2 = run_stage2(stage2, partials_rx, queries_rx, clock, saving);
        (handle, stage1, stage2)
    }

    /// Waits until the beacon source is closed and everything it held reached stage 2.
    pub async fn finish(self) {
        for finished in self.finished {
            let _ = finished.await;
        }
    }
}

/// Runs `stage` to its end on a new thread named `name`; the receiver resolves when it has ended.
fn run_on_thread(
    name: &str,
    runtime: tokio::runtime::Runtime,
    stage: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<oneshot::Receiver<()>> {
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(stage);
            let _ = done.send(());
        })?;
    Ok(finished)
}

async fn run_stage1(
    mut stage1: Stage1,
    mut source: ChannelSource,
    partials: mpsc::Sender<Vec<Partial>>,
    flush_interval: std::time::Duration,
) {
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
                        Err(_) => stage1.undecodable(),
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

/// Stage 2 as the state file saved it, or empty when there is none or it cannot be used (said
/// in the log: a bad file never stops the process).
fn restored_stage2(settings: &AggregatorSettings, file: &StateFile) -> Stage2 {
    match file.load() {
        Ok(Some(state)) => {
            let (stage2, dropped) = Stage2::import_standalone(settings.clone(), &state);
            tracing::info!(
                path = %file.path().display(),
                segments = stage2.segment_count(),
                dropped_segments = dropped,
                "stage 2 state restored"
            );
            stage2
        }
        Ok(None) => {
            tracing::info!(path = %file.path().display(), "no saved stage 2 state: starting empty");
            Stage2::new(settings.clone())
        }
        Err(error) => {
            tracing::warn!(%error, "saved stage 2 state ignored: starting empty");
            Stage2::new(settings.clone())
        }
    }
}

/// Writes stage 2's state to its file (on stage 2's thread, between merges); a failure is logged
/// and the next save tries again.
fn save_state(stage2: &Stage2, file: &StateFile) {
    let started = std::time::Instant::now();
    match file.save(&stage2.export()) {
        Ok(bytes) => tracing::debug!(
            path = %file.path().display(),
            bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "stage 2 state saved"
        ),
        Err(error) => {
            tracing::warn!(%error, path = %file.path().display(), "stage 2 state not saved")
        }
    }
}

async fn run_stage2(
    mut stage2: Stage2,
    mut partials: mpsc::Receiver<Vec<Partial>>,
    mut queries: mpsc::Receiver<Query>,
    clock: Clock,
    saving: Option<(StateFile, std::time::Duration)>,
) {
    let mut advance = tokio::time::interval(ADVANCE_INTERVAL);
    advance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let save_every = saving
        .as_ref()
        .map_or(std::time::Duration::from_secs(3600), |(_, every)| *every);
    let mut save = tokio::time::interval_at(tokio::time::Instant::now() + save_every, save_every);
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let gauges = crate::metrics::StateGauges::register();
    // Every handle dropped (nobody will ask again): stop polling the closed query channel.
    let mut queries_open = true;
    loop {
        tokio::select! {
            batch = partials.recv() => {
                let Some(batch) = batch else { break };
                stage2.advance(clock.now_ms());
                for partial in batch {
                    stage2.apply(partial);
                }
            }
            query = queries.recv(), if queries_open => match query {
                Some(query) => {
                    stage2.advance(clock.now_ms());
                    query(&stage2);
                }
                None => queries_open = false,
            },
            _ = advance.tick() => {
                stage2.advance(clock.now_ms());
                gauges.set(stage2.size());
            }
            _ = save.tick(), if saving.is_some() => {
                if let Some((file, _)) = &saving {
                    stage2.advance(clock.now_ms());
                    save_state(&stage2, file);
                }
            }
        }
    }
    // Shutdown: every partial is in; the next start picks up from here.
    if let Some((file, _)) = &saving {
        stage2.advance(clock.now_ms());
        save_state(&stage2, file);
    }
}
