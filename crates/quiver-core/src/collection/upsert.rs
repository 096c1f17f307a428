//! Every write: upsert, delete and the payload changes.
//!
//! Each call validates fully, turns the request into one [`Op`] under the
//! writer lock (concurrent upserts share one, see `group.rs`), logs it (the
//! commit point) and applies it: new versions into the graph (while the
//! log syncs) and the stores under fresh internal ids, then a short
//! publish under the state write lock, then retirement of the old ids.

use std::collections::{HashMap, HashSet};

use crate::filter::Filter;
use crate::{Error, NamedVectors, PointId, Result, Vector};

use super::oplog::{DeleteEntry, DenseSlots, Op, PayloadEntry, SparseSlots, UpsertEntry};
use super::request::check_points;
use super::{Collection, Payload, Point, PointSelector, State, UpdateResult, Writer};

impl Collection {
    /// Insert or replace `points`. A point id given twice in the batch keeps
    /// its last occurrence. The batch is applied whole or not at all.
    ///
    /// Durable when it returns in `Fsync` mode (survives `kill -9` and power
    /// loss); with `FlushOnly`/`None` it survives a killed process.
    ///
    /// Upserts from several threads at once are committed together, with
    /// one log sync for the group: the group acts as if its calls ran one
    /// after another in arrival order, and a failure to commit it (I/O)
    /// fails every call in it.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] or [`Error::InvalidInput`] (empty vector,
    /// non-finite component) for any point: nothing is written.
    /// [`Error::Io`] if the log cannot be written, or the disk has no room
    /// for the points (source of kind `StorageFull`): nothing is written,
    /// and writes succeed again once there is room.
    ///
    /// Returns the operation's sequence number and the number of distinct
    /// point ids written.
    pub fn upsert(&self, points: Vec<Point>) -> Result<UpdateResult> {
        self.check_open()?;
        check_points(&points, &self.config)?;
        if points.is_empty() {
            return Ok(UpdateResult {
                operation_id: self.state.read().last_seq,
                points: 0,
            });
        }
        let written = points.iter().map(|p| p.id).collect::<HashSet<_>>().len() as u64;
        // Concurrent upserts share one commit (see `group.rs`).
        let ticket = self.upserts.push(points);
        let mut writer = self.writer.lock();
        loop {
            if let Some(result) = ticket.take() {
                return result.map(|operation_id| UpdateResult {
                    operation_id,
                    points: written,
                });
            }
            let Some((points, group)) = self.upserts.drain() else {
                return Err(Error::Internal("a queued upsert lost its result".into()));
            };
            if group.requests() > 1 {
                tracing::trace!(collection = %self.name, requests = group.requests(), points = points.len(), "group commit");
            }
            let result = self.commit_upsert(&mut writer, points);
            group.finish(&result);
        }
    }

