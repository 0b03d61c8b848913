//! Real servers for the database and messaging tests: PostgreSQL and nats-server, started
//! with `scripts/start-postgres.sh` / `scripts/start-nats.sh` on free local ports (which
//! install the Debian packages when missing), or taken from SLUICE_TEST_POSTGRES_URL /
//! SLUICE_TEST_NATS_URL. A server that cannot be started fails the test loudly.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("scripts").join(name)
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or("").to_string()
}

/// A PostgreSQL server started by a test (stopped when dropped).
pub struct Postgres {
    /// postgresql://sluicetest:sluicetest@127.0.0.1:PORT/sluice_test
    pub url: String,
    /// Its port.
    pub port: u16,
    data: PathBuf,
    root: PathBuf,
    running: bool,
}

impl Postgres {
    /// A directory and port for a server that is not started yet.
    pub fn prepare() -> Postgres {
        let root = std::env::temp_dir().join(format!("sluice-pg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&root).expect("temp dir");
        // The server runs as an unprivileged user when the tests run as root: it must reach it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let port = free_port();
        Postgres {
            url: format!("postgresql://sluicetest:sluicetest@127.0.0.1:{port}/sluice_test"),
            port,
            data: root.join("data"),
            root,
            running: false,
        }
    }

    /// Starts a new server of its own.
    pub fn start() -> Postgres {
        let mut p = Postgres::prepare();
        p.up();
        p
    }

    /// Starts (or restarts) the server on its directory and port.
    pub fn up(&mut self) {
        let url = run(
            Command::new("bash").arg(script("start-postgres.sh")).arg(&self.data).arg(self.port.to_string()),
            "scripts/start-postgres.sh",
        );
        assert_eq!(url, self.url, "start-postgres.sh printed an unexpected URL");
        self.running = true;
    }

    /// Stops the server (it can be started again with `up`).
    pub fn down(&mut self) {
        if self.running {
            run(
                Command::new("bash").arg(script("start-postgres.sh")).arg("stop").arg(&self.data),
                "stopping PostgreSQL",
            );
            self.running = false;
        }
    }

    /// The URL with another password.
    pub fn url_with_password(&self, password: &str) -> String {
        self.url.replace("sluicetest:sluicetest@", &format!("sluicetest:{password}@"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new("bash").arg(script("start-postgres.sh")).arg("stop").arg(&self.data).output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

static SHARED_PG: OnceLock<(String, Option<Postgres>)> = OnceLock::new();
static SHARED_NATS: OnceLock<(String, Option<Nats>)> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some((_, Some(p))) = SHARED_PG.get() {
        let _ = Command::new("bash").arg(script("start-postgres.sh")).arg("stop").arg(&p.data).output();
        let _ = std::fs::remove_dir_all(&p.root);
    }
    if let Some((_, Some(n))) = SHARED_NATS.get() {
        let _ = Command::new("bash").arg(script("start-nats.sh")).arg("stop").arg(&n.dir).output();
        let _ = std::fs::remove_dir_all(&n.dir);
    }
}

fn register_atexit() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| unsafe {
        libc::atexit(stop_shared);
    });
}

/// The PostgreSQL URL shared by this test binary: SLUICE_TEST_POSTGRES_URL, or a server
/// started once for the binary and stopped when it exits.
pub fn postgres_url() -> String {
    SHARED_PG
        .get_or_init(|| match std::env::var("SLUICE_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => (u, None),
            _ => {
                register_atexit();
                let p = Postgres::start();
                (p.url.clone(), Some(p))
            }
        })
        .0
        .clone()
}

/// A nats-server with JetStream started by a test (stopped when dropped).
pub struct Nats {
    /// nats://127.0.0.1:PORT
    pub url: String,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    running: bool,
}

impl Nats {
    /// A directory and port for a server not started yet.
    pub fn prepare() -> Nats {
        let dir = std::env::temp_dir().join(format!("sluice-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = free_port();
        Nats { url: format!("nats://127.0.0.1:{port}"), port, dir, running: false }
    }

    /// Starts a new server.
    pub fn start() -> Nats {
        let mut n = Nats::prepare();
        n.up();
        n
    }

    /// Starts (or restarts, keeping its JetStream data) the server.
    pub fn up(&mut self) {
        let url = run(
            Command::new("bash").arg(script("start-nats.sh")).arg(self.port.to_string()).arg(&self.dir),
            "scripts/start-nats.sh",
        );
        assert_eq!(url, self.url, "start-nats.sh printed an unexpected URL");
        self.running = true;
    }

    /// Starts a new server that demands `user` and `pass`.
    pub fn start_with_auth(user: &str, pass: &str) -> Nats {
        let mut n = Nats::prepare();
        let url = run(
            Command::new("bash")
                .arg(script("start-nats.sh"))
                .arg(n.port.to_string())
                .arg(&n.dir)
                .env("NATS_USER", user)
                .env("NATS_PASS", pass),
            "scripts/start-nats.sh",
        );
        assert_eq!(url, n.url, "start-nats.sh printed an unexpected URL");
        n.running = true;
        n
    }

    /// Stops the server.
    pub fn down(&mut self) {
        if self.running {
            run(Command::new("bash").arg(script("start-nats.sh")).arg("stop").arg(&self.dir), "stopping nats-server");
            self.running = false;
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new("bash").arg(script("start-nats.sh")).arg("stop").arg(&self.dir).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The NATS URL shared by this test binary: SLUICE_TEST_NATS_URL, or a server started once
/// for the binary and stopped when it exits.
pub fn nats_url() -> String {
    SHARED_NATS
        .get_or_init(|| match std::env::var("SLUICE_TEST_NATS_URL") {
            Ok(u) if !u.is_empty() => (u, None),
            _ => {
                register_atexit();
                let n = Nats::start();
                (n.url.clone(), Some(n))
            }
        })
        .0
        .clone()
}

/// Polls `f` until it returns Some, at most `timeout`.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
