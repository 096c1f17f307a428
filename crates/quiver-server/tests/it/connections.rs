//! Connection limits: stalled or silent clients are closed after their
//! timeout, and connections beyond the cap wait until others close, so
//! nobody without a key can keep the server from serving others.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::TestServer;

fn limited(max_connections: usize) -> TestServer {
    TestServer::with(|c| {
        c.first_byte_timeout_secs = 1;
        c.header_read_timeout_secs = 1;
        c.keep_alive_timeout_secs = 1;
        c.max_connections = max_connections;
    })
}

fn addr(s: &TestServer) -> String {
    s.base.trim_start_matches("http://").to_string()
}

/// Whether the server closed `stream` (EOF or reset) rather than leaving
/// it open. The read timeout only keeps a broken server from hanging the
/// test; the server's own timeouts are 1 s.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // An error answer (408-like) before closing is fine.
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[test]
fn half_sent_requests_beyond_the_cap_do_not_lock_out_other_clients() {
    let s = limited(4);
    let mut stalled: Vec<TcpStream> = (0..12)
        .map(|_| {
            let mut c = TcpStream::connect(addr(&s)).unwrap();
            c.write_all(b"GET /collections HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            c
        })
        .collect();
    // Queued behind the stalled ones; served once they are closed.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let answer = client
        .get(format!("{}/collections", s.base))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    for (i, c) in stalled.iter_mut().enumerate() {
        assert!(closed_by_server(c), "stalled connection {i} is still open");
    }
}

#[test]
fn silent_and_idle_connections_are_closed() {
    let s = limited(64);
    // Never sends a byte.
    let mut silent = TcpStream::connect(addr(&s)).unwrap();
    assert!(
        closed_by_server(&mut silent),
        "silent connection still open"
    );
    // One full request, then nothing: the keep-alive connection is closed.
    let mut idle = TcpStream::connect(addr(&s)).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let n = idle.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut idle), "idle connection still open");
}
