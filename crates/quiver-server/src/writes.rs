//! How writes run: when a write counts as started, how `?wait=` is
//! answered, and the order of writes accepted without waiting.
//!
//! The rule: an error answer means nothing was applied. The request timeout
//! may cut a write off only before it starts (while its body is read, its
//! collection looked up, or it waits for earlier writes); once started it
//! runs to its end on the blocking pool whatever happens to the request, and
//! the answer waits for it. A [`WriteGate`] in the request's extensions
//! tells the timeout middleware which side of that line a request is on.
//!
//! `wait=true` answers `completed` after the write is applied. `wait=false`
//! (Qdrant's default) answers `acknowledged` once the write is queued on its
//! collection's queue; a worker applies that queue in acceptance order, and
//! a later `wait=true` write to the collection starts only after every write
//! acknowledged before it, so a client's writes apply in the order it sent
//! them.
//!
//! The `operation_id` of an answer is the sequence number the write got in
//! its collection's op log: it grows with every logged write and carries
//! on across restarts. A write answered before it runs has none yet
//! (`null`, which Qdrant's clients accept), nor has one that logs nothing
//! (a payload index change).
//!
//! Every write holds a share of [`Writes::drain`]'s lock from acceptance to
//! its end, so shutdown can wait for queued and running writes before the
//! final flush.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use quiver_core::{Collection, Database};
use tokio::sync::{OwnedRwLockReadGuard, RwLock, mpsc, watch};

use crate::error::{ApiError, ApiResult};
use crate::routes::model::UpdateResult;

/// Writes accepted without waiting that a collection's queue holds before
/// further ones wait for room (bounding the memory queued writes take).
const QUEUE_CAPACITY: usize = 64;

/// Whether a request's write has started; set once, by the handler.
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Arc<AtomicBool>);

impl WriteGate {
    fn start(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the write has started: from then on it runs to its end.
    pub fn started(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Extractor for the request's [`WriteGate`] (a fresh one when no timeout
/// middleware put one in, e.g. a router used without it).
pub struct Gate(pub WriteGate);

impl<S: Send + Sync> FromRequestParts<S> for Gate {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Gate(
            parts
                .extensions
                .get::<WriteGate>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One collection's queue of writes accepted without waiting.
struct Queue {
    /// Sends jobs in acceptance order; the mutex keeps tickets in that order.
    tx: Mutex<(u64, mpsc::Sender<(u64, Job)>)>,
    /// Ticket of the last job the worker finished.
    applied: watch::Receiver<u64>,
}

/// The write queues and the in-flight count of every collection.
#[derive(Clone, Default)]
pub struct Writes {
    queues: Arc<Mutex<HashMap<String, Arc<Queue>>>>,
    in_flight: Arc<RwLock<()>>,
}

/// A write: takes the collection and returns the sequence number its
/// operation got in the collection's log (`None` if it logs none), or an
/// error if nothing was applied.
pub type WriteFn = Box<dyn FnOnce(&Collection) -> ApiResult<Option<u64>> + Send>;

impl Writes {
    /// Runs `write` on collection `name`. `check` runs first, on the
    /// collection, before the write starts: an error from it answers at once
    /// whatever `wait` is, so mistakes found without writing (a wrong
    /// dimension) are reported even to clients that do not wait.
    ///
    /// # Errors
    /// 404 if the collection does not exist, `check`'s error, and with
    /// `wait` the write's error; a failed write applied nothing.
    pub async fn submit(
        &self,
        db: &Arc<Database>,
        gate: &WriteGate,
        name: String,
        wait: bool,
        check: impl FnOnce(&Collection) -> ApiResult<()> + Send + 'static,
        write: WriteFn,
    ) -> ApiResult<UpdateResult> {
        let lookup_db = Arc::clone(db);
        let lookup_name = name.clone();
        crate::routes::blocking(move || check(&*lookup_db.collection(&lookup_name)?)).await?;
        let queue = self.queue(&name);
        let guard = Arc::clone(&self.in_flight).read_owned().await;
        if wait {
            let target = queue.tx.lock().unwrap_or_else(PoisonError::into_inner).0;
            let mut applied = queue.applied.clone();
            // The worker never drops its sender while the queue is mapped.
            let _ = applied.wait_for(|done| *done >= target).await;
            gate.start();
            let db = Arc::clone(db);
            // The task runs to its end even if this request is dropped.
            let operation_id = tokio::task::spawn_blocking(move || {
                let _guard = guard;
                write(&*db.collection(&name)?)
            })
            .await
            .map_err(|e| ApiError::internal(format!("write worker failed: {e}")))??;
            return Ok(UpdateResult {
                operation_id,
                status: "completed",
            });
        }
        let sender = queue
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone();
        let permit = sender
            .reserve_owned()
            .await
            .map_err(|_| ApiError::internal("the collection's write queue is closed"))?;
        gate.start();
        let job_db = Arc::clone(db);
        let job: Job = Box::new(move || {
            let _guard = guard;
            let result = job_db
                .collection(&name)
                .map_err(ApiError::from)
                .and_then(|c| write(&c));
            if let Err(e) = result {
                tracing::error!(collection = %name, error = e.message(),
                    "a write acknowledged without waiting failed; nothing of it was applied");
            }
        });
        let mut tx = queue.tx.lock().unwrap_or_else(PoisonError::into_inner);
        tx.0 += 1;
        permit.send((tx.0, job));
        Ok(UpdateResult {
            operation_id: None,
            status: "acknowledged",
        })
    }

    /// Runs `f` (a write that answers only when done, such as creating a
    /// collection) on the blocking pool, marking it started first.
    ///
    /// # Errors
    /// Whatever `f` returns; a panic inside it becomes a 500.
    pub async fn run_started<T, F>(&self, gate: &WriteGate, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce() -> ApiResult<T> + Send + 'static,
    {
        let guard = Arc::clone(&self.in_flight).read_owned().await;
        gate.start();
        tokio::task::spawn_blocking(move || {
            let _guard: OwnedRwLockReadGuard<()> = guard;
            f()
        })
        .await
        .map_err(|e| ApiError::internal(format!("write worker failed: {e}")))?
    }

    /// Resolves once every accepted write (queued or running) has ended.
    pub async fn drain(&self) {
        let _all = self.in_flight.write().await;
    }

    fn queue(&self, name: &str) -> Arc<Queue> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(q) = queues.get(name) {
            return Arc::clone(q);
        }
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let (applied_tx, applied) = watch::channel(0);
        tokio::spawn(work(rx, applied_tx, name.to_owned()));
        let q = Arc::new(Queue {
            tx: Mutex::new((0, tx)),
            applied,
        });
        queues.insert(name.to_owned(), Arc::clone(&q));
        q
    }
}

/// A collection's worker: applies its queue one job at a time, in order.
async fn work(mut rx: mpsc::Receiver<(u64, Job)>, applied: watch::Sender<u64>, name: String) {
    while let Some((ticket, job)) = rx.recv().await {
        if let Err(e) = tokio::task::spawn_blocking(job).await {
            tracing::error!(collection = %name, "a queued write panicked: {e}");
        }
        applied.send_replace(ticket);
    }
}
