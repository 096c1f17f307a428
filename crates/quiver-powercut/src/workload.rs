//! What the writer process does and tells: op lines on stdout, and the
//! values (vectors, payloads) an op line stands for.
//!
//! The writer prints `op <seq> <what>` before it starts an operation and
//! `ack <seq>` once the call that makes it durable has returned, one line
//! each, flushed at once. The checker replays those lines into its model:
//! everything up to the last `ack` must survive a power cut; what came after
//! may or may not. Values are derived from `(id, version)`, so a line needs
//! only the numbers.

use serde_json::{Map, Value, json};

/// Vector dimension both scenarios use.
pub const DIMENSION: usize = 16;
/// Ids are drawn from `0..ID_SPACE`, so ids are overwritten and deleted often.
pub const ID_SPACE: u64 = 48;

/// One operation as the writer announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store the vector of `(id, version)` (storage) or upsert the points
    /// `(id, version)` with vector and payload (collection).
    Store(Vec<(u64, u64)>),
    /// Delete the vectors (storage) or points (collection) of these ids.
    Delete(Vec<u64>),
    /// Store the payload of `(id, version)` (storage only).
    StorePayload(u64, u64),
    /// Delete the payload of `id` (storage only).
    DeletePayload(u64),
    /// Merge `{"tag": version}` into the payloads of these ids (collection only).
    SetTag(u64, Vec<u64>),
    /// Create the collection (collection only).
    Create,
    /// A durability barrier (storage: both flushes; collection: `flush()`).
    Flush,
    /// A payload-store checkpoint (storage).
    Checkpoint,
    /// A payload-store compaction (storage).
    Compact,
}

/// A line of the writer's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `op <seq> ...`: operation `seq` starts.
    Op(u64, Op),
    /// `ack <seq>`: every operation up to `seq` is durable.
    Ack(u64),
}

fn pairs(items: &[(u64, u64)]) -> String {
    items
        .iter()
        .map(|(id, v)| format!("{id}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ids(items: &[u64]) -> String {
    items
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Line {
    /// The line as printed (no newline).
    pub fn render(&self) -> String {
        match self {
            Line::Ack(seq) => format!("ack {seq}"),
            Line::Op(seq, op) => {
                let what = match op {
                    Op::Store(items) => format!("store {}", pairs(items)),
                    Op::Delete(items) => format!("delete {}", ids(items)),
                    Op::StorePayload(id, v) => format!("pstore {id}:{v}"),
                    Op::DeletePayload(id) => format!("pdelete {id}"),
                    Op::SetTag(v, items) => format!("settag {v} {}", ids(items)),
                    Op::Create => "create".to_owned(),
                    Op::Flush => "flush".to_owned(),
                    Op::Checkpoint => "checkpoint".to_owned(),
                    Op::Compact => "compact".to_owned(),
                };
                format!("op {seq} {what}")
            }
        }
    }

    /// Parse a printed line.
    ///
    /// # Errors
    /// A message quoting the line when it is not one [`Line::render`] makes.
    pub fn parse(line: &str) -> Result<Line, String> {
        let bad = || format!("not a writer line: {line:?}");
        let mut words = line.split_ascii_whitespace();
        let num = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok()).ok_or_else(bad);
        let pair = |w: &str| -> Result<(u64, u64), String> {
            let (a, b) = w.split_once(':').ok_or_else(bad)?;
            Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
        };
        match words.next() {
            Some("ack") => Ok(Line::Ack(num(words.next())?)),
            Some("op") => {
                let seq = num(words.next())?;
                let kind = words.next().ok_or_else(bad)?;
                let rest: Vec<&str> = words.collect();
                let op = match kind {
                    "store" => Op::Store(rest.iter().map(|w| pair(w)).collect::<Result<_, _>>()?),
                    "delete" => Op::Delete(
                        rest.iter()
                            .map(|w| num(Some(w)))
                            .collect::<Result<_, _>>()?,
                    ),
                    "pstore" => {
                        let (id, v) = pair(rest.first().ok_or_else(bad)?)?;
                        Op::StorePayload(id, v)
                    }
                    "pdelete" => Op::DeletePayload(num(rest.first().copied())?),
                    "settag" => {
                        let v = num(rest.first().copied())?;
                        let items = rest[1..]
                            .iter()
                            .map(|w| num(Some(w)))
                            .collect::<Result<_, _>>()?;
                        Op::SetTag(v, items)
                    }
                    "create" => Op::Create,
                    "flush" => Op::Flush,
                    "checkpoint" => Op::Checkpoint,
                    "compact" => Op::Compact,
                    _ => return Err(bad()),
                };
                Ok(Line::Op(seq, op))
            }
            _ => Err(bad()),
        }
    }
}

/// The vector of `(id, version)`: finite floats in `[1, 2)` whose 23
/// mantissa bits come from a hash of `(id, version, component)`, so a vector
/// mixing two versions equals neither and no rounding merges two versions.
pub fn vector(id: u64, version: u64) -> Vec<f32> {
    (0..DIMENSION as u64)
        .map(|i| {
            let h = mix(mix(mix(id) ^ version) ^ i);
            f32::from_bits(0x3f80_0000 | (h as u32 & 0x007f_ffff))
        })
        .collect()
}

/// splitmix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The payload of `(id, version)`, of a length that varies with the
/// version so records straddle pages and blocks differently.
pub fn payload(id: u64, version: u64) -> Map<String, Value> {
    let pad = "x".repeat((version % 37 * 53) as usize);
    let value = json!({ "id": id, "version": version, "pad": pad });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let lines = [
            Line::Ack(7),
            Line::Op(1, Op::Store(vec![(3, 9), (4, 10)])),
            Line::Op(2, Op::Delete(vec![1, 2])),
            Line::Op(3, Op::StorePayload(5, 6)),
            Line::Op(4, Op::DeletePayload(5)),
            Line::Op(5, Op::SetTag(8, vec![1])),
            Line::Op(6, Op::Flush),
            Line::Op(6, Op::Create),
            Line::Op(7, Op::Checkpoint),
            Line::Op(8, Op::Compact),
        ];
        for line in lines {
            assert_eq!(Line::parse(&line.render()), Ok(line));
        }
        assert!(Line::parse("op x store").is_err());
        assert!(Line::parse("hello").is_err());
    }

    #[test]
    fn versions_differ_in_every_component() {
        let a = vector(3, 1);
        let b = vector(3, 2);
        assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    }
}
