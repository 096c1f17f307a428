//! A model of a collection's points as a client's acknowledged writes left
//! them, the writes a client picks, and the judgement of what a server
//! gave back against that model.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::workload::{Op, payload, vector};

/// A point's payload.
pub type Payload = Map<String, Value>;

/// Points by id: vector (as bit patterns, so comparison is bit-exact) and
/// payload (empty when it has none).
pub type Points = BTreeMap<u64, (Vec<u32>, Payload)>;

/// The bit patterns of a vector.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Apply a collection write to `points` as the server must; returns how
/// many points it wrote. `Store` upserts `(id, version)` with its vector
/// and payload; `Delete` deletes; `SetTag` merges `{"tag": version}`;
/// `StorePayload` overwrites the payload with that of `(id, version)`;
/// `DeletePayload` clears it. Payload writes name only existing points.
pub fn apply(points: &mut Points, op: &Op) -> usize {
    match op {
        Op::Store(items) => {
            for &(id, v) in items {
                points.insert(id, (bits(&vector(id, v)), payload(id, v)));
            }
            items.len()
        }
        Op::Delete(items) => {
            for id in items {
                points.remove(id);
            }
            items.len()
        }
        Op::SetTag(v, items) => {
            for id in items {
                if let Some((_, p)) = points.get_mut(id) {
                    p.insert("tag".to_owned(), json!(v));
                }
            }
            items.len()
        }
        Op::StorePayload(id, v) => {
            if let Some((_, p)) = points.get_mut(id) {
                *p = payload(*id, *v);
            }
            1
        }
        Op::DeletePayload(id) => {
            if let Some((_, p)) = points.get_mut(id) {
                p.clear();
            }
            1
        }
        Op::Create | Op::Flush | Op::Checkpoint | Op::Compact => 0,
    }
}

/// Pick the next write of a client that owns `ids` and whose acknowledged
/// state is `acked`, drawing fresh versions from `next_version`. Payload
/// writes name only points of `acked` (a payload write naming a missing
/// point fails whole).
pub fn choose_write(
    rng: &mut impl Rng,
    acked: &Points,
    ids: &[u64],
    mut next_version: impl FnMut() -> u64,
) -> Op {
    let pick = |rng: &mut dyn rand::RngCore, n: usize, present: bool| -> Vec<u64> {
        let pool: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| !present || acked.contains_key(id))
            .collect();
        if pool.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<u64> = (0..n)
            .map(|_| pool[rng.random_range(0..pool.len())])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    let roll = rng.random_range(0..100);
    let n = rng.random_range(1..=3);
    if (45..60).contains(&roll) {
        return Op::Delete(pick(rng, n.min(2), false));
    }
    if roll >= 60 {
        let present = pick(rng, n, true);
        if let Some(&first) = present.first() {
            return if roll < 78 {
                Op::SetTag(next_version(), present)
            } else if roll < 92 {
                Op::StorePayload(first, next_version())
            } else {
                Op::DeletePayload(first)
            };
        }
    }
    Op::Store(
        pick(rng, n, false)
            .into_iter()
            .map(|id| (id, next_version()))
            .collect(),
    )
}

/// Every version written for each id (vector versions and payload
/// versions), so a value read back can be told whole (some write produced
/// it) or torn (none did).
#[derive(Clone, Debug, Default)]
pub struct Written(BTreeMap<u64, BTreeSet<u64>>);

impl Written {
    /// Note the versions `op` writes.
    pub fn note(&mut self, op: &Op) {
        match op {
            Op::Store(items) => {
                for &(id, v) in items {
                    self.0.entry(id).or_default().insert(v);
                }
            }
            Op::StorePayload(id, v) => {
                self.0.entry(*id).or_default().insert(*v);
            }
            _ => {}
        }
    }

    /// Take in what another client noted.
    pub fn merge(&mut self, other: Written) {
        for (id, versions) in other.0 {
            self.0.entry(id).or_default().extend(versions);
        }
    }

    /// Whether `point` (of `id`) is made of whole writes: its vector is
    /// that of a written version, and its payload is empty or the payload
    /// of a written version, with or without a `tag`.
    pub fn is_whole(&self, id: u64, point: &(Vec<u32>, Payload)) -> bool {
        let Some(versions) = self.0.get(&id) else {
            return false;
        };
        let (v, p) = point;
        let vector_whole = versions.iter().any(|&ver| bits(&vector(id, ver)) == *v);
        let mut untagged = p.clone();
        let tag_ok = untagged.remove("tag").is_none_or(|t| t.is_u64());
        let payload_whole = untagged.is_empty()
            || p.get("version")
                .and_then(Value::as_u64)
                .is_some_and(|ver| versions.contains(&ver) && untagged == payload(id, ver));
        vector_whole && tag_ok && payload_whole
    }
}

/// A point in a few words: its payload's version and tag, and the first
/// bits of its vector.
pub fn describe(point: Option<&(Vec<u32>, Payload)>) -> String {
    match point {
        None => "absent".to_owned(),
        Some((v, p)) => format!(
            "payload version {}, tag {}, vector {:08x?}",
            p.get("version").map_or("none".to_owned(), Value::to_string),
            p.get("tag").map_or("none".to_owned(), Value::to_string),
            &v[..v.len().min(2)]
        ),
    }
}

