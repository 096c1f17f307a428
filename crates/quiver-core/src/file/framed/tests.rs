use super::*;
use crate::file::ByteReader;

/// A minimal layout for the codec's own tests: len u32, body, crc u32 of
/// the body.
#[derive(Clone, Copy)]
struct Plain;

impl FrameLayout for Plain {
    type Frame<'a> = &'a [u8];

    fn decode<'a>(&self, buf: &'a [u8], at: usize) -> Result<(&'a [u8], usize), &'static str> {
        let mut r = ByteReader::detached(buf.get(at..).unwrap_or_default());
        let len = r.u32().map_err(|_| "cut in length")? as usize;
        let body = r.bytes(len).map_err(|_| "cut in body")?;
        let crc = r.u32().map_err(|_| "cut in crc")?;
        if crc32fast::hash(body) != crc {
            return Err("crc mismatch");
        }
        Ok((body, at + r.pos()))
    }
}

fn encode(bodies: &[&[u8]]) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut starts = Vec::new();
    for b in bodies {
        starts.push(buf.len());
        buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
        buf.extend_from_slice(b);
        buf.extend_from_slice(&crc32fast::hash(b).to_le_bytes());
    }
    (buf, starts)
}

const BODIES: [&[u8]; 4] = [b"first", b"", b"third frame", b"last one"];

#[test]
fn empty_log_reads_no_frame_and_is_not_torn() {
    let mut r = FrameReader::new(Plain, &[], 0);
    assert!(r.next().is_none());
    assert!(r.torn().is_none());
    assert_eq!(r.good_len(), 0);
    // A header with nothing after it is an empty log too.
    let header = [9u8; 20];
    let mut r = FrameReader::new(Plain, &header, 20);
    assert!(r.next().is_none());
    assert!(r.torn().is_none());
    assert_eq!(r.good_len(), 20);
}

#[test]
fn whole_frames_are_read_with_their_offsets() {
    let (buf, starts) = encode(&BODIES);
    let read: Vec<(usize, &[u8])> = FrameReader::new(Plain, &buf, 0).collect();
    let expected: Vec<(usize, &[u8])> = starts.iter().copied().zip(BODIES).collect();
    assert_eq!(read, expected);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_frame_keeps_the_others() {
    let (buf, starts) = encode(&BODIES);
    let last = *starts.last().unwrap();
    for cut in last + 1..buf.len() {
        let mut r = FrameReader::new(Plain, &buf[..cut], 0);
        assert_eq!(r.by_ref().count(), BODIES.len() - 1, "cut at {cut}");
        assert_eq!(r.good_len(), last);
        assert_eq!(r.torn().map(|(at, _)| at), Some(last), "cut at {cut}");
        // Nothing whole follows a torn tail.
        assert!(r.resync(last + 1, |_| true).is_none(), "cut at {cut}");
    }
    // Cut exactly at the frame boundary: a clean, shorter log.
    let mut r = FrameReader::new(Plain, &buf[..last], 0);
    assert_eq!(r.by_ref().count(), BODIES.len() - 1);
    assert!(r.torn().is_none());
}

#[test]
fn flipped_byte_mid_log_with_valid_frames_after_is_damage() {
    let (buf, starts) = encode(&BODIES);
    // Every byte of the third frame: the reader stops there, and resync
    // finds the last frame, whole, after it.
    for i in starts[2]..starts[3] {
        let mut bad = buf.clone();
        bad[i] ^= 0x5a;
        let mut r = FrameReader::new(Plain, &bad, 0);
        assert_eq!(r.by_ref().count(), 2, "flip at {i}");
        let (at, _) = r.torn().expect("a bad frame stops the reader");
        assert_eq!(at, starts[2]);
        let mut after = r.resync(at + 1, |_| true).expect("valid frames follow");
        let found: Vec<(usize, &[u8])> = after.by_ref().collect();
        assert!(
            found.contains(&(starts[3], BODIES[3])),
            "flip at {i}: {found:?}"
        );
        assert!(after.torn().is_none());
    }
}

#[test]
fn resync_looks_only_at_candidates() {
    let (buf, starts) = encode(&BODIES);
    let r = FrameReader::new(Plain, &buf, 0);
    let found = r
        .resync(1, |at| at == starts[3])
        .expect("candidate accepted");
    assert_eq!(found.good_len(), starts[3]);
    assert!(r.resync(1, |_| false).is_none());
}

#[test]
fn writer_appends_undoes_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let (buf, starts) = encode(&BODIES);
    // Open over a torn tail: it is cut off.
    std::fs::write(&path, &buf[..starts[1] + 3]).unwrap();
    let mut w = FrameWriter::open(&path, starts[1] as u64, true).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), &buf[..starts[1]]);
    w.append(&buf[starts[1]..starts[3]]).unwrap();
    assert_eq!(w.len(), starts[3] as u64);
    w.append(&buf[starts[3]..]).unwrap();
    w.undo_to(starts[3] as u64);
    assert_eq!(std::fs::read(&path).unwrap(), &buf[..starts[3]]);
    w.append(&buf[starts[3]..]).unwrap();
    w.sync().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), buf);
    w.reset(2, true).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), &buf[..2]);
    assert!(FrameWriter::open_existing(&dir.path().join("missing"), 0, false).is_err());
}
