//! The real `sluice` binary as a child process, for tests that kill and restart it.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A free local TCP port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `sluice run` and the port of its API.
pub struct Sluice {
    /// The process.
    pub child: Child,
    /// Where its HTTP API listens.
    pub port: u16,
}

/// Starts `sluice run` on `flow_file` and `data` with `durability`, appending its log to `log`.
pub fn start(flow_file: &Path, data: &Path, log: &Path, durability: &str) -> Sluice {
    let port = free_port();
    let log = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--flow"])
        .arg(flow_file)
        .arg("--data-dir")
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--durability", durability])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start sluice");
    Sluice { child, port }
}
