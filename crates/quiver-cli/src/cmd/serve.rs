//! `quiver serve`: the HTTP server.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use quiver_server::{Server, ServerConfig};

/// Serve a database over HTTP with Qdrant-compatible routes.
///
/// Settings come from, lowest priority first: built-in defaults, the TOML
/// file given with --config (keys: data_dir, host, port, api_key,
/// read_only_api_key, tls_cert, tls_key, max_body_bytes,
/// request_timeout_secs, first_byte_timeout_secs, header_read_timeout_secs,
/// keep_alive_timeout_secs, max_connections, max_result_bytes,
/// checkpoint_log_bytes), QUIVER_*
/// environment variables, then flags.
/// SIGINT or SIGTERM stops accepting connections, lets in-flight requests
/// finish (up to 30 s) and flushes every collection before exiting.
#[derive(clap::Args)]
#[command(after_long_help = "Examples:
  quiver serve
  quiver serve --data /var/lib/quiver --host 0.0.0.0 --port 6333
  QUIVER_API_KEY=secret quiver serve --read-only-api-key reader
  quiver serve --tls-cert cert.pem --tls-key key.pem
  quiver serve --config quiver.toml

Then, e.g.:
  curl -X PUT localhost:6333/collections/docs -H 'content-type: application/json' \\
       -d '{\"vectors\": {\"size\": 384, \"distance\": \"Cosine\"}}'
  python -c 'from qdrant_client import QdrantClient; print(QdrantClient(\"http://localhost:6333\").get_collections())'
  curl localhost:6333/openapi.json")]
pub struct Args {
    /// TOML file with settings (see above); flags and environment win over it.
    #[arg(long, env = "QUIVER_CONFIG")]
    config: Option<PathBuf>,
    /// Database directory [default: ./quiver-data].
    #[arg(long, env = "QUIVER_DATA")]
    data: Option<PathBuf>,
    /// IP address to listen on [default: 127.0.0.1].
    #[arg(long, env = "QUIVER_HOST")]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one [default: 6333].
    #[arg(long, env = "QUIVER_PORT")]
    port: Option<u16>,
    /// Key required on every request except health probes, as the `api-key`
    /// header or `Authorization: Bearer KEY`.
    #[arg(long, env = "QUIVER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Key that allows only reads (needs --api-key too).
    #[arg(long, env = "QUIVER_READ_ONLY_API_KEY", hide_env_values = true)]
    read_only_api_key: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, env = "QUIVER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "QUIVER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest request body in bytes [default: 33554432 = 32 MiB].
    #[arg(long, env = "QUIVER_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Seconds a read may take before it is answered with 503; a write is
    /// cut off only before it starts [default: 60].
    #[arg(long, env = "QUIVER_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: Option<u64>,
    /// Seconds a new connection may stay silent before it is closed [default: 10].
    #[arg(long, env = "QUIVER_FIRST_BYTE_TIMEOUT_SECS")]
    first_byte_timeout_secs: Option<u64>,
    /// Seconds from a request's first byte to the end of its headers [default: 10].
    #[arg(long, env = "QUIVER_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: Option<u64>,
    /// Seconds an idle keep-alive connection stays open [default: 60].
    #[arg(long, env = "QUIVER_KEEP_ALIVE_TIMEOUT_SECS")]
    keep_alive_timeout_secs: Option<u64>,
    /// Connections served at once; more wait in the listen backlog [default: 512].
    #[arg(long, env = "QUIVER_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Largest estimated answer of one read in bytes (vectors at 4 bytes a
    /// component, plus payload and per-hit estimates) [default: 67108864 = 64 MiB].
    #[arg(long, env = "QUIVER_MAX_RESULT_BYTES")]
    max_result_bytes: Option<usize>,
    /// Op log size in bytes past which collections created by this server
    /// checkpoint, unless the create request sets wal_config.wal_capacity_mb;
    /// stored in each collection's config [default: 67108864 = 64 MiB].
    #[arg(long, env = "QUIVER_CHECKPOINT_LOG_BYTES")]
    checkpoint_log_bytes: Option<u64>,
}

