//! Cutting large messages into parts a broker carries well (tansu 0.6.0 never returns a record
//! larger than what is left of a 5 MiB fetch; Apache Kafka refuses messages over 1 MB by default):
//! snapshots into [`SnapshotPart`]s, a chunk's partials for one partition into several
//! [`PartialBatch`]es. Both cuts are deterministic: the same input gives the same parts.

use std::collections::HashMap;
use std::time::Duration;

use prost::Message;
use rum_schema::proto::{Partial, PartialBatch, SnapshotPart};
use rum_transport::log::{LogError, PartitionReader};

/// The largest part (payload bytes) written.
pub const MAX_PART_BYTES: usize = 512 * 1024;

/// How long reading a snapshot may take.
pub const SNAPSHOT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// `data` as the parts of snapshot `snapshot_id` (at least one).
pub fn snapshot_parts(snapshot_id: u64, data: &[u8]) -> Vec<SnapshotPart> {
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(MAX_PART_BYTES).collect()
    };
    let parts = chunks.len() as u32;
    chunks
        .into_iter()
        .enumerate()
        .map(|(part, bytes)| SnapshotPart {
            snapshot_id,
            part: part as u32,
            parts,
            data: bytes.to_vec(),
        })
        .collect()
}

/// The key of snapshot part `part` of input partition `partition`: with compaction, each
/// partition keeps the latest snapshot's parts.
pub fn part_key(partition: i32, part: u32) -> Vec<u8> {
    format!("{partition}/{part}").into_bytes()
}

/// Collects parts until one snapshot is complete.
#[derive(Default)]
pub struct SnapshotAssembler {
    snapshots: HashMap<u64, Vec<Option<Vec<u8>>>>,
}

impl SnapshotAssembler {
    /// Takes one record of a state partition; the snapshot's bytes once a snapshot is complete.
    /// Records that are not parts (or inconsistent ones) are ignored.
    pub fn push(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let part = SnapshotPart::decode(payload).ok()?;
        if part.parts == 0 || part.part >= part.parts || part.parts > 1 << 20 {
            return None;
        }
        let slots = self
            .snapshots
            .entry(part.snapshot_id)
            .or_insert_with(|| vec![None; part.parts as usize]);
        if slots.len() != part.parts as usize {
            return None;
        }
        slots[part.part as usize] = Some(part.data);
        if slots.iter().all(Option::is_some) {
            let slots = self.snapshots.remove(&part.snapshot_id)?;
            return Some(slots.into_iter().flatten().flatten().collect());
        }
        None
    }
}

/// Reads the first complete snapshot at or after `offset` of `topic`/`partition` (the committed
/// pointer: normally that snapshot's first part; a later one if compaction already replaced it).
pub fn read_snapshot(
    reader: &mut dyn PartitionReader,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<Vec<u8>>, LogError> {
    let mut assembler = SnapshotAssembler::default();
    let mut found = None;
    reader.read(
        topic,
        partition,
        offset,
        SNAPSHOT_READ_TIMEOUT,
        &mut |record| {
            found = assembler.push(&record.payload);
            found.is_none()
        },
    )?;
    Ok(found)
}

/// The fields every part of one chunk's batch for one partition shares.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader {
    pub source_partition: i32,
    pub start_offset: i64,
    pub end_offset: i64,
    pub tick_ms: i64,
    pub source_partitions: i32,
    pub newest_received_ms: i64,
}

/// `partials` as one or more batches of at most about [`MAX_PART_BYTES`] each (always at least
/// one, so an empty chunk still tells its partition how far the source got).
pub fn batches(header: BatchHeader, partials: Vec<Partial>) -> Vec<PartialBatch> {
    let mut groups: Vec<Vec<Partial>> = vec![Vec::new()];
    let mut size = 0usize;
    for partial in partials {
        let bytes = partial.encoded_len() + 4;
        if size + bytes > MAX_PART_BYTES && !groups.last().is_some_and(Vec::is_empty) {
            groups.push(Vec::new());
            size = 0;
        }
        size += bytes;
        groups.last_mut().expect("one group at least").push(partial);
    }
    let parts = groups.len() as u32;
    groups
        .into_iter()
        .enumerate()
        .map(|(part, partials)| PartialBatch {
            source_partition: header.source_partition,
            start_offset: header.start_offset,
            end_offset: header.end_offset,
            tick_ms: header.tick_ms,
            part: part as u32,
            parts,
            partials,
            source_partitions: header.source_partitions,
            newest_received_ms: header.newest_received_ms,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_survives_being_cut_and_reassembled_in_any_order() {
        let data: Vec<u8> = (0..(MAX_PART_BYTES * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let parts = snapshot_parts(7, &data);
        assert_eq!(parts.len(), 3);
        let mut assembler = SnapshotAssembler::default();
        // Another snapshot's part interleaved (a zombie writing too) is kept apart.
        let stray = snapshot_parts(8, b"other");
        assert_eq!(assembler.push(&parts[2].encode_to_vec()), None);
        assert_eq!(
            assembler.push(&stray[0].encode_to_vec()),
            Some(b"other".to_vec())
        );
        assert_eq!(assembler.push(&parts[0].encode_to_vec()), None);
        assert_eq!(assembler.push(b"not a part at all"), None);
        assert_eq!(assembler.push(&parts[1].encode_to_vec()), Some(data));
        assert_eq!(snapshot_parts(9, b"").len(), 1);
    }

    #[test]
    fn batches_are_bounded_and_always_at_least_one() {
        let header = BatchHeader {
            source_partition: 3,
            start_offset: 10,
            end_offset: 20,
            tick_ms: 5,
            source_partitions: 4,
            newest_received_ms: 0,
        };
        let empty = batches(header, Vec::new());
        assert_eq!(empty.len(), 1);
        assert_eq!((empty[0].part, empty[0].parts), (0, 1));
        let big: Vec<Partial> = (0..3000)
            .map(|index| Partial {
                view: "site_route".into(),
                dimension_values: vec!["shop".into(), format!("/route/{index:0>200}")],
                ..Partial::default()
            })
            .collect();
        let cut = batches(header, big.clone());
        assert!(cut.len() > 1);
        assert!(
            cut.iter()
                .all(|batch| batch.encoded_len() <= MAX_PART_BYTES + 1024)
        );
        assert!(cut.iter().all(|batch| batch.parts == cut.len() as u32));
        let back: Vec<Partial> = cut.into_iter().flat_map(|batch| batch.partials).collect();
        assert_eq!(back, big);
        // Deterministic: the same input, the same cut.
        assert_eq!(batches(header, big.clone()), batches(header, big));
    }
}
