//! Server settings: where the data lives, where to listen, keys, TLS, limits.
//!
//! The `quiver serve` command layers them: built-in defaults, then a TOML
//! file (`--config`), then `QUIVER_*` environment variables, then flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default largest request body: 32 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Default limit on the time one request may take.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// Default time a new connection may stay silent before its first byte.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_SECS: u64 = 10;
/// Default time from a request's first byte to the end of its headers.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Default time an idle keep-alive connection stays open.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT_SECS: u64 = 60;
/// Default largest number of connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default largest estimated result of one request: 64 MiB.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// Default op log size past which a collection created through the server
/// checkpoints: the engine's default.
pub const DEFAULT_CHECKPOINT_LOG_BYTES: u64 =
    quiver_core::CollectionConfig::DEFAULT_CHECKPOINT_LOG_BYTES;

/// Largest accepted value of a `*_timeout_secs` setting: one day.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// How long a connection may sit in each phase before it is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// From accept to the first byte.
    pub first_byte: Duration,
    /// From a request's first byte to the end of its headers.
    pub header_read: Duration,
    /// Idle between requests (no request in flight, no bytes moving).
    pub keep_alive: Duration,
}

/// Everything the server needs to start.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Database directory (created if missing).
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Key that allows every operation, sent as `api-key: KEY` or
    /// `Authorization: Bearer KEY`. `None` leaves the API open.
    pub api_key: Option<String>,
    /// Key that allows only reads (GET, search, query, scroll, count, retrieve).
    pub read_only_api_key: Option<String>,
    /// PEM certificate chain; with `tls_key`, the server speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Seconds a read may take before it is answered with 503. A write is
    /// cut off only before it starts (see `docs/server.md`).
    pub request_timeout_secs: u64,
    /// Seconds a new connection may stay silent before it is closed.
    pub first_byte_timeout_secs: u64,
    /// Seconds from the first byte of a request to the end of its headers
    /// before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds an idle keep-alive connection (no request in flight, no bytes
    /// moving) stays open.
    pub keep_alive_timeout_secs: u64,
    /// Connections served at once; further ones wait in the listen backlog
    /// until one closes.
    pub max_connections: usize,
    /// Largest estimated result of one request in bytes (vectors at 4 bytes
    /// a component plus payload and per-hit estimates); larger ones get 400
    /// before any work.
    pub max_result_bytes: usize,
    /// `checkpoint_log_bytes` of the collections created through this
    /// server when the create request does not set `wal_config.wal_capacity_mb`:
    /// the op log is checkpointed once it grows past this many bytes. It
    /// is stored in each collection's config, so changing it later does not
    /// change collections created before.
    pub checkpoint_log_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("./quiver-data"),
            host: "127.0.0.1".to_string(),
            port: 6333,
            api_key: None,
            read_only_api_key: None,
            tls_cert: None,
            tls_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: DEFAULT_REQUEST_TIMEOUT_SECS,
            first_byte_timeout_secs: DEFAULT_FIRST_BYTE_TIMEOUT_SECS,
            header_read_timeout_secs: DEFAULT_HEADER_READ_TIMEOUT_SECS,
            keep_alive_timeout_secs: DEFAULT_KEEP_ALIVE_TIMEOUT_SECS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            checkpoint_log_bytes: DEFAULT_CHECKPOINT_LOG_BYTES,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (line, column, field).
        message: String,
    },
    /// A value is out of range or settings contradict each other.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Reads a TOML file whose keys are the field names of this struct;
    /// keys left out keep their defaults.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] naming the file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Checks the settings that can be checked without touching the network.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "tls_cert and tls_key must be given together".into(),
            ));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::Invalid("max_body_bytes must be > 0".into()));
        }
        for (name, secs) in [
            ("request_timeout_secs", self.request_timeout_secs),
            ("first_byte_timeout_secs", self.first_byte_timeout_secs),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("keep_alive_timeout_secs", self.keep_alive_timeout_secs),
        ] {
            if secs == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be > 0")));
            }
            // Far beyond any useful limit, and small enough for Instant math.
            if secs > MAX_TIMEOUT_SECS {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at most {MAX_TIMEOUT_SECS}, got {secs}"
                )));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be > 0".into()));
        }
        if self.max_result_bytes == 0 {
            return Err(ConfigError::Invalid("max_result_bytes must be > 0".into()));
        }
        let min = quiver_core::CollectionConfig::MIN_CHECKPOINT_LOG_BYTES;
        if self.checkpoint_log_bytes < min {
            return Err(ConfigError::Invalid(format!(
                "checkpoint_log_bytes must be at least {min}, got {}",
                self.checkpoint_log_bytes
            )));
        }
        for (name, key) in [
            ("api_key", &self.api_key),
            ("read_only_api_key", &self.read_only_api_key),
        ] {
            // The message names the setting, never the key.
            match key.as_deref() {
                Some("") => {
                    return Err(ConfigError::Invalid(format!("{name} must not be empty")));
                }
                Some(k) if k.trim() != k => {
                    return Err(ConfigError::Invalid(format!(
                        "{name} starts or ends with whitespace (a copy-paste slip?): \
                         clients would have to send it exactly"
                    )));
                }
                Some(k) if k.chars().any(char::is_control) => {
                    return Err(ConfigError::Invalid(format!(
                        "{name} contains a control character: it cannot be sent in an HTTP header"
                    )));
                }
                _ => {}
            }
        }
        if self.api_key.is_some() && self.api_key == self.read_only_api_key {
            return Err(ConfigError::Invalid(
                "api_key and read_only_api_key are the same key: the read-only key would allow writes"
                    .into(),
            ));
        }
        if self.read_only_api_key.is_some() && self.api_key.is_none() {
            return Err(ConfigError::Invalid(
                "read_only_api_key needs api_key too: without it every request is allowed".into(),
            ));
        }
        self.socket_addr().map(|_| ())
    }

    /// `host:port` as a socket address.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] if `host` is not an IP address.
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        let ip: std::net::IpAddr = self.host.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "host `{}` is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)",
                self.host
            ))
        })?;
        Ok(SocketAddr::new(ip, self.port))
    }

    /// The per-request time limit.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The connection timeouts, as durations.
    pub fn connection_timeouts(&self) -> ConnectionTimeouts {
        ConnectionTimeouts {
            first_byte: Duration::from_secs(self.first_byte_timeout_secs),
            header_read: Duration::from_secs(self.header_read_timeout_secs),
            keep_alive: Duration::from_secs(self.keep_alive_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_file_overrides_only_the_keys_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiver.toml");
        std::fs::write(&path, "port = 7000\napi_key = \"k\"\n").unwrap();
        let c = ServerConfig::from_file(&path).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.host, "127.0.0.1");
        assert_eq!(c.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn unknown_keys_and_half_tls_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiver.toml");
        std::fs::write(&path, "prot = 7000\n").unwrap();
        assert!(matches!(
            ServerConfig::from_file(&path),
            Err(ConfigError::Parse { .. })
        ));
        let c = ServerConfig {
            tls_cert: Some("c.pem".into()),
            ..ServerConfig::default()
        };
        assert!(c.validate().is_err());
        let c = ServerConfig {
            host: "localhost:1".into(),
            ..ServerConfig::default()
        };
        assert!(c.validate().is_err());
        assert!(ServerConfig::default().validate().is_ok());
    }

    #[test]
    fn keys_that_cannot_work_are_refused_without_echoing_them() {
        let cases = [
            (Some("k3y-a"), Some("k3y-a"), "same key"),
            (
                Some(" s3cret"),
                None,
                "api_key starts or ends with whitespace",
            ),
            (
                Some("s3cret"),
                Some("reader\n"),
                "read_only_api_key starts or ends",
            ),
            (
                Some("s3\u{7}cret"),
                None,
                "api_key contains a control character",
            ),
            (
                Some("s3cret"),
                Some("re\tader"),
                "read_only_api_key contains a control",
            ),
        ];
        for (full, read_only, want) in cases {
            let c = ServerConfig {
                api_key: full.map(String::from),
                read_only_api_key: read_only.map(String::from),
                ..ServerConfig::default()
            };
            let Err(ConfigError::Invalid(msg)) = c.validate() else {
                panic!("{full:?} / {read_only:?} was accepted");
            };
            assert!(msg.contains(want), "{msg}");
            for key in [full, read_only].into_iter().flatten() {
                assert!(!msg.contains(key.trim()), "{msg} echoes the key");
            }
        }
        let ok = ServerConfig {
            api_key: Some("s3cret".into()),
            read_only_api_key: Some("reader".into()),
            ..ServerConfig::default()
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn connection_limits_must_be_positive_and_bounded() {
        for configure in [
            (|c: &mut ServerConfig| c.header_read_timeout_secs = 0) as fn(&mut ServerConfig),
            |c| c.first_byte_timeout_secs = 0,
            |c| c.keep_alive_timeout_secs = MAX_TIMEOUT_SECS + 1,
            |c| c.request_timeout_secs = 0,
            |c| c.max_connections = 0,
            |c| c.max_result_bytes = 0,
        ] {
            let mut c = ServerConfig::default();
            configure(&mut c);
            assert!(
                matches!(c.validate(), Err(ConfigError::Invalid(_))),
                "{c:?}"
            );
        }
    }
}
