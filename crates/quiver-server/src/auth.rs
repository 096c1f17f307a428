//! API keys: a full key and an optional read-only key, taken from the
//! `api-key` header or `Authorization: Bearer`, compared in constant time.
//!
//! Health probes (`/healthz`, `/readyz`, `/livez`) stay open so orchestrators
//! need no secret. Missing or wrong keys get 401; the read-only key on a
//! write gets 403.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// Paths served without a key.
pub(crate) const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/livez"];

/// POST routes that only read (everything else that is not GET/HEAD writes).
const READ_POST_SUFFIXES: [&str; 9] = [
    "/points",
    "/points/scroll",
    "/points/count",
    "/points/search",
    "/points/search/batch",
    "/points/query",
    "/points/query/batch",
    "/points/search/groups",
    "/points/query/groups",
];

/// The configured keys; with no full key every request is allowed.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    full: Option<Arc<[u8]>>,
    read_only: Option<Arc<[u8]>>,
}

/// What a request's credentials allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    All,
    ReadOnly,
    None,
}

impl Auth {
    /// Keys from the configuration.
    pub fn new(full: Option<&str>, read_only: Option<&str>) -> Self {
        Auth {
            full: full.map(|k| Arc::from(k.as_bytes())),
            read_only: read_only.map(|k| Arc::from(k.as_bytes())),
        }
    }

    fn access(&self, presented: Option<&[u8]>) -> Access {
        let Some(full) = &self.full else {
            return Access::All;
        };
        let Some(presented) = presented else {
            return Access::None;
        };
        // Both comparisons always run, so timing does not tell which key
        // (if any) matched. Only the key length can leak, which is public.
        let is_full = bool::from(presented.ct_eq(full));
        let is_read = self
            .read_only
            .as_ref()
            .is_some_and(|k| bool::from(presented.ct_eq(k)));
        if is_full {
            Access::All
        } else if is_read {
            Access::ReadOnly
        } else {
            Access::None
        }
    }
}

/// The key a request presents, from `api-key` or `Authorization: Bearer`.
fn presented_key(request: &Request) -> Option<&[u8]> {
    let headers = request.headers();
    if let Some(v) = headers.get("api-key") {
        return Some(v.as_bytes());
    }
    let auth = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = auth.get(..7)?;
    if scheme.eq_ignore_ascii_case(b"bearer ") {
        auth.get(7..)
    } else {
        None
    }
}

/// True if the request only reads.
pub fn is_read_request(method: &Method, path: &str) -> bool {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return true;
    }
    method == Method::POST
        && READ_POST_SUFFIXES.iter().any(|suffix| {
            path.strip_suffix(suffix)
                .and_then(|rest| rest.strip_prefix("/collections/"))
                .is_some_and(|name| !name.is_empty() && !name.contains('/'))
        })
}

/// Middleware enforcing the keys.
pub async fn require_key(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) {
        return next.run(request).await;
    }
    match auth.access(presented_key(&request)) {
        Access::All => next.run(request).await,
        Access::ReadOnly if is_read_request(request.method(), path) => next.run(request).await,
        Access::ReadOnly => ApiError::new(
            StatusCode::FORBIDDEN,
            "the read-only API key does not allow this operation",
        )
        .into_response(),
        Access::None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key: send it as the `api-key` header or `Authorization: Bearer <key>`",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_grant_full_read_only_or_no_access() {
        let a = Auth::new(Some("secret"), Some("reader"));
        assert_eq!(a.access(Some(b"secret")), Access::All);
        assert_eq!(a.access(Some(b"reader")), Access::ReadOnly);
        assert_eq!(a.access(Some(b"secre")), Access::None);
        assert_eq!(a.access(None), Access::None);
        assert_eq!(Auth::new(None, None).access(None), Access::All);
    }

    #[test]
    fn only_search_like_posts_count_as_reads() {
        assert!(is_read_request(
            &Method::POST,
            "/collections/c/points/query"
        ));
        assert!(is_read_request(&Method::POST, "/collections/c/points"));
        assert!(is_read_request(&Method::GET, "/collections"));
        assert!(!is_read_request(
            &Method::POST,
            "/collections/c/points/delete"
        ));
        assert!(!is_read_request(
            &Method::POST,
            "/collections/c/points/payload"
        ));
        assert!(!is_read_request(&Method::PUT, "/collections/c/points"));
        assert!(!is_read_request(&Method::DELETE, "/collections/c"));
        assert!(!is_read_request(&Method::POST, "/collections/a/b/points"));
    }
}
