//! Group commit of concurrent upserts.
//!
//! In `Fsync` mode every logged write costs one fdatasync, and writes are
//! serialised by the writer lock, so N threads upserting at once would pay
//! N syncs back to back. Instead each upsert queues its (validated) points
//! and then takes the writer lock. Whoever gets the lock first with its
//! request still queued becomes the leader: it drains the queue (up to
//! [`MAX_GROUP_POINTS`]), commits everything as *one* operation (one log
//! frame, one sync, applied whole), and hands the result to every request
//! in the group. The others find their result when they get the lock in
//! turn and return at once.
//!
//! Nothing about durability or visibility changes: a group is one ordinary
//! logged operation, applied only after its frame is durable, and each call
//! returns only after that. The group behaves as if its requests ran one
//! after the other in queue order (a point id in two of them keeps the later
//! one). What a request gives up is isolation from its neighbours' failure:
//! if the commit fails (an I/O error, the id space exhausted), every request
//! of the group gets the error and none of them is applied.
//!
//! Invariant, observed under the writer lock: a request is either in the
//! queue or has its result set. Draining and setting results both happen
//! under that lock.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Error, Result};

use super::Point;

/// A group takes queued requests while it holds at most this many points
/// (its first request is always taken, whatever its size).
pub(super) const MAX_GROUP_POINTS: usize = 8192;

/// The outcome of one queued request, set by the leader that committed it.
#[derive(Default)]
pub(super) struct Ticket {
    /// The operation's sequence number, or why the commit failed.
    result: Mutex<Option<Result<u64>>>,
}

impl Ticket {
    /// The result, once a leader has committed the request.
    pub(super) fn take(&self) -> Option<Result<u64>> {
        self.result.lock().take()
    }

    fn set(&self, result: Result<u64>) {
        *self.result.lock() = Some(result);
    }
}

/// Upserts waiting for a leader, in arrival order.
#[derive(Default)]
pub(super) struct UpsertQueue {
    pending: Mutex<VecDeque<(Vec<Point>, Arc<Ticket>)>>,
}

/// The tickets of the requests drained for one commit.
pub(super) struct Group {
    tickets: Vec<Arc<Ticket>>,
}

impl UpsertQueue {
    /// Queues `points`; the returned ticket receives the result.
    pub(super) fn push(&self, points: Vec<Point>) -> Arc<Ticket> {
        let ticket = Arc::new(Ticket::default());
        self.pending.lock().push_back((points, ticket.clone()));
        ticket
    }

    /// Takes the oldest requests, up to [`MAX_GROUP_POINTS`] points, and
    /// returns their points in queue order. Call with the writer lock held.
    /// `None` when the queue is empty.
    pub(super) fn drain(&self) -> Option<(Vec<Point>, Group)> {
        let mut pending = self.pending.lock();
        let (mut points, ticket) = pending.pop_front()?;
        let mut tickets = vec![ticket];
        while let Some((next, _)) = pending.front() {
            if points.len() + next.len() > MAX_GROUP_POINTS {
                break;
            }
            let Some((next, ticket)) = pending.pop_front() else {
                break;
            };
            points.extend(next);
            tickets.push(ticket);
        }
        Some((points, Group { tickets }))
    }
}

impl Group {
    /// Requests in the group.
    pub(super) fn requests(&self) -> usize {
        self.tickets.len()
    }

    /// Gives every request of the group `result`. Call with the writer lock
    /// held (the invariant in the module docs).
    pub(super) fn finish(self, result: &Result<u64>) {
        for t in &self.tickets {
            t.set(match result {
                Ok(seq) => Ok(*seq),
                Err(e) => Err(share(e)),
            });
        }
    }
}

