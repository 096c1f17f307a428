//! Writes that change some of a point's vectors and keep the rest: update
//! and delete of named vectors.
//!
//! Each writes a new version of every point it changes (its other vectors
//! and its payload carried over as the stores hold them), through the same
//! op-log entry as an upsert, so recovery, checkpoints and crash safety are
//! the upsert's.

use std::collections::HashMap;

use crate::{Error, PointId, Result};

use super::request::check_points;
use super::upsert::Version;
use super::{Collection, Point, PointSelector, UpdateResult};

impl Collection {
    /// Set the vectors each of `points` carries on the stored point of its
    /// id, keeping the point's other vectors and its payload (the payload of
    /// `points` must be `None`). An id given twice gets both sets, the later
    /// winning where they name the same vector. All or nothing.
    ///
    /// Durability as [`Collection::upsert`].
    ///
    /// # Errors
    /// [`Error::PointNotFound`] naming the first id the collection does not
    /// hold; [`Error::InvalidInput`] for a point with no vector or with a
    /// payload, and as [`Collection::upsert`] for a vector. Nothing is
    /// written on error.
    pub fn update_vectors(&self, points: Vec<Point>) -> Result<UpdateResult> {
        self.check_open()?;
        check_points(&points, &self.config)?;
        for (i, p) in points.iter().enumerate() {
            if p.vectors.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "point {i} ({}): no vector given to update",
                    p.id
                )));
            }
            if p.payload.is_some() {
                return Err(Error::InvalidInput(format!(
                    "point {i} ({}): updating vectors keeps the payload; set it with a payload write",
                    p.id
                )));
            }
        }
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        if points.is_empty() {
            return Ok(UpdateResult {
                operation_id: writer.log.last_seq(),
                points: 0,
            });
        }
        self.release_held(&mut writer);
        let versions = {
            let state = self.state.read();
            let mut order: Vec<PointId> = Vec::new();
            let mut versions: HashMap<PointId, Version> = HashMap::new();
            for p in points {
                let version = match versions.get_mut(&p.id) {
                    Some(v) => v,
                    None => {
                        let Some(&internal) = state.by_id.get(&p.id) else {
                            return Err(Error::PointNotFound { id: p.id });
                        };
                        let (dense, sparse) = self.stored_slots(&state, internal)?;
                        order.push(p.id);
                        versions.entry(p.id).or_insert(Version {
                            id: p.id,
                            dense,
                            sparse,
                            payload: state.payload(internal)?.clone(),
                        })
                    }
                };
                let (dense, sparse) = self.slots(p.vectors);
                for (slot, v) in dense.into_iter().enumerate() {
                    if v.is_some() {
                        version.dense[slot] = v;
                    }
                }
                for (slot, v) in sparse.into_iter().enumerate() {
                    if v.is_some() {
                        version.sparse[slot] = v;
                    }
                }
            }
            order
                .iter()
                .filter_map(|id| versions.remove(id))
                .collect::<Vec<_>>()
        };
        let points = versions.len() as u64;
        let operation_id = self.commit_versions(&mut writer, versions)?;
        Ok(UpdateResult {
            operation_id,
            points,
        })
    }

    /// Remove the vectors named `names` from the selected points, keeping
    /// their other vectors and payloads (a point may be left with none).
    ///
    /// Points selected by ids must all exist; points selected by a filter
    /// are the ones that match. Durability as [`Collection::upsert`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no names or a name the collection does
    /// not have; [`Error::PointNotFound`] naming the first id (in request
    /// order) it does not hold; [`Error::InvalidFilter`] for a bad filter.
    /// Nothing changes on error.
    ///
    /// Returns the operation's sequence number and how many points changed
    /// (a point that has none of the vectors is not rewritten; when none
    /// changes, nothing is logged).
    pub fn delete_vectors(
        &self,
        selector: &PointSelector,
        names: &[String],
    ) -> Result<UpdateResult> {
        self.check_open()?;
        if names.is_empty() {
            return Err(Error::InvalidInput("no vector named to delete".into()));
        }
        let mut dense_slots = Vec::new();
        let mut sparse_slots = Vec::new();
        for name in names {
            if let Some(slot) = self.dense.iter().position(|f| f.name == *name) {
                dense_slots.push(slot);
            } else if let Some(slot) = self.sparse.iter().position(|(n, _)| n == name) {
                sparse_slots.push(slot);
            } else {
                return Err(self.config.unknown_vector(name));
            }
        }
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        self.release_held(&mut writer);
        let versions = {
            let state = self.state.read();
            if let PointSelector::Ids(ids) = selector
                && let Some(&id) = ids.iter().find(|id| !state.by_id.contains_key(id))
            {
                return Err(Error::PointNotFound { id });
            }
            let mut versions = Vec::new();
            for (internal, id) in self.select(&state, selector)? {
                let (mut dense, mut sparse) = self.stored_slots(&state, internal)?;
                let mut had = false;
                for &s in &dense_slots {
                    had |= dense[s].take().is_some();
                }
                for &s in &sparse_slots {
                    had |= sparse[s].take().is_some();
                }
                if had {
                    versions.push(Version {
                        id,
                        dense,
                        sparse,
                        payload: state.payload(internal)?.clone(),
                    });
                }
            }
            versions
        };
        let points = versions.len() as u64;
        let operation_id = if versions.is_empty() {
            writer.log.last_seq()
        } else {
            self.commit_versions(&mut writer, versions)?
        };
        Ok(UpdateResult {
            operation_id,
            points,
        })
    }
}
