//! Connection limits: what an unauthenticated client can hold.
//!
//! Each accepted connection is in one phase at a time, and is closed when it
//! stays in a phase longer than that phase's timeout:
//!
//! | phase | from | until | timeout |
//! |---|---|---|---|
//! | new | accept | first byte (TLS handshake or request) | `first_byte_timeout_secs` |
//! | head | first byte of a request | its headers are complete | `header_read_timeout_secs` |
//! | busy | headers complete | the answer is built | none here (the request timeout) |
//! | idle | an answer was built, or bytes were written | next byte of a request | `keep_alive_timeout_secs` |
//!
//! At most `max_connections` are served at once. Like nginx and actix (which
//! Qdrant uses), the server then stops accepting: further connections wait
//! in the kernel's listen backlog, holding no file descriptor, and are
//! accepted as served ones close.
//!
//! [`Watched`] wraps the socket (under TLS, if any) and keeps the clock;
//! [`Tracked`] wraps the connection's service and marks requests in and out;
//! [`Capped`] wraps the make-service and hands out connection permits.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::Service;

use crate::config::ConnectionTimeouts;

/// Where a connection is, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    New { since: Instant },
    Head { since: Instant },
    Busy { requests: usize },
    Idle { since: Instant },
}

/// A connection's phase, shared by its socket and its service.
#[derive(Debug)]
struct ConnState {
    phase: Mutex<Phase>,
    timeouts: ConnectionTimeouts,
}

impl ConnState {
    fn new(timeouts: ConnectionTimeouts) -> Self {
        ConnState {
            phase: Mutex::new(Phase::New {
                since: Instant::now(),
            }),
            timeouts,
        }
    }

    fn update(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = f(*phase);
    }

    fn deadline(&self) -> Option<Instant> {
        let phase = *self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        deadline(phase, &self.timeouts)
    }

    fn on_read(&self) {
        self.update(|p| match p {
            Phase::New { .. } | Phase::Idle { .. } => Phase::Head {
                since: Instant::now(),
            },
            other => other,
        });
    }

    fn on_write(&self) {
        self.update(|p| match p {
            // A client reading a long answer is not idle.
            Phase::Idle { .. } => Phase::Idle {
                since: Instant::now(),
            },
            other => other,
        });
    }

    fn request_started(&self) {
        self.update(|p| match p {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        });
    }

    fn request_ended(&self) {
        self.update(|p| match p {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        });
    }
}

/// When a connection in `phase` is closed, if nothing changes.
fn deadline(phase: Phase, t: &ConnectionTimeouts) -> Option<Instant> {
    match phase {
        Phase::New { since } => Some(since + t.first_byte),
        Phase::Head { since } => Some(since + t.header_read),
        Phase::Busy { .. } => None,
        Phase::Idle { since } => Some(since + t.keep_alive),
    }
}

/// A socket that fails its reads once its connection overstays a phase.
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => loop {
                let Some(deadline) = this.state.deadline() else {
                    // Busy: hyper reads again once the answer is written,
                    // and the clock starts then.
                    return Poll::Pending;
                };
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                match this.timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    // The phase may have moved on while the timer ran.
                    Poll::Ready(()) if this.state.deadline() != Some(deadline) => continue,
                    Poll::Ready(()) => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "connection closed: it stayed silent longer than its timeout",
                        )));
                    }
                }
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.state.on_write();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection's service: marks each request busy until its answer is
/// built, and holds the connection's permit.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
}

/// Marks the end of a request when dropped (answered or cancelled).
struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.state.request_started();
        let guard = RequestGuard(Arc::clone(&self.state));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let _guard = guard;
            answer.await
        })
    }
}

/// An acceptor that watches each connection's phases, around `inner`
/// (a TLS acceptor wraps this one, so the timeouts cover the handshake).
#[derive(Clone, Debug)]
pub struct Guard<A> {
    inner: A,
    timeouts: ConnectionTimeouts,
}

