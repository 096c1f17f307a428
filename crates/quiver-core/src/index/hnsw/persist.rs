//! The graph checkpoint file: written atomically, read back with one
//! sequential read and fully validated before use.

use super::HnswConfig;
use super::graph::{DELETED, Graph, MAX_LEVEL, NO_ENTRY, NO_UPPER, PRESENT};
use super::nodes::COUNT_DELETED;
use crate::distance::Metric;
use crate::file::atomic::{remove_if_exists, with_suffix, write_atomic_with};
use crate::file::{ByteReader, corrupt, crc_checked};
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Version 1 carries the vectors; version 2 leaves them to the caller's
/// vector store (a collection keeps them in `vectors.dat` already).
const MAGIC: &[u8; 8] = b"QVHNSW\0\x01";
const MAGIC_LINKS_ONLY: &[u8; 8] = b"QVHNSW\0\x02";
const HEADER_LEN: usize = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 8 + 8;

fn metric_code(m: Metric) -> u32 {
    match m {
        Metric::Cosine => 0,
        Metric::Euclid => 1,
        Metric::Dot => 2,
    }
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the checkpoint atomically. Layout, little-endian:
///
/// | field | type | meaning |
/// |---|---|---|
/// | magic | `[u8; 8]` | `QVHNSW\0` + format version: 1 with vectors, 2 without |
/// | dim | u32 | vector dimension |
/// | metric | u32 | 0 Cosine, 1 Euclid, 2 Dot |
/// | m | u32 | links per upper level (level 0 keeps `2m`) |
/// | ef_construction | u32 | build beam width |
/// | seed | u64 | level-draw seed |
/// | tag | u64 | caller's opaque checkpoint tag |
/// | capacity | u64 | slots (ids `0..capacity`) |
/// | entry | u64 | `(level << 32) \| id`, or `u64::MAX` when empty |
/// | upper_len | u64 | u32 words in the upper-level arena |
/// | levels | `[u8; capacity]` | top level of each slot |
/// | flags | `[u8; capacity]` | bit 0 present, bit 1 deleted |
/// | upper_offset | `[u32; capacity]` | arena offset, `u32::MAX` for level 0 |
/// | links0 | `[u32; capacity * (2m + 1)]` | level-0 lists `[count, ids..]` |
/// | upper | `[u32; upper_len]` | upper lists `[count, ids..]`, `m + 1` words per level |
/// | vectors | `[f32; capacity * dim]` | vectors by id (version 1 only) |
/// | crc | u32 | CRC-32 of every byte before it |
pub(super) fn save(
    g: &Graph,
    metric: Metric,
    config: HnswConfig,
    path: &Path,
    tag: u64,
    with_vectors: bool,
) -> io::Result<()> {
    write_atomic_with(path, true, |out| {
        write_graph(g, metric, config, out, tag, with_vectors)
    })?;
    // Earlier releases wrote the new file as `*.tmp`; one a crash left
    // behind holds nothing needed.
    remove_if_exists(&with_suffix(path, ".tmp"))
}

/// The bytes [`save`] writes.
#[cfg(feature = "fuzzing")]
pub(super) fn encode(
    g: &Graph,
    metric: Metric,
    config: HnswConfig,
    tag: u64,
    with_vectors: bool,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_graph(g, metric, config, &mut out, tag, with_vectors)?;
    Ok(out)
}

fn write_graph(
    g: &Graph,
    metric: Metric,
    config: HnswConfig,
    out: &mut impl Write,
    tag: u64,
    with_vectors: bool,
) -> io::Result<()> {
    let mut w = CrcWriter {
        inner: out,
        crc: crc32fast::Hasher::new(),
    };
    let too_big = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "hnsw parameter does not fit the file format",
        )
    };
    w.write_all(if with_vectors {
        MAGIC
    } else {
        MAGIC_LINKS_ONLY
    })?;
    w.write_all(&u32::try_from(g.dim).map_err(|_| too_big())?.to_le_bytes())?;
    w.write_all(&metric_code(metric).to_le_bytes())?;
    w.write_all(&u32::try_from(g.m).map_err(|_| too_big())?.to_le_bytes())?;
    w.write_all(
        &u32::try_from(g.ef_construction)
            .map_err(|_| too_big())?
            .to_le_bytes(),
    )?;
    w.write_all(&config.seed.to_le_bytes())?;
    w.write_all(&tag.to_le_bytes())?;
    w.write_all(&(g.capacity as u64).to_le_bytes())?;
    w.write_all(&g.entry.load(Ordering::Acquire).to_le_bytes())?;
    w.write_all(&(g.upper.len() as u64).to_le_bytes())?;
    w.write_all(&g.levels)?;
    let flags: Vec<u8> = g.flags.iter().map(|f| f.load(Ordering::Relaxed)).collect();
    w.write_all(&flags)?;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut put_u32s =
        |w: &mut CrcWriter<_>, it: &mut dyn Iterator<Item = u32>| -> io::Result<()> {
            buf.clear();
            for v in it {
                buf.extend_from_slice(&v.to_le_bytes());
                if buf.len() >= 1 << 16 {
                    w.write_all(&buf)?;
                    buf.clear();
                }
            }
            w.write_all(&buf)
        };
    put_u32s(&mut w, &mut g.upper_offset.iter().copied())?;
    put_u32s(
        &mut w,
        // The deleted bit in level-0 counts is a cache of the flags, which
        // are saved; the file keeps plain counts.
        &mut (0..g.capacity as u32).flat_map(|id| {
            let list = g.links(id, 0);
            let count = list
                .first()
                .map(|c| c.load(Ordering::Relaxed) & !COUNT_DELETED);
            count
                .into_iter()
                .chain(list.iter().skip(1).map(|a| a.load(Ordering::Relaxed)))
        }),
    )?;
    put_u32s(
        &mut w,
        &mut g.upper.iter().map(|a| a.load(Ordering::Relaxed)),
    )?;
    if with_vectors {
        put_u32s(
            &mut w,
            &mut (0..g.capacity as u32).flat_map(|id| g.vector(id).iter().map(|f| f.to_bits())),
        )?;
    }
    let crc = w.crc.clone().finalize();
    w.inner.write_all(&crc.to_le_bytes())
}