/// What judging found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Acknowledged writes missing or reverted: an acknowledged point
    /// absent or at an older whole state, a deleted one back.
    pub lost: usize,
    /// Points matching no write (part of one version, part of another), or
    /// an in-flight write applied to some of its points and not others.
    pub torn: usize,
    /// Descriptions of the first problems.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Record a problem description (the first few are kept).
    pub fn problem(&mut self, what: String) {
        if self.problems.len() < 20 {
            self.problems.push(what);
        }
    }
}

/// Judge what came back (`seen`) for `ids` against the acknowledged state
/// `acked` and the state `pending` with the one write in flight applied
/// (equal to `acked` when none was). Returns whether `seen` is the state
/// with the in-flight write, and it differs from `acked`.
pub fn judge(
    ids: &[u64],
    acked: &Points,
    pending: &Points,
    seen: &Points,
    written: &Written,
    verdict: &mut Verdict,
) -> bool {
    let of = |points: &Points| -> Vec<Option<(Vec<u32>, Payload)>> {
        ids.iter().map(|id| points.get(id).cloned()).collect()
    };
    let (a, p, s) = (of(acked), of(pending), of(seen));
    if s == a {
        return false;
    }
    if s == p {
        return true;
    }
    let mut each_allowed = true;
    for (i, &id) in ids.iter().enumerate() {
        if s[i] == a[i] || s[i] == p[i] {
            continue;
        }
        each_allowed = false;
        match &s[i] {
            Some(point) if !written.is_whole(id, point) => {
                verdict.torn += 1;
                verdict.problem(format!(
                    "point {id}: {} matches no write",
                    describe(Some(point))
                ));
            }
            found => {
                verdict.lost += 1;
                verdict.problem(format!(
                    "point {id}: acknowledged {}, found {}",
                    describe(a[i].as_ref()),
                    describe(found.as_ref())
                ));
            }
        }
    }
    if each_allowed {
        verdict.torn += 1;
        verdict.problem(format!(
            "points {ids:?}: the write in flight came back in part"
        ));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn store(points: &mut Points, written: &mut Written, id: u64, v: u64) {
        let op = Op::Store(vec![(id, v)]);
        written.note(&op);
        apply(points, &op);
    }

    #[test]
    fn judge_tells_lost_from_torn_and_accepts_the_write_in_flight() {
        let mut written = Written::default();
        let mut acked = Points::new();
        store(&mut acked, &mut written, 1, 10);
        store(&mut acked, &mut written, 2, 11);
        let mut pending = acked.clone();
        let op = Op::Store(vec![(1, 12), (2, 13)]);
        written.note(&op);
        apply(&mut pending, &op);
        let ids = [1, 2];

        let mut v = Verdict::default();
        assert!(!judge(&ids, &acked, &pending, &acked, &written, &mut v));
        assert!(judge(&ids, &acked, &pending, &pending, &written, &mut v));
        assert_eq!((v.lost, v.torn), (0, 0));

        // Half of the in-flight upsert: torn.
        let mut half = acked.clone();
        half.insert(1, pending[&1].clone());
        judge(&ids, &acked, &pending, &half, &written, &mut v);
        assert_eq!((v.lost, v.torn), (0, 1));

        // An acknowledged point missing: lost.
        let mut missing = acked.clone();
        missing.remove(&2);
        let mut v = Verdict::default();
        judge(&ids, &acked, &pending, &missing, &written, &mut v);
        assert_eq!((v.lost, v.torn), (1, 0));

        // A vector no write produced: torn.
        let mut garbage = acked.clone();
        if let Some((vec, _)) = garbage.get_mut(&2) {
            vec[0] ^= 1;
        }
        let mut v = Verdict::default();
        judge(&ids, &acked, &pending, &garbage, &written, &mut v);
        assert_eq!((v.lost, v.torn), (0, 1));
    }

    #[test]
    fn payload_writes_name_only_acknowledged_points() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut acked = Points::new();
        let mut written = Written::default();
        store(&mut acked, &mut written, 3, 1);
        let mut version = 100;
        for _ in 0..500 {
            let op = choose_write(&mut rng, &acked, &[1, 2, 3, 4], || {
                version += 1;
                version
            });
            match &op {
                Op::SetTag(_, ids) => assert!(ids.iter().all(|id| acked.contains_key(id))),
                Op::StorePayload(id, _) | Op::DeletePayload(id) => {
                    assert!(acked.contains_key(id))
                }
                Op::Store(items) => assert!(!items.is_empty()),
                Op::Delete(ids) => assert!(!ids.is_empty()),
                other => panic!("not a collection write: {other:?}"),
            }
        }
    }

    #[test]
    fn overwritten_and_tagged_payloads_are_whole() {
        let mut written = Written::default();
        let mut points = Points::new();
        store(&mut points, &mut written, 5, 1);
        for op in [Op::StorePayload(5, 2), Op::SetTag(3, vec![5])] {
            written.note(&op);
            apply(&mut points, &op);
        }
        assert!(written.is_whole(5, &points[&5]));
        apply(&mut points, &Op::DeletePayload(5));
        assert!(written.is_whole(5, &points[&5]));
        let mut wrong = points[&5].clone();
        wrong.1 = payload(5, 9);
        assert!(!written.is_whole(5, &wrong));
    }
}