    /// Logs and applies one upsert of validated `points` (a point id given
    /// twice keeps its last occurrence).
    /// Returns the operation's sequence number.
    fn commit_upsert(&self, writer: &mut Writer, points: Vec<Point>) -> Result<u64> {
        // Last occurrence wins; keep the batch order of those.
        let mut last: HashMap<PointId, usize> = HashMap::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            last.insert(p.id, i);
        }
        let points: Vec<Point> = points
            .into_iter()
            .enumerate()
            .filter(|(i, p)| last.get(&p.id) == Some(i))
            .map(|(_, p)| p)
            .collect();
        self.check_writable(writer)?;
        self.release_held(writer);
        let versions = points
            .into_iter()
            .map(|p| {
                let (dense, sparse) = self.slots(p.vectors);
                Version {
                    id: p.id,
                    dense,
                    sparse,
                    payload: p.payload.unwrap_or_default(),
                }
            })
            .collect();
        self.commit_versions(writer, versions)
    }

    /// Logs and applies new versions of points (distinct ids), each under a
    /// fresh internal id and replacing the live version of its id if any.
    /// The caller holds the writer and has checked it is writable.
    /// Returns the operation's sequence number.
    pub(super) fn commit_versions(
        &self,
        writer: &mut Writer,
        versions: Vec<Version>,
    ) -> Result<u64> {
        let replaced: Vec<Option<(u32, Payload)>> = {
            let state = self.state.read();
            versions
                .iter()
                .map(|v| match state.by_id.get(&v.id) {
                    Some(&old) => Ok(Some((old, state.payload(old)?.clone()))),
                    None => Ok(None),
                })
                .collect::<Result<_>>()?
        };
        let fresh = allocate(writer, versions.len())?;
        let entries: Vec<UpsertEntry> = versions
            .into_iter()
            .zip(replaced)
            .zip(&fresh)
            .map(|((v, replaced), &internal)| UpsertEntry {
                internal,
                id: v.id,
                dense: v.dense,
                sparse: v.sparse,
                payload: v.payload,
                replaced,
            })
            .collect();
        self.commit(writer, Op::Upsert(entries))
    }

    /// A point's checked vectors by slot, dense ones preprocessed for
    /// their metric.
    pub(super) fn slots(&self, vectors: NamedVectors) -> (DenseSlots, SparseSlots) {
        let mut dense: DenseSlots = vec![None; self.dense.len()];
        let mut sparse: SparseSlots = vec![None; self.sparse.len()];
        for (name, vector) in vectors {
            match vector {
                Vector::Dense(mut v) => {
                    if let Some(slot) = self.dense.iter().position(|f| f.name == name) {
                        self.dense[slot].params.metric.preprocess(&mut v);
                        dense[slot] = Some(v);
                    }
                }
                Vector::Sparse(v) => {
                    if let Some(slot) = self.sparse.iter().position(|(n, _)| *n == name) {
                        sparse[slot] = Some(v);
                    }
                }
            }
        }
        (dense, sparse)
    }

    /// Delete the selected points; returns the operation's sequence number
    /// and how many of the points existed (`points`).
    ///
    /// Disk space: the payload records are dropped at once. Each vector
    /// stays in `vectors.dat` while the HNSW graph keeps the point as a
    /// deleted routing node, and is released by the first checkpoint after
    /// the graph drops the node (it rebuilds itself once 30 % of its nodes
    /// are deleted); the slot is then free for later upserts.
    ///
    /// # Errors
    /// [`Error::InvalidFilter`] for a bad filter; [`Error::Io`] if the log
    /// cannot be written. Nothing changes on error.
    pub fn delete(&self, selector: &PointSelector) -> Result<UpdateResult> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        let entries: Vec<DeleteEntry> = {
            let state = self.state.read();
            let targets = self.select(&state, selector)?;
            targets
                .into_iter()
                .map(|(internal, id)| {
                    Ok(DeleteEntry {
                        internal,
                        id,
                        payload: state.payload(internal)?.clone(),
                    })
                })
                .collect::<Result<_>>()?
        };
        let points = entries.len() as u64;
        let operation_id = if points > 0 {
            self.commit(&mut writer, Op::Delete(entries))?
        } else {
            writer.log.last_seq()
        };
        Ok(UpdateResult {
            operation_id,
            points,
        })
    }

    /// Merge `payload` into the payloads of the selected points (keys given
    /// replace keys present, other keys stay).
    ///
    /// Points selected by ids must all exist; points selected by a filter
    /// are the ones that match.
    ///
    /// # Errors
    /// [`Error::PointNotFound`] naming the first id (in request order) the
    /// collection does not hold; otherwise as [`Collection::delete`].
    /// Nothing changes on error.
    ///
    /// Returns the operation's sequence number and how many payloads
    /// changed (a point whose payload already was the result is not
    /// rewritten; when none changes, nothing is logged).
    pub fn set_payload(&self, selector: &PointSelector, payload: Payload) -> Result<UpdateResult> {
        self.change_payloads(selector, |old| {
            let mut new = old.clone();
            for (k, v) in &payload {
                new.insert(k.clone(), v.clone());
            }
            new
        })
    }

    /// Replace the payloads of the selected points by `payload`.
    ///
    /// # Errors
    /// As [`Collection::set_payload`].
    pub fn overwrite_payload(
        &self,
        selector: &PointSelector,
        payload: Payload,
    ) -> Result<UpdateResult> {
        self.change_payloads(selector, |_| payload.clone())
    }

    /// Remove `keys` (top-level) from the payloads of the selected points.
    ///
    /// # Errors
    /// As [`Collection::set_payload`].
    pub fn delete_payload_keys(
        &self,
        selector: &PointSelector,
        keys: &[String],
    ) -> Result<UpdateResult> {
        self.change_payloads(selector, |old| {
            let mut new = old.clone();
            for k in keys {
                new.shift_remove(k);
            }
            new
        })
    }

    /// Empty the payloads of the selected points.
    ///
    /// # Errors
    /// As [`Collection::set_payload`].
    pub fn clear_payload(&self, selector: &PointSelector) -> Result<UpdateResult> {
        self.change_payloads(selector, |_| Payload::new())
    }

    fn change_payloads(
        &self,
        selector: &PointSelector,
        change: impl Fn(&Payload) -> Payload,
    ) -> Result<UpdateResult> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        let entries: Vec<PayloadEntry> = {
            let state = self.state.read();
            // All or nothing: every named id is checked before any is changed.
            if let PointSelector::Ids(ids) = selector
                && let Some(&id) = ids.iter().find(|id| !state.by_id.contains_key(id))
            {
                return Err(Error::PointNotFound { id });
            }
            let targets = self.select(&state, selector)?;
            let mut entries = Vec::with_capacity(targets.len());
            for (internal, id) in targets {
                let old = state.payload(internal)?;
                let new = change(old);
                if new != *old {
                    let old = old.clone();
                    entries.push(PayloadEntry {
                        internal,
                        id,
                        old,
                        new,
                    });
                }
            }
            entries
        };
        let points = entries.len() as u64;
        let operation_id = if entries.is_empty() {
            writer.log.last_seq()
        } else {
            self.commit(&mut writer, Op::SetPayload(entries))?
        };
        Ok(UpdateResult {
            operation_id,
            points,
        })
    }

    /// The live points a selector names, as (internal id, point id), in id order.
    pub(super) fn select(
        &self,
        state: &State,
        selector: &PointSelector,
    ) -> Result<Vec<(u32, PointId)>> {
        match selector {
            PointSelector::Ids(ids) => {
                let mut out: Vec<(u32, PointId)> = ids
                    .iter()
                    .filter_map(|id| state.by_id.get(id).map(|&i| (i, *id)))
                    .collect();
                out.sort_unstable_by_key(|&(_, id)| id);
                out.dedup();
                Ok(out)
            }
            PointSelector::Filter(filter) => {
                filter.validate()?;
                self.matching(state, filter)
            }
        }
    }

    /// Every live point matching `filter`, as (internal id, point id), in id order.
    pub(super) fn matching(&self, state: &State, filter: &Filter) -> Result<Vec<(u32, PointId)>> {
        let plan = self.plan(state, filter);
        let mut out = Vec::new();
        for internal in &plan.candidates {
            let Some(id) = state.point_id(internal) else {
                continue;
            };
            if plan.exact || filter.matches(&id, state.payload(internal)?) {
                out.push((internal, id));
            }
        }
        out.sort_unstable_by_key(|&(_, id)| id);
        Ok(out)
    }

    pub(super) fn check_writable(&self, writer: &Writer) -> Result<()> {
        self.check_open()?;
        match &writer.broken {
            Some(why) => Err(Error::Internal(format!(
                "collection `{}` refuses writes until it is reopened: {why}",
                self.name
            ))),
            None => Ok(()),
        }
    }

    /// After a graph rebuild, moves the held ids no graph holds any more
    /// to the free list.
    pub(super) fn release_held(&self, writer: &mut Writer) {
        let rebuilds = self.rebuilds();
        if rebuilds == writer.seen_rebuilds {
            return;
        }
        writer.seen_rebuilds = rebuilds;
        let (held, released): (Vec<u32>, Vec<u32>) = writer
            .held
            .iter()
            .partition(|&&i| self.dense.iter().any(|f| f.graph.holds(i)));
        writer.held = held;
        writer.free.extend(released);
    }
}

