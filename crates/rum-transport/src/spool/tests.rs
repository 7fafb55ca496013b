use std::time::Duration;

use super::*;

fn settings(dir: &Path) -> SpoolSettings {
    SpoolSettings {
        dir: dir.to_owned(),
        mode: SpoolMode::Overflow,
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(3600),
        segment_bytes: 1 << 20,
        segment_age: Duration::from_secs(60),
        fsync_interval: Duration::from_millis(50),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rum-spool-{name}-{}-{}",
        std::process::id(),
        now_ms()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn record(n: usize) -> SinkRecord {
    SinkRecord {
        key: format!("site/pv-{n}").into_bytes(),
        payload: format!("payload number {n} {}", "x".repeat(n % 97)).into_bytes(),
    }
}

fn append_all(spool: &Spool, range: std::ops::Range<usize>) {
    for n in range {
        spool
            .append(&record(n), SpoolCause::BrokerDown)
            .expect("append");
    }
}

/// Takes everything pending, acking as it goes; returns the record numbers in order.
fn drain(spool: &Spool) -> Vec<SinkRecord> {
    let mut out = Vec::new();
    loop {
        let batch = spool.take(7, Duration::from_millis(10));
        if batch.is_empty() {
            return out;
        }
        for taken in batch {
            out.push(taken.record);
            spool.ack(taken.position);
        }
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == SEGMENT_EXTENSION))
        .collect();
    files.sort();
    files
}

#[test]
fn records_replay_in_order_and_replayed_segments_are_deleted() {
    let dir = temp_dir("order");
    let mut settings = settings(&dir);
    settings.segment_bytes = 4096;
    let (spool, recovery) = Spool::open(settings).unwrap();
    assert_eq!(recovery, Recovery::default());
    append_all(&spool, 0..300);
    assert!(segment_files(&dir).len() > 3, "rolled by size");
    assert_eq!(spool.stats().records, 300);
    let replayed = drain(&spool);
    assert_eq!(replayed, (0..300).map(record).collect::<Vec<_>>());
    assert_eq!(spool.stats().records, 0);
    assert_eq!(spool.in_flight(), 0);
    // Only the active segment may remain.
    assert!(segment_files(&dir).len() <= 1);
    spool.close();
    assert!(segment_files(&dir).len() <= 1);
}

#[test]
fn a_restart_replays_what_was_left_from_the_saved_cursor() {
    let dir = temp_dir("restart");
    let (spool, _) = Spool::open(settings(&dir)).unwrap();
    append_all(&spool, 0..10);
    let batch = spool.take(4, Duration::ZERO);
    assert_eq!(batch.len(), 4);
    // The first one is delivered, the next three are still in flight at shutdown.
    spool.ack(batch[0].position);
    spool.close();
    drop(spool);
    let (spool, recovery) = Spool::open(settings(&dir)).unwrap();
    assert_eq!(
        recovery.records, 9,
        "everything after the first unacked record"
    );
    assert_eq!(drain(&spool), (1..10).map(record).collect::<Vec<_>>());
    spool.close();
}

#[test]
fn a_second_collector_cannot_open_the_same_spool() {
    let dir = temp_dir("lock");
    let (_spool, _) = Spool::open(settings(&dir)).unwrap();
    assert!(matches!(
        Spool::open(settings(&dir)),
        Err(SpoolError::Locked { .. })
    ));
}

#[test]
fn a_torn_tail_keeps_every_whole_record_and_counts_the_rest() {
    let dir = temp_dir("torn");
    let (spool, _) = Spool::open(settings(&dir)).unwrap();
    append_all(&spool, 0..5);
    spool.close();
    drop(spool);
    let segment = segment_files(&dir).pop().unwrap();
    let bytes = std::fs::read(&segment).unwrap();
    let last = record::framed_len(&record(4).key, &record(4).payload) as usize;
    // Power loss in the middle of the last record's write.
    std::fs::write(&segment, &bytes[..bytes.len() - last / 2]).unwrap();
    let (spool, recovery) = Spool::open(settings(&dir)).unwrap();
    assert_eq!(recovery.records, 4);
    assert_eq!(recovery.corrupt, 1);
    assert_eq!(recovery.corrupt_bytes, (last - last / 2) as u64);
    assert_eq!(drain(&spool), (0..4).map(record).collect::<Vec<_>>());
    // New appends after a repaired tail frame correctly.
    append_all(&spool, 10..12);
    assert_eq!(drain(&spool), (10..12).map(record).collect::<Vec<_>>());
}

#[test]
fn a_flipped_byte_loses_only_its_record() {
    let dir = temp_dir("flip");
    let (spool, _) = Spool::open(settings(&dir)).unwrap();
    append_all(&spool, 0..5);
    spool.close();
    drop(spool);
    let segment = segment_files(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let first = record::framed_len(&record(0).key, &record(0).payload) as usize;
    let second = record::framed_len(&record(1).key, &record(1).payload) as usize;
    bytes[first + second / 2] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let (spool, recovery) = Spool::open(settings(&dir)).unwrap();
    assert_eq!(recovery.records, 4);
    assert_eq!(recovery.corrupt, 1);
    let expected: Vec<SinkRecord> = [0, 2, 3, 4].into_iter().map(record).collect();
    assert_eq!(drain(&spool), expected);
}

#[test]
fn a_full_spool_refuses_appends_until_replay_frees_room() {
    let dir = temp_dir("full");
    let mut settings = settings(&dir);
    settings.max_bytes = 8 << 10;
    settings.segment_bytes = 2 << 10;
    let (spool, _) = Spool::open(settings).unwrap();
    let mut appended = 0;
    while spool
        .append(&record(appended), SpoolCause::QueueFull)
        .is_ok()
    {
        appended += 1;
    }
    assert!(appended > 10, "{appended}");
    assert_eq!(
        spool.append(&record(0), SpoolCause::QueueFull),
        Err(AppendError::Full)
    );
    assert!(!spool.has_room());
    assert_eq!(drain(&spool).len(), appended);
    spool
        .append(&record(0), SpoolCause::QueueFull)
        .expect("room again");
}

#[test]
fn given_back_records_are_read_again_in_order() {
    let dir = temp_dir("give-back");
    let (spool, _) = Spool::open(settings(&dir)).unwrap();
    append_all(&spool, 0..6);
    let batch = spool.take(6, Duration::ZERO);
    spool.ack(batch[0].position);
    spool.ack(batch[1].position);
    let rest: Vec<Position> = batch[2..].iter().map(|taken| taken.position).collect();
    spool.give_back(&rest);
    assert_eq!(spool.stats().records, 4);
    assert_eq!(drain(&spool), (2..6).map(record).collect::<Vec<_>>());
}

#[test]
fn segments_past_the_age_cap_are_dropped_and_counted() {
    let dir = temp_dir("age");
    let mut settings = settings(&dir);
    settings.segment_age = Duration::from_millis(20);
    settings.max_age = Duration::from_millis(200);
    let (spool, _) = Spool::open(settings).unwrap();
    append_all(&spool, 0..5);
    // Housekeeping runs every second.
    let deadline = Instant::now() + Duration::from_secs(5);
    while spool.stats().records > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(spool.stats().records, 0);
    assert!(drain(&spool).is_empty());
    assert!(segment_files(&dir).is_empty());
}

#[test]
fn write_ahead_tickets_resolve_after_the_group_commit() {
    let dir = temp_dir("write-ahead");
    let mut settings = settings(&dir);
    settings.mode = SpoolMode::WriteAhead;
    let (spool, _) = Spool::open(settings).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let tickets: Vec<SyncTicket> = (0..50)
        .map(|n| {
            let sequence = spool.append(&record(n), SpoolCause::WriteAhead).unwrap();
            spool.ticket(sequence)
        })
        .collect();
    runtime.block_on(async {
        for ticket in tickets {
            tokio::time::timeout(Duration::from_secs(5), ticket.wait())
                .await
                .expect("synced in time")
                .expect("synced");
        }
    });
    // Fewer fsyncs than appends: they were grouped. (Read through the file system: the
    // records are in the file before their tickets resolve.)
    let on_disk: usize = segment_files(&dir)
        .iter()
        .map(|path| record::scan(&std::fs::read(path).unwrap()).records.len())
        .sum();
    assert_eq!(on_disk, 50);
}