impl<A> Guard<A> {
    /// Watches connections with `timeouts`, then hands them to `inner`.
    pub fn new(inner: A, timeouts: ConnectionTimeouts) -> Self {
        Guard { inner, timeouts }
    }
}

impl<A, I, S> Accept<I, S> for Guard<A>
where
    A: Accept<Watched<I>, Tracked<S>>,
    I: AsyncRead + AsyncWrite + Unpin,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = A::Future;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let state = Arc::new(ConnState::new(self.timeouts));
        let first = state.deadline().unwrap_or_else(Instant::now);
        let stream = Watched {
            inner: stream,
            state: Arc::clone(&state),
            timer: Box::pin(tokio::time::sleep_until(first)),
        };
        self.inner.accept(
            stream,
            Tracked {
                inner: service,
                state,
            },
        )
    }
}

/// A make-service that serves at most as many connections at once as its
/// semaphore has permits; while none is free, the accept loop waits.
pub struct Capped<M> {
    inner: M,
    permits: Arc<Semaphore>,
    waiting: Option<Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>>,
    ready: Option<OwnedSemaphorePermit>,
}

impl<M> Capped<M> {
    /// At most `max_connections` connections of `inner` at once.
    pub fn new(inner: M, max_connections: usize) -> Self {
        Capped {
            inner,
            permits: Arc::new(Semaphore::new(max_connections)),
            waiting: None,
            ready: None,
        }
    }
}

/// A connection's service with the permit it holds until it closes.
#[derive(Clone)]
pub struct Permitted<S> {
    inner: S,
    _permit: Arc<Option<OwnedSemaphorePermit>>,
}

impl<S: Service<R>, R> Service<R> for Permitted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.inner.call(request)
    }
}

impl<M, T> Service<T> for Capped<M>
where
    M: Service<T>,
    M::Future: Send + 'static,
{
    type Response = Permitted<M::Response>;
    type Error = M::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while self.ready.is_none() {
            let waiting = self.waiting.get_or_insert_with(|| {
                let permits = Arc::clone(&self.permits);
                Box::pin(async move { permits.acquire_owned().await.ok() })
            });
            match waiting.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permit) => {
                    self.waiting = None;
                    // The semaphore is never closed, so a permit always comes.
                    self.ready = permit;
                }
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, target: T) -> Self::Future {
        // None only if a caller skipped poll_ready; the connection is then
        // served without counting against the cap rather than refused.
        let permit = self.ready.take();
        let service = self.inner.call(target);
        Box::pin(async move {
            Ok(Permitted {
                inner: service.await?,
                _permit: Arc::new(permit),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn each_phase_has_its_own_deadline() {
        let t = ConnectionTimeouts {
            first_byte: Duration::from_secs(1),
            header_read: Duration::from_secs(2),
            keep_alive: Duration::from_secs(3),
        };
        let now = Instant::now();
        assert_eq!(
            deadline(Phase::New { since: now }, &t),
            Some(now + Duration::from_secs(1))
        );
        assert_eq!(
            deadline(Phase::Head { since: now }, &t),
            Some(now + Duration::from_secs(2))
        );
        assert_eq!(deadline(Phase::Busy { requests: 2 }, &t), None);
        assert_eq!(
            deadline(Phase::Idle { since: now }, &t),
            Some(now + Duration::from_secs(3))
        );
    }

    #[tokio::test]
    async fn requests_keep_a_connection_busy_until_the_last_ends() {
        let t = ConnectionTimeouts {
            first_byte: Duration::from_secs(1),
            header_read: Duration::from_secs(1),
            keep_alive: Duration::from_secs(1),
        };
        let s = ConnState::new(t);
        s.on_read();
        assert!(matches!(*s.phase.lock().unwrap(), Phase::Head { .. }));
        s.request_started();
        s.request_started();
        s.on_read();
        s.request_ended();
        assert_eq!(s.deadline(), None);
        s.request_ended();
        assert!(matches!(*s.phase.lock().unwrap(), Phase::Idle { .. }));
    }
}