/// Fills the vector of node `id` into the slice; false when it has none.
pub(super) type VectorSource<'a> = &'a mut dyn FnMut(u32, &mut [f32]) -> bool;

/// Reads a checkpoint of either version. A version 2 file takes the vector
/// of every present node from `external`, and is refused without it or
/// when a node has none there.
pub(super) fn load(
    path: &Path,
    dimension: usize,
    metric: Metric,
    external: Option<VectorSource<'_>>,
) -> io::Result<(Graph, HnswConfig, u64)> {
    decode(path, &fs::read(path)?, dimension, metric, external)
}

/// [`load`] of the bytes of a checkpoint read from `path`.
pub(super) fn decode(
    path: &Path,
    bytes: &[u8],
    dimension: usize,
    metric: Metric,
    external: Option<VectorSource<'_>>,
) -> io::Result<(Graph, HnswConfig, u64)> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(corrupt(
            path,
            0,
            format_args!("file of {} bytes is shorter than the header", bytes.len()),
        ));
    }
    let body = crc_checked(path, bytes)?;
    let mut c = ByteReader::new(path, body);
    let with_vectors = match c.bytes(8)? {
        m if m == MAGIC => true,
        m if m == MAGIC_LINKS_ONLY => false,
        _ => {
            return Err(corrupt(
                path,
                0,
                "not an hnsw checkpoint (bad magic or version)",
            ));
        }
    };
    if !with_vectors && external.is_none() {
        return Err(corrupt(
            path,
            0,
            "checkpoint without vectors, and no vector store to take them from",
        ));
    }
    let dim = c.u32()? as usize;
    if dim != dimension {
        return Err(corrupt(
            path,
            8,
            format_args!("file has dimension {dim}, expected {dimension}"),
        ));
    }
    let code = c.u32()?;
    if code != metric_code(metric) {
        return Err(corrupt(
            path,
            12,
            format_args!("file has metric code {code}, expected {metric:?}"),
        ));
    }
    let m = c.u32()? as usize;
    let ef_construction = c.u32()? as usize;
    if !(2..=1 << 16).contains(&m) || ef_construction == 0 {
        return Err(corrupt(
            path,
            16,
            format_args!("bad parameters m={m} ef_construction={ef_construction}"),
        ));
    }
    let seed = c.u64()?;
    let tag = c.u64()?;
    let capacity =
        usize::try_from(c.u64()?).map_err(|_| corrupt(path, 40, "capacity too large"))?;
    if capacity > u32::MAX as usize + 1 {
        return Err(corrupt(
            path,
            40,
            format_args!("capacity {capacity} exceeds the id space"),
        ));
    }
    let entry = c.u64()?;
    let upper_len = usize::try_from(c.u64()?).map_err(|_| corrupt(path, 56, "arena too large"))?;
    let m0 = 2 * m;
    // Check the total size before allocating anything, so a damaged count
    // cannot ask for a huge allocation.
    let vector_bytes = if with_vectors { 4 * dim } else { 0 };
    let need = capacity
        .checked_mul(2 + 4 + 4 * (m0 + 1) + vector_bytes)
        .and_then(|n| n.checked_add(upper_len.checked_mul(4)?))
        .and_then(|n| n.checked_add(HEADER_LEN));
    if need != Some(body.len()) {
        return Err(corrupt(
            path,
            40,
            format_args!("file size {} does not match its header", bytes.len()),
        ));
    }
    let mut g = Graph::new(dim, m, ef_construction);
    let levels_at = c.offset();
    g.levels = c.bytes(capacity)?.to_vec();
    let flags_at = c.offset();
    let flags = c.bytes(capacity)?;
    g.upper_offset = c.u32s(capacity)?.collect();
    g.grow(capacity);
    let links0_at = c.offset();
    let links0 = c.u32s(capacity * (m0 + 1))?;
    for (slot, word) in (0..capacity as u32)
        .flat_map(|id| g.nodes.links(id).iter())
        .zip(links0)
    {
        slot.store(word, Ordering::Relaxed);
    }
    let upper_at = c.offset();
    g.upper = c.u32s(upper_len)?.map(AtomicU32::new).collect();
    if with_vectors {
        let mut vectors = c.u32s(capacity * dim)?.map(f32::from_bits);
        for id in 0..capacity as u32 {
            for (x, v) in g.nodes.vector_mut(id).iter_mut().zip(&mut vectors) {
                *x = v;
            }
        }
    }

    let mut present = 0usize;
    let mut deleted = 0usize;
    for (i, &f) in flags.iter().enumerate() {
        if f & !(PRESENT | DELETED) != 0 || (f & DELETED != 0 && f & PRESENT == 0) {
            return Err(corrupt(
                path,
                flags_at + i as u64,
                format_args!("bad flags {f:#x} of slot {i}"),
            ));
        }
        present += usize::from(f & PRESENT != 0);
        deleted += usize::from(f & DELETED != 0);
        let level = g.levels[i];
        let off = g.upper_offset[i];
        let ok = if level > MAX_LEVEL || (f & PRESENT == 0 && level != 0) {
            false
        } else if level == 0 {
            off == NO_UPPER
        } else {
            (off as usize)
                .checked_add(level as usize * (m + 1))
                .is_some_and(|end| off != NO_UPPER && end <= upper_len)
        };
        if !ok {
            return Err(corrupt(
                path,
                levels_at + i as u64,
                format_args!("slot {i}: level {level} with arena offset {off}"),
            ));
        }
    }
    g.flags = flags.iter().map(|&f| AtomicU8::new(f)).collect();
    let check_list = |list: &[AtomicU32], what: &str, i: usize, at: u64| -> io::Result<()> {
        let Some((count, entries)) = list.split_first() else {
            return Err(corrupt(
                path,
                at,
                format_args!("slot {i}: missing {what} list"),
            ));
        };
        let n = count.load(Ordering::Relaxed) as usize;
        if n > entries.len() {
            return Err(corrupt(
                path,
                at,
                format_args!("slot {i}: {what} count {n} over {}", entries.len()),
            ));
        }
        for e in &entries[..n] {
            let e = e.load(Ordering::Relaxed);
            if e as usize >= capacity || flags[e as usize] & PRESENT == 0 {
                return Err(corrupt(
                    path,
                    at,
                    format_args!("slot {i}: {what} link to absent node {e}"),
                ));
            }
        }
        Ok(())
    };
    for (i, &f) in flags.iter().enumerate() {
        let id = i as u32;
        if f & PRESENT == 0 {
            continue;
        }
        let list0_at = links0_at + (i * (m0 + 1) * 4) as u64;
        check_list(g.links(id, 0), "level-0", i, list0_at)?;
        for l in 1..=g.levels[i] as usize {
            let word = g.upper_offset[i] as usize + (l - 1) * (m + 1);
            check_list(g.links(id, l), "upper", i, upper_at + (word * 4) as u64)?;
        }
        if f & DELETED != 0 {
            g.nodes.set_deleted(id, true);
        }
    }
    if let (false, Some(source)) = (with_vectors, external) {
        for (i, &f) in flags.iter().enumerate() {
            let id = i as u32;
            if f & PRESENT != 0 && !source(id, g.nodes.vector_mut(id)) {
                return Err(corrupt(
                    path,
                    flags_at + i as u64,
                    format_args!("node {id} has no vector in the vector store"),
                ));
            }
        }
    }
    if entry != NO_ENTRY {
        let (id, level) = ((entry & 0xffff_ffff) as usize, (entry >> 32) as usize);
        if id >= capacity || flags[id] & PRESENT == 0 || g.levels[id] as usize != level {
            return Err(corrupt(
                path,
                48,
                format_args!("bad entry point {id} at level {level}"),
            ));
        }
    } else if present != 0 {
        return Err(corrupt(path, 48, "points present but no entry point"));
    }
    g.entry = AtomicU64::new(entry);
    g.present = AtomicUsize::new(present);
    g.deleted = AtomicUsize::new(deleted);
    let config = HnswConfig {
        m,
        ef_construction,
        seed,
    };
    Ok((g, config, tag))
}