impl Args {
    /// Defaults, then the file, then environment and flags (clap merged those).
    fn into_config(self) -> anyhow::Result<ServerConfig> {
        let mut c = match &self.config {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        if let Some(v) = self.data {
            c.data_dir = v;
        }
        if let Some(v) = self.host {
            c.host = v;
        }
        if let Some(v) = self.port {
            c.port = v;
        }
        if self.api_key.is_some() {
            c.api_key = self.api_key;
        }
        if self.read_only_api_key.is_some() {
            c.read_only_api_key = self.read_only_api_key;
        }
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert;
            c.tls_key = self.tls_key;
        }
        if let Some(v) = self.max_body_bytes {
            c.max_body_bytes = v;
        }
        if let Some(v) = self.request_timeout_secs {
            c.request_timeout_secs = v;
        }
        if let Some(v) = self.first_byte_timeout_secs {
            c.first_byte_timeout_secs = v;
        }
        if let Some(v) = self.header_read_timeout_secs {
            c.header_read_timeout_secs = v;
        }
        if let Some(v) = self.keep_alive_timeout_secs {
            c.keep_alive_timeout_secs = v;
        }
        if let Some(v) = self.max_connections {
            c.max_connections = v;
        }
        if let Some(v) = self.max_result_bytes {
            c.max_result_bytes = v;
        }
        if let Some(v) = self.checkpoint_log_bytes {
            c.checkpoint_log_bytes = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let data_dir = config.data_dir.clone();
        let auth = config.api_key.is_some();
        let server = Server::bind(config).await?;
        let scheme = if server.is_tls() { "https" } else { "http" };
        // Scripts (and the interop test) read this line to find the port.
        // Like the log, it is best effort: println! would panic on a closed
        // or full stdout, and serving does not depend on it.
        say(format_args!(
            "quiver {} listening on {scheme}://{} (data: {}, api key: {})",
            quiver_server::version(),
            server.local_addr(),
            data_dir.display(),
            if auth { "required" } else { "none" },
        ));
        server.run(quiver_server::shutdown_signal()).await?;
        say(format_args!("quiver stopped; all collections flushed"));
        anyhow::Ok(())
    })
}

/// Prints a line on stdout, ignoring a stdout that cannot be written.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn flags_win_over_the_config_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiver.toml");
        std::fs::write(
            &path,
            "port = 7000\nhost = \"0.0.0.0\"\nrequest_timeout_secs = 5\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--port",
            "7001",
            "--data",
            "/tmp/q",
        ])
        .unwrap();
        let c = cli.args.into_config().unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.request_timeout_secs, 5);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/q"));
        assert_eq!(
            c.max_body_bytes,
            quiver_server::config::DEFAULT_MAX_BODY_BYTES
        );
        let bad = Cli::try_parse_from(["serve", "--read-only-api-key", "r"]).unwrap();
        assert!(bad.args.into_config().is_err());
    }

    #[test]
    fn connection_and_result_limits_come_from_flags_and_are_validated() {
        let cli = Cli::try_parse_from([
            "serve",
            "--first-byte-timeout-secs",
            "2",
            "--header-read-timeout-secs",
            "3",
            "--keep-alive-timeout-secs",
            "4",
            "--max-connections",
            "5",
            "--max-result-bytes",
            "6",
        ])
        .unwrap();
        let c = cli.args.into_config().unwrap();
        assert_eq!(
            (
                c.first_byte_timeout_secs,
                c.header_read_timeout_secs,
                c.keep_alive_timeout_secs,
                c.max_connections,
                c.max_result_bytes
            ),
            (2, 3, 4, 5, 6)
        );
        let bad = Cli::try_parse_from(["serve", "--max-connections", "0"]).unwrap();
        assert!(bad.args.into_config().is_err());
        let same =
            Cli::try_parse_from(["serve", "--api-key", "k", "--read-only-api-key", "k"]).unwrap();
        let e = same.args.into_config().unwrap_err().to_string();
        assert!(e.contains("same key"), "{e}");
    }

    #[test]
    fn the_checkpoint_size_comes_from_the_flag_and_is_validated() {
        let c = Cli::try_parse_from(["serve"]).unwrap().args.into_config();
        assert_eq!(
            c.unwrap().checkpoint_log_bytes,
            quiver_server::config::DEFAULT_CHECKPOINT_LOG_BYTES
        );
        let cli = Cli::try_parse_from(["serve", "--checkpoint-log-bytes", "262144"]).unwrap();
        assert_eq!(
            cli.args.into_config().unwrap().checkpoint_log_bytes,
            262_144
        );
        let bad = Cli::try_parse_from(["serve", "--checkpoint-log-bytes", "10"]).unwrap();
        let e = bad.args.into_config().unwrap_err().to_string();
        assert!(e.contains("checkpoint_log_bytes"), "{e}");
    }
}
