//! The framing of one spooled record, and the scan that recovers a segment file after a crash.
//!
//! A record is `MAGIC (4) | body length (u32 LE) | CRC-32 of the body (u32 LE) | body`, the body
//! being `key length (u16 LE) | key | payload`. The magic lets a scan find the next record after a
//! damaged one; the checksum tells a good record from a torn or flipped one.

use std::ops::Range;

/// The first bytes of every record.
pub(crate) const MAGIC: [u8; 4] = *b"RSP1";
/// Magic, length and checksum.
pub(crate) const HEADER_BYTES: usize = 12;
/// No beacon comes near this (the edge caps bodies at 256 KiB decompressed); a length beyond it is
/// damage, not a record.
pub(crate) const MAX_BODY_BYTES: usize = 8 << 20;

/// Appends one framed record to `out`. `None` when the key is longer than the frame can say (no
/// partition key is: site ids and page-view ids are short).
pub(crate) fn encode(key: &[u8], payload: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let key_len = u16::try_from(key.len()).ok()?;
    let body_len = 2 + key.len() + payload.len();
    if body_len > MAX_BODY_BYTES {
        return None;
    }
    out.reserve(HEADER_BYTES + body_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let body_at = out.len();
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[body_at..]);
    out[crc_at..body_at].copy_from_slice(&crc.to_le_bytes());
    Some(())
}

/// The bytes a record of this key and payload takes on disk.
#[cfg(test)]
pub(crate) fn framed_len(key: &[u8], payload: &[u8]) -> u64 {
    (HEADER_BYTES + 2 + key.len() + payload.len()) as u64
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    pub key: &'a [u8],
    pub payload: &'a [u8],
    /// Bytes the record took, header included.
    pub len: usize,
}

/// What the bytes at a position hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    Record(Decoded<'a>),
    /// Fewer bytes than the header announces: a write cut short, or damage.
    Incomplete,
    /// Not a record: wrong magic, impossible length or a checksum that does not match.
    Corrupt,
}

pub(crate) fn parse(bytes: &[u8]) -> Parsed<'_> {
    if bytes.len() < HEADER_BYTES {
        return if MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
            Parsed::Incomplete
        } else {
            Parsed::Corrupt
        };
    }
    if bytes[..4] != MAGIC {
        return Parsed::Corrupt;
    }
    let body_len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    if !(2..=MAX_BODY_BYTES).contains(&body_len) {
        return Parsed::Corrupt;
    }
    let Some(body) = bytes.get(HEADER_BYTES..HEADER_BYTES + body_len) else {
        return Parsed::Incomplete;
    };
    let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != crc {
        return Parsed::Corrupt;
    }
    let key_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    let Some(key) = body.get(2..2 + key_len) else {
        return Parsed::Corrupt;
    };
    Parsed::Record(Decoded {
        key,
        payload: &body[2 + key_len..],
        len: HEADER_BYTES + body_len,
    })
}

/// What a scan of a whole segment found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Where each good record lies, in order.
    pub records: Vec<Range<usize>>,
    /// Damaged regions between good records (each lost at least one record).
    pub corrupt_regions: u64,
    /// A damaged or cut-off region after the last good record (a torn write).
    pub torn_tail: bool,
    /// Bytes in damaged regions and the torn tail.
    pub lost_bytes: u64,
}

impl Scan {
    /// Where the last good record ends.
    #[cfg(test)]
    pub fn clean_prefix(&self) -> usize {
        self.records.last().map_or(0, |last| last.end)
    }

    pub fn is_clean(&self) -> bool {
        self.corrupt_regions == 0 && !self.torn_tail
    }
}

/// Walks a segment's bytes: keeps every record whose checksum holds, skips each damaged region
/// to the next good record (found by its magic and checksum), and marks a damaged end as torn.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut at = 0;
    while at < bytes.len() {
        if let Parsed::Record(record) = parse(&bytes[at..]) {
            scan.records.push(at..at + record.len);
            at += record.len;
            continue;
        }
        match next_good_record(bytes, at + 1) {
            Some(next) => {
                scan.corrupt_regions += 1;
                scan.lost_bytes += (next - at) as u64;
                at = next;
            }
            None => {
                scan.torn_tail = true;
                scan.lost_bytes += (bytes.len() - at) as u64;
                break;
            }
        }
    }
    scan
}

fn next_good_record(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + HEADER_BYTES <= bytes.len() {
        let offset = bytes[at..].windows(4).position(|window| window == MAGIC)?;
        at += offset;
        if matches!(parse(&bytes[at..]), Parsed::Record(_)) {
            return Some(at);
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(records: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, payload) in records {
            encode(key, payload, &mut out).expect("fits");
        }
        out
    }

    #[test]
    fn records_read_back_as_written() {
        let bytes = framed(&[(b"site/pv-1", b"payload one"), (b"", b"")]);
        let scan = scan(&bytes);
        assert!(scan.is_clean());
        assert_eq!(scan.records.len(), 2);
        let Parsed::Record(first) = parse(&bytes[scan.records[0].clone()]) else {
            panic!("first record")
        };
        assert_eq!(first.key, b"site/pv-1");
        assert_eq!(first.payload, b"payload one");
        assert_eq!(first.len as u64, framed_len(b"site/pv-1", b"payload one"));
    }

    #[test]
    fn a_cut_off_tail_keeps_every_whole_record() {
        let bytes = framed(&[(b"a", b"one"), (b"b", b"two"), (b"c", b"three")]);
        let whole = scan(&bytes).records;
        for cut in whole[1].end + 1..bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(scan.records, whole[..2], "cut at {cut}");
            assert!(scan.torn_tail && scan.corrupt_regions == 0, "cut at {cut}");
            assert_eq!(scan.clean_prefix(), whole[1].end);
        }
    }

    #[test]
    fn a_flipped_byte_loses_only_its_record() {
        let bytes = framed(&[(b"a", b"one"), (b"b", b"two two"), (b"c", b"three")]);
        let whole = scan(&bytes).records;
        for at in whole[1].clone() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let scan = scan(&damaged);
            assert_eq!(
                scan.records,
                vec![whole[0].clone(), whole[2].clone()],
                "flip at {at}"
            );
            assert_eq!(scan.corrupt_regions, 1, "flip at {at}");
            assert!(!scan.torn_tail);
        }
    }

    #[test]
    fn garbage_is_one_torn_tail() {
        let scan = scan(b"this is not a spool segment at all");
        assert!(scan.records.is_empty() && scan.torn_tail);
    }
}
