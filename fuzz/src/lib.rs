//! What the fuzz targets share: CRC sealing, so that mutated inputs also
//! reach the decoding behind each checksum instead of stopping at it.
//!
//! Each file target decodes its input as it is (the checksum checks must
//! refuse what they should) and then, when sealing changes it, the input
//! with every CRC recomputed (the decoding behind the checks must refuse
//! what it should). The sealing walks the frame layouts the way the
//! decoders do, and stops where a frame cannot be whole.

/// The input with its last 4 bytes replaced by the CRC-32 of the others
/// (the layout of every whole-file checkpoint); `None` under 4 bytes.
pub fn seal_trailing_crc(data: &[u8]) -> Option<Vec<u8>> {
    let body_len = data.len().checked_sub(4)?;
    let mut out = data.to_vec();
    let crc = crc32fast::hash(&data[..body_len]);
    out[body_len..].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// `vectors.wal` / `payloads.log` records starting at `start`, each CRC
/// recomputed: op u8, id u64, (store: len u32, body), crc u32 over the rest.
pub fn seal_records(data: &[u8], start: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut at = start;
    loop {
        let covered = match out.get(at) {
            Some(1) => match u32_at(&out, at + 9) {
                Some(len) => 13 + len as usize,
                None => break,
            },
            Some(2) => 9,
            _ => break,
        };
        let end = at + covered;
        if end + 4 > out.len() {
            break;
        }
        let crc = crc32fast::hash(&out[at..end]);
        out[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        at = end + 4;
    }
    out
}

/// An `ops.log`: the header CRC (of magic + base_seq) and every frame's
/// (len u32, crc u32 of the `len` bytes that follow) recomputed.
pub fn seal_op_log(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if out.len() < 20 {
        return out;
    }
    let crc = crc32fast::hash(&out[..16]);
    out[16..20].copy_from_slice(&crc.to_le_bytes());
    let mut at = 20;
    while let Some(len) = u32_at(&out, at) {
        let start = at + 8;
        let Some(end) = start.checked_add(len as usize).filter(|&e| e <= out.len()) else {
            break;
        };
        let crc = crc32fast::hash(&out[start..end]);
        out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
    out
}

/// Runs `decode` on `data` and, when sealing changes it, on the sealed copy.
pub fn raw_and_sealed(
    data: &[u8],
    seal: impl Fn(&[u8]) -> Option<Vec<u8>>,
    mut decode: impl FnMut(&[u8]),
) {
    decode(data);
    if let Some(sealed) = seal(data).filter(|s| s.as_slice() != data) {
        decode(&sealed);
    }
}
