//! [`MmapStorage::verify`]: every live vector checked against the CRC-32
//! recorded when it was stored.
//!
//! Reads never check CRCs (that would put a hash on the search path); this
//! pass, `quiver check` and compaction do.

use std::io;

use super::mmap::{DATA_FILE, INDEX_FILE, MmapStorage, Slots};

/// What [`MmapStorage::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Live vectors checked.
    pub checked: usize,
    /// Slots in use in `vectors.dat`, live and dead.
    pub used_slots: u64,
    /// Vectors whose bytes do not match their CRC or cannot be read, in
    /// file order.
    pub bad: Vec<BadVector>,
}

impl VerifyReport {
    /// True when every vector matched its CRC.
    pub fn is_ok(&self) -> bool {
        self.bad.is_empty()
    }
}

/// One vector that failed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadVector {
    /// The id it is stored under.
    pub id: u64,
    /// Its byte offset in `vectors.dat`.
    pub offset: u64,
    /// What is wrong, e.g. `CRC mismatch (recorded 0x1234abcd, data 0x0)`.
    pub problem: String,
}

impl MmapStorage {
    /// Check every live vector against its recorded CRC, under one read
    /// lock of the mapping (writers wait; readers do not). Reads every used
    /// byte of `vectors.dat` once.
    ///
    /// # Errors
    /// None today beyond what reading the mapping can raise; damage is
    /// reported in the [`VerifyReport`], not as an error.
    pub fn verify(&self) -> io::Result<VerifyReport> {
        Ok(self.with_slots(verify_slots))
    }
}

fn verify_slots(slots: &Slots<'_>) -> VerifyReport {
    let mut entries: Vec<(u64, u64)> = slots.offsets.iter().map(|(&id, &off)| (off, id)).collect();
    entries.sort_unstable();
    let mut report = VerifyReport {
        checked: entries.len(),
        used_slots: slots.next_slot,
        bad: Vec::new(),
    };
    for (offset, id) in entries {
        let problem = match slots.range(id, offset) {
            Err(err) => Some(err.to_string()),
            Ok(range) => {
                let crc = slots.data.get(range).map(crc32fast::hash);
                match (crc, slots.crcs.get(&id)) {
                    (Some(crc), Some(&recorded)) if crc == recorded => None,
                    (Some(crc), Some(&recorded)) => Some(format!(
                        "CRC mismatch (recorded {recorded:#010x}, data {crc:#010x})"
                    )),
                    (Some(_), None) => Some(format!("no CRC recorded in {INDEX_FILE}")),
                    (None, _) => Some(format!("slot lies outside {DATA_FILE}")),
                }
            }
        };
        if let Some(problem) = problem {
            report.bad.push(BadVector {
                id,
                offset,
                problem,
            });
        }
    }
    report
}
