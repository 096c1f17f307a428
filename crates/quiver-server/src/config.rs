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
    /// Seconds one request may take before it is answered with 503.
    pub request_timeout_secs: u64,
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
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "request_timeout_secs must be > 0".into(),
            ));
        }
        for (name, key) in [
            ("api_key", &self.api_key),
            ("read_only_api_key", &self.read_only_api_key),
        ] {
            if key.as_deref().is_some_and(str::is_empty) {
                return Err(ConfigError::Invalid(format!("{name} must not be empty")));
            }
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
}
