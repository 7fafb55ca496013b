//! `rum standalone`'s state across restarts: stage 2's state (the same `Stage2State` a worker
//! writes to its state topic) in one file under `aggregator.state_dir`, written every
//! `aggregator.state_interval` and at shutdown, read back at start.
//!
//! The file is `RUMSTAT1`, a format version, the payload's length and CRC-32, then the payload.
//! It is written to a temporary file, synced and renamed over the old one, so a crash mid-write
//! leaves the previous file. A missing file is a first start; a corrupt, truncated or other-version
//! file is reported and ignored (the process starts empty), never fatal.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;
use rum_schema::proto::Stage2State;

const MAGIC: &[u8; 8] = b"RUMSTAT1";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 8 + 4 + 8 + 4;
const FILE_NAME: &str = "standalone-stage2.state";

/// Why a state file was not used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a rum state file (bad magic or shorter than its header)")]
    NotAState { path: String },
    #[error("{path} has format version {found}; this build reads {VERSION}")]
    Version { path: String, found: u32 },
    #[error("{path} is corrupt: {what}")]
    Corrupt { path: String, what: String },
}

#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `dir` (created on the first save).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, `Ok(None)` when there is none yet.
    pub fn load(&self) -> Result<Option<Stage2State>, StateFileError> {
        let path = self.path.display().to_string();
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateFileError::Read { path, source }),
        };
        if bytes.len() < HEADER_BYTES || &bytes[..8] != MAGIC {
            return Err(StateFileError::NotAState { path });
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(StateFileError::Version {
                path,
                found: version,
            });
        }
        let length = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let checksum = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER_BYTES..];
        if payload.len() as u64 != length {
            return Err(StateFileError::Corrupt {
                path,
                what: format!("{} payload bytes, the header says {length}", payload.len()),
            });
        }
        if crc32fast::hash(payload) != checksum {
            return Err(StateFileError::Corrupt {
                path,
                what: "checksum mismatch".into(),
            });
        }
        Stage2State::decode(payload)
            .map(Some)
            .map_err(|error| StateFileError::Corrupt {
                path,
                what: error.to_string(),
            })
    }

    /// Writes `state` in place of the previous file (atomically: temporary file, sync, rename).
    /// Returns the bytes written.
    pub fn save(&self, state: &Stage2State) -> std::io::Result<usize> {
        let payload = state.encode_to_vec();
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temporary = self.path.with_extension("state.tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&VERSION.to_le_bytes())?;
        file.write_all(&(payload.len() as u64).to_le_bytes())?;
        file.write_all(&crc32fast::hash(&payload).to_le_bytes())?;
        file.write_all(&payload)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = std::fs::File::open(dir)
        {
            // The rename is durable once the directory is synced; best effort.
            let _ = dir.sync_all();
        }
        Ok(HEADER_BYTES + payload.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rum-state-test-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_saved_state_loads_back_and_a_missing_one_is_none() {
        let dir = temp_dir("round-trip");
        let file = StateFile::in_dir(&dir);
        assert!(file.load().unwrap().is_none());
        let state = Stage2State {
            watermark_minute: 29_396_000,
            late: 3,
            ..Stage2State::default()
        };
        let written = file.save(&state).unwrap();
        assert_eq!(
            written as u64,
            std::fs::metadata(file.path()).unwrap().len()
        );
        assert_eq!(file.load().unwrap(), Some(state));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_truncated_foreign_and_other_version_files_are_refused_with_a_reason() {
        let dir = temp_dir("corrupt");
        let file = StateFile::in_dir(&dir);
        let state = Stage2State {
            watermark_minute: 1,
            ..Stage2State::default()
        };
        file.save(&state).unwrap();
        let good = std::fs::read(file.path()).unwrap();
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        let mut other_version = good.clone();
        other_version[8] = 9;
        for (bytes, reason) in [
            (flipped, "checksum mismatch"),
            (good[..good.len() - 1].to_vec(), "payload bytes"),
            (b"hello".to_vec(), "not a rum state file"),
            (other_version, "format version 9"),
        ] {
            std::fs::write(file.path(), &bytes).unwrap();
            let error = file.load().unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