/// A point version to write: its vectors by slot (dense ones as the stores
/// hold them, preprocessed for their metric) and its payload.
pub(super) struct Version {
    pub(super) id: PointId,
    pub(super) dense: DenseSlots,
    pub(super) sparse: SparseSlots,
    pub(super) payload: Payload,
}

impl Collection {
    /// Graph rebuilds so far, over every dense vector's graph.
    pub(super) fn rebuilds(&self) -> u64 {
        self.dense.iter().map(|f| f.graph.rebuilds()).sum()
    }
}

/// `n` internal ids for new versions: retired ones first, then fresh ones.
/// Nothing is taken from the writer until the write is applied.
fn allocate(writer: &Writer, n: usize) -> Result<Vec<u32>> {
    let reuse = writer.free.len().min(n);
    let mut ids: Vec<u32> = writer.free[writer.free.len() - reuse..].to_vec();
    let fresh = (n - reuse) as u64;
    let end = u64::from(writer.next_internal) + fresh;
    if end > u64::from(u32::MAX) {
        return Err(Error::InvalidInput(format!(
            "the collection cannot hold more than {} point versions",
            u32::MAX
        )));
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "end <= u32::MAX, checked above"
    )]
    ids.extend(writer.next_internal..end as u32);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{
        CollectionConfig, Database, Metric, Payload, Point, PointId, PointSelector, UpdateResult,
    };

    fn payload(v: serde_json::Value) -> Payload {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn every_write_reports_the_sequence_number_it_logged() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(1, Metric::Euclid))
            .unwrap();
        let one = PointSelector::Ids(vec![PointId::Num(1)]);
        let first = c
            .upsert(vec![
                Point::new(1, vec![1.0]),
                Point::new(2, vec![2.0]),
                Point::new(1, vec![3.0]),
            ])
            .unwrap();
        assert_eq!(first.points, 2, "id 1 twice is written once");
        assert_eq!(first.operation_id, c.info().unwrap().last_operation_id);

        let mut seq = first.operation_id;
        let mut logged = |r: UpdateResult, points: u64| {
            seq += 1;
            assert_eq!(
                r,
                UpdateResult {
                    operation_id: seq,
                    points
                }
            );
        };
        logged(c.set_payload(&one, payload(json!({"x": 1}))).unwrap(), 1);
        logged(
            c.overwrite_payload(&one, payload(json!({"x": 2, "y": 3})))
                .unwrap(),
            1,
        );
        logged(c.delete_payload_keys(&one, &["y".into()]).unwrap(), 1);
        logged(c.clear_payload(&one).unwrap(), 1);
        logged(c.upsert(vec![Point::new(3, vec![0.0])]).unwrap(), 1);
        let both = PointSelector::Ids(vec![PointId::Num(1), PointId::Num(404)]);
        logged(c.delete(&both).unwrap(), 1);
        let last = c.info().unwrap().last_operation_id;
        assert_eq!(last, first.operation_id + 6);

        // Writes that change nothing log nothing and report the last write.
        let unchanged = UpdateResult {
            operation_id: last,
            points: 0,
        };
        assert_eq!(c.delete(&both).unwrap(), unchanged);
        assert_eq!(c.upsert(Vec::new()).unwrap(), unchanged);
        let two = PointSelector::Ids(vec![PointId::Num(2)]);
        assert_eq!(c.clear_payload(&two).unwrap(), unchanged);
        assert_eq!(c.info().unwrap().last_operation_id, last);

        // The numbers are the log's: they go on after a reopen.
        drop(c);
        drop(db);
        let db = Database::open(tmp.path()).unwrap();
        let c = db.collection("c").unwrap();
        let next = c.upsert(vec![Point::new(4, vec![4.0])]).unwrap();
        assert_eq!(next.operation_id, last + 1);
    }
}
