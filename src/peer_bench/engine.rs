//! One Sluice under test: `sluice run` started as a child process with a workload's flow on a
//! fresh data dir, timed to its port and to `GET /api/health` 200 the way the peer's
//! `start.sh` times Node-RED, driven over the HTTP API, and stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// How the engine under test is started.
#[derive(Clone, Debug)]
pub struct EngineArgs {
    /// The `sluice` binary (this one).
    pub binary: PathBuf,
    /// `--durability` (os unless asked otherwise).
    pub durability: String,
    /// Whether provenance is on (the default configuration has it on).
    pub provenance: bool,
}

/// A running engine.
pub struct Engine {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// The API port on 127.0.0.1.
    pub port: u16,
    /// From just before exec until the port accepted a connection.
    pub startup_port_ms: f64,
    /// From just before exec until `GET /api/health` answered 200.
    pub startup_ready_ms: f64,
    log: PathBuf,
    client: reqwest::blocking::Client,
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Engine {
    /// Writes `flow` into `dir`, starts `sluice run` on it with a new data dir there, and waits
    /// (polling every 5 ms, as the peer does) until it is ready.
    pub fn start(args: &EngineArgs, flow: &Value, dir: &Path) -> Result<Engine> {
        std::fs::create_dir_all(dir)?;
        let flow_path = dir.join("flow.json");
        std::fs::write(&flow_path, serde_json::to_vec_pretty(flow)?)?;
        let data = dir.join("data");
        let _ = std::fs::remove_dir_all(&data);
        let log = dir.join("sluice.log");
        let port = free_port()?;
        let mut cmd = Command::new(&args.binary);
        cmd.arg("run")
            .arg("--flow")
            .arg(&flow_path)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--durability")
            .arg(&args.durability)
            .env("SLUICE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&log)?))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log)?));
        if !args.provenance {
            cmd.arg("--no-provenance");
        }
        let t0 = Instant::now();
        let child = cmd.spawn().with_context(|| format!("starting {}", args.binary.display()))?;
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let mut engine =
            Engine { pid: child.id(), child, port, startup_port_ms: 0.0, startup_ready_ms: 0.0, log, client };
        let deadline = t0 + Duration::from_secs(60);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            engine.check_alive()?;
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                engine.startup_port_ms = t0.elapsed().as_secs_f64() * 1000.0;
                break;
            }
            if Instant::now() > deadline {
                bail!("sluice did not open port {port} within 60 s{}", engine.log_tail());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        loop {
            engine.check_alive()?;
            if engine.client.get(engine.url("/api/health")).send().is_ok_and(|r| r.status() == 200) {
                engine.startup_ready_ms = t0.elapsed().as_secs_f64() * 1000.0;
                break;
            }
            if Instant::now() > deadline {
                bail!("sluice was not ready within 60 s{}", engine.log_tail());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(engine)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The last lines of the engine's log, for an error message.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("\n--- last lines of {} ---\n{tail}", self.log.display())
    }

    /// Fails when the engine has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("sluice exited ({status}){}", self.log_tail());
        }
        Ok(())
    }

    /// `GET /api/flow`.
    pub fn flow(&self) -> Result<Value> {
        let r = self.client.get(self.url("/api/flow")).send()?;
        if !r.status().is_success() {
            bail!("GET /api/flow: HTTP {}", r.status());
        }
        Ok(r.json()?)
    }

    /// `POST /api/processors/{id}/start` or `/stop`.
    pub fn set_running(&self, processor: &str, running: bool) -> Result<()> {
        let action = if running { "start" } else { "stop" };
        let r = self.client.post(self.url(&format!("/api/processors/{processor}/{action}"))).send()?;
        if !r.status().is_success() {
            bail!("POST /api/processors/{processor}/{action}: HTTP {}: {}", r.status(), r.text().unwrap_or_default());
        }
        Ok(())
    }

    /// Waits until every connection is empty in two polls in a row, 50 ms apart.
    pub fn wait_drained(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut empty_in_a_row = 0;
        loop {
            self.check_alive()?;
            let flow = self.flow()?;
            let queued: u64 = flow["connections"]
                .as_array()
                .map(|cs| cs.iter().map(|c| c["status"]["queued_count"].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0);
            empty_in_a_row = if queued == 0 { empty_in_a_row + 1 } else { 0 };
            if empty_in_a_row >= 2 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{queued} flowfiles still queued after {} s", timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then SIGKILL after 15 s; fails when the engine did not exit cleanly.
    pub fn stop(mut self) -> Result<()> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("sluice exited with {status} on SIGTERM{}", self.log_tail());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("sluice did not stop within 15 s of SIGTERM{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A processor's status counter (`flowfiles_in`, `flowfiles_out`, ...) in a `GET /api/flow` answer.
pub fn processor_counter(flow: &Value, id: &str, counter: &str) -> Result<u64> {
    flow["processors"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == id))
        .and_then(|p| p["status"][counter].as_u64())
        .with_context(|| format!("no status.{counter} of processor '{id}' in GET /api/flow"))
}

/// A shipped flow with its parameters replaced and some processors' states set.
pub fn shipped_flow(text: &str, params: &[(&str, String)], states: &[(&str, &str)]) -> Result<Value> {
    let mut flow: Value = serde_json::from_str(text)?;
    for (k, v) in params {
        if flow["parameters"].get(*k).is_none() {
            bail!("the shipped flow has no parameter '{k}'");
        }
        flow["parameters"][*k] = Value::String(v.clone());
    }
    for (id, state) in states {
        let p = flow["processors"]
            .as_array_mut()
            .and_then(|ps| ps.iter_mut().find(|p| p["id"] == *id))
            .with_context(|| format!("the shipped flow has no processor '{id}'"))?;
        p["state"] = Value::String(state.to_string());
    }
    Ok(flow)
}