/// An equal error for another caller (`Error` holds an `io::Error`, which
/// is not `Clone`: its kind and message are kept).
fn share(e: &Error) -> Error {
    match e {
        Error::DimensionMismatch { expected, got } => Error::DimensionMismatch {
            expected: *expected,
            got: *got,
        },
        Error::InvalidInput(m) => Error::InvalidInput(m.clone()),
        Error::InvalidFilter(m) => Error::InvalidFilter(m.clone()),
        Error::CollectionNotFound { name } => Error::CollectionNotFound { name: name.clone() },
        Error::CollectionExists { name } => Error::CollectionExists { name: name.clone() },
        Error::PointNotFound { id } => Error::PointNotFound { id: *id },
        Error::Locked { path } => Error::Locked { path: path.clone() },
        Error::Corrupt { path, detail } => Error::Corrupt {
            path: path.clone(),
            detail: detail.clone(),
        },
        Error::Io { path, source } => Error::Io {
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        Error::Internal(m) => Error::Internal(m.clone()),
    }
}

#[cfg(test)]
impl UpsertQueue {
    fn len(&self) -> usize {
        self.pending.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CollectionConfig, Database, Metric, PointId};
    use std::time::{Duration, Instant};

    fn wait_for_queue(q: &UpsertQueue, n: usize) {
        let start = Instant::now();
        while q.len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "queue stuck at {}",
                q.len()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn queued_upserts_commit_as_one_logged_operation_in_arrival_order() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclid))
            .unwrap();
        c.upsert(vec![Point::new(0, vec![0.0, 0.0])]).unwrap();
        let writer = c.writer.lock();
        let seq_before = writer.log.last_seq();
        let threads: Vec<_> = (1..=6u64)
            .map(|i| {
                let c2 = c.clone();
                // Id 7 comes twice: the later arrival (i = 6) must win.
                let id = if i == 5 || i == 6 { 7 } else { i };
                let handle = std::thread::spawn(move || {
                    c2.upsert(vec![Point::new(id, vec![i as f32, 0.0])])
                });
                wait_for_queue(&c.upserts, i as usize);
                handle
            })
            .collect();
        drop(writer);
        for t in threads {
            let result = t.join().unwrap().unwrap();
            assert_eq!(result.operation_id, seq_before + 1, "the group's one frame");
            assert_eq!(result.points, 1);
        }
        assert_eq!(
            c.writer.lock().log.last_seq(),
            seq_before + 1,
            "one frame for six calls"
        );
        let ids: Vec<PointId> = [0u64, 1, 2, 3, 4, 7].map(PointId::Num).to_vec();
        let got = c.get(&ids, false, true).unwrap();
        assert_eq!(got.len(), 6);
        let seven = got.iter().find(|r| r.id == PointId::Num(7)).unwrap();
        assert_eq!(seven.vector(), Some(&[6.0, 0.0][..]));
        assert_eq!(c.count(None).unwrap(), 6);

        // The group is durable like any write: it is all there after reopen.
        drop(c);
        drop(db);
        let db = Database::open(tmp.path()).unwrap();
        let c = db.collection("c").unwrap();
        assert_eq!(c.count(None).unwrap(), 6);
        let seven = c.get(&[PointId::Num(7)], false, true).unwrap();
        assert_eq!(seven[0].vector(), Some(&[6.0, 0.0][..]));
    }

    #[test]
    fn a_failed_group_commit_fails_every_call_in_it_and_applies_none() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(2, Metric::Euclid))
            .unwrap();
        let mut writer = c.writer.lock();
        writer.broken = Some("injected".into());
        let threads: Vec<_> = (1..=3u64)
            .map(|i| {
                let c2 = c.clone();
                let handle =
                    std::thread::spawn(move || c2.upsert(vec![Point::new(i, vec![i as f32, 0.0])]));
                wait_for_queue(&c.upserts, i as usize);
                handle
            })
            .collect();
        drop(writer);
        for t in threads {
            let err = t.join().unwrap().unwrap_err();
            assert!(err.to_string().contains("injected"), "{err}");
        }
        assert_eq!(c.count(None).unwrap(), 0);
        assert_eq!(c.upserts.len(), 0);
    }

    #[test]
    fn a_group_stops_at_the_point_cap_and_the_rest_commits_next() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Database::open(tmp.path()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(1, Metric::Euclid))
            .unwrap();
        let writer = c.writer.lock();
        let seq_before = writer.log.last_seq();
        let big = |base: u64| -> Vec<Point> {
            (0..MAX_GROUP_POINTS as u64 / 2 + 1)
                .map(|i| Point::new(base + i, vec![i as f32]))
                .collect()
        };
        let threads: Vec<_> = (0..2u64)
            .map(|k| {
                let c2 = c.clone();
                let points = big(k * 1_000_000);
                let handle = std::thread::spawn(move || c2.upsert(points));
                wait_for_queue(&c.upserts, k as usize + 1);
                handle
            })
            .collect();
        drop(writer);
        for t in threads {
            t.join().unwrap().unwrap();
        }
        // Together they exceed the cap: two frames.
        assert_eq!(c.writer.lock().log.last_seq(), seq_before + 2);
        assert_eq!(
            c.count(None).unwrap(),
            2 * (MAX_GROUP_POINTS as u64 / 2 + 1)
        );
    }
}
