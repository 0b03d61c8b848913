//! The `sluice` command: run the engine with its web editor, validate flow files, evaluate
//! expressions.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

mod bench;
mod docs;
mod peer_bench;
mod provenance_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sluice_engine::repository::Durability;
use sluice_engine::{EngineConfig, FlowController, FlowDefinition};

/// mimalloc: the engine allocates and frees many small objects per flowfile across threads,
/// where glibc's allocator spends much of its time consolidating.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The demo flow a new data dir starts with.
const DEMO_FLOW: &str = include_str!("../flows/demo.json");

/// The benchmarks of `sluice bench`.
#[derive(Subcommand)]
enum BenchCommand {
    /// The engine-core pipeline (GenerateFlowFile → UpdateAttribute → RouteOnAttribute →
    /// auto-terminated, 1 KiB) in this process, at every durability, with and without provenance.
    Core {
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Only this durability (memory, os, fsync); default all.
        #[arg(long)]
        durability: Option<Durability>,
        /// Only with provenance on (true) or off (false); default both.
        #[arg(long)]
        provenance: Option<bool>,
    },
    /// The Node-RED peer benchmark's workloads (a: HTTP ingest, b: internal throughput, c: file
    /// to file) with the same load and checks, each in a fresh `sluice run` of the shipped flow.
    /// Exits 3 when a correctness check failed.
    Peer {
        /// Workloads: a, b, c or all.
        #[arg(default_values_t = vec!["all".to_string()])]
        workloads: Vec<String>,
        /// Scratch dir for data dirs, outputs and the c input (default: a new temp dir).
        #[arg(long)]
        work: Option<PathBuf>,
        /// The oha 1.16.0 binary for workload a (default: $OHA, else `oha` on PATH).
        #[arg(long, env = "OHA", default_value = "oha")]
        oha: PathBuf,
        /// The peer's results/latest.json: print the side-by-side table with ratios.
        #[arg(long)]
        node_red: Option<PathBuf>,
        /// Write the results as JSON here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Durability of the engine under test.
        #[arg(long, default_value = "os")]
        durability: Durability,
        /// Measure with provenance off (the default configuration has it on).
        #[arg(long)]
        no_provenance: bool,
    },
}

#[derive(Parser)]
#[command(name = "sluice", version, about = "A NiFi-style dataflow engine with a visual flow editor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine and the editor.
    Run {
        /// The flow file to run and keep in sync with edits (default: the one saved in the data dir).
        #[arg(long)]
        flow: Option<PathBuf>,
        /// Where repositories and the running flow live.
        #[arg(long, default_value = "./sluice-data")]
        data_dir: PathBuf,
        /// Address to listen on (anything but loopback requires authentication).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// os (survives a crash of the process), fsync (survives power loss) or memory.
        #[arg(long, default_value = "os")]
        durability: Durability,
        /// Worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
        /// Turn provenance off.
        #[arg(long)]
        no_provenance: bool,
        /// Require a password (single user; always on when a password or hash is configured).
        #[arg(long)]
        auth: bool,
        /// The password's argon2 hash (PHC string); also env SLUICE_PASSWORD_HASH, or a plain
        /// password in env SLUICE_PASSWORD; else one is generated at the first start and printed once.
        #[arg(long)]
        password_hash: Option<String>,
        /// PEM certificate chain: serve HTTPS (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Check a flow file; exits non-zero with every problem found.
    Validate {
        /// The flow file.
        file: PathBuf,
    },
    /// Measure the engine: prints `name value unit` lines (see docs/performance.md).
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// Search the provenance of a data dir (Sluice stopped): newest first, as a table or JSON.
    Provenance {
        /// The data dir.
        #[arg(long)]
        data_dir: PathBuf,
        /// Events involving this flowfile UUID.
        #[arg(long)]
        flowfile: Option<String>,
        /// Events of this component (id or name).
        #[arg(long)]
        component: Option<String>,
        /// Events of this type, e.g. ROUTE.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Events with this attribute value, NAME=VALUE (any attribute, no indexing set up).
        #[arg(long)]
        attribute: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON (the shape of GET /api/provenance) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show the processor reference: every type, or one in full.
    Docs {
        /// A processor type, e.g. RouteOnAttribute (case does not matter).
        processor_type: Option<String>,
    },
    /// Evaluate an expression-language expression.
    El {
        /// The expression, e.g. '${filename:toUpper()}'.
        expression: String,
        /// Attributes as NAME=VALUE.
        #[arg(long = "attr")]
        attrs: Vec<String>,
    },
}

/// mimalloc commits its arenas eagerly by default and then never returns their freed pages,
/// which kept ~40 MiB more resident at idle (62 against 19 MiB, measured with `sluice bench
/// peer b`) for no throughput gain. The option is read from the environment when the first
/// arena is made, before `main`, so `sluice run` sets it and re-executes itself once (same pid,
/// about a millisecond). An explicit `MIMALLOC_ARENA_EAGER_COMMIT` is left alone.
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    if std::env::var_os(VAR).is_some() || std::env::args_os().nth(1).is_none_or(|a| a != "run") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    // SAFETY: single-threaded here (first thing in main), so setting the environment is sound.
    unsafe { std::env::set_var(VAR, "0") };
    let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
    // exec only returns on failure: run as we are.
    eprintln!("note: could not re-execute with {VAR}=0 ({err}); continuing");
}

/// Errors print as one line with their causes (`outer: inner`), never with a backtrace, whatever
/// `RUST_BACKTRACE` says: they are messages for users, not crashes.
fn main() -> std::process::ExitCode {
    tune_allocator();
    match run_command(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            flow,
            data_dir,
            listen,
            durability,
            workers,
            no_provenance,
            auth,
            password_hash,
            tls_cert,
            tls_key,
        } => {
            init_logging();
            let security = Security { auth, password_hash, tls_cert, tls_key };
            run(flow, data_dir, listen, durability, workers, !no_provenance, security)
        }
        Command::Validate { file } => validate(&file),
        Command::Bench { which: BenchCommand::Core { seconds, workers, durability, provenance } } => {
            bench_cmd(seconds, workers, durability, provenance)
        }
        Command::Bench {
            which: BenchCommand::Peer { workloads, work, oha, node_red, out, durability, no_provenance },
        } => peer_bench_cmd(workloads, work, oha, node_red, out, durability, !no_provenance),
        Command::El { expression, attrs } => el(&expression, &attrs),
        Command::Provenance { data_dir, flowfile, component, event_type, attribute, limit, json } => {
            let s = provenance_cmd::Search { data_dir, flowfile, component, event_type, attribute, limit, json };
            print!("{}", provenance_cmd::search(&s)?);
            Ok(())
        }
        Command::Docs { processor_type } => {
            print!("{}", docs::docs(&sluice_processors::registry(), processor_type.as_deref())?);
            Ok(())
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

/// The web server's security options of `sluice run`.
struct Security {
    auth: bool,
    password_hash: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// Authentication and TLS settings for the web server, from the flags, the environment and
/// the data dir; refuses a non-loopback address without authentication.
fn web_config(listen: SocketAddr, data_dir: &std::path::Path, sec: Security) -> anyhow::Result<sluice_web::WebConfig> {
    let env_set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    let auth_enabled =
        sec.auth || sec.password_hash.is_some() || env_set("SLUICE_PASSWORD_HASH") || env_set("SLUICE_PASSWORD");
    sluice_web::check_listen_policy(&listen, auth_enabled)?;
    let auth = if auth_enabled {
        let p = sluice_web::auth::resolve_password(sec.password_hash, data_dir)?;
        if let Some(password) = &p.generated {
            println!("Generated password for the Sluice editor: {password}");
            println!(
                "(shown only this once; its hash is stored in {}; delete that file to generate a new one)",
                p.source
            );
        }
        tracing::info!("authentication on (password from {})", p.source);
        Some(sluice_web::AuthConfig::new(p.hash))
    } else {
        None
    };
    let tls = match (sec.tls_cert, sec.tls_key) {
        (Some(cert), Some(key)) => Some(sluice_web::TlsConfig { cert, key }),
        _ => None,
    };
    Ok(sluice_web::WebConfig { auth, tls, data_dir: Some(data_dir.to_path_buf()), ..Default::default() })
}

fn run(
    flow: Option<PathBuf>,
    data_dir: PathBuf,
    listen: SocketAddr,
    durability: Durability,
    workers: Option<usize>,
    provenance: bool,
    security: Security,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let web = web_config(listen, &data_dir, security)?;
    let saved = data_dir.join("flow.json");
    let (def, flow_path) = match &flow {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading flow file {}", path.display()))?;
            (parse(&text, &path.display().to_string())?, path.clone())
        }
        None if saved.exists() => {
            let text = std::fs::read_to_string(&saved).with_context(|| format!("reading {}", saved.display()))?;
            (parse(&text, &saved.display().to_string())?, saved.clone())
        }
        None => (parse(DEMO_FLOW, "the embedded demo flow")?, saved.clone()),
    };
    let mut config = EngineConfig {
        data_dir: Some(data_dir.clone()),
        durability,
        provenance,
        flow_path: Some(flow_path.clone()),
        ..Default::default()
    };
    if let Some(w) = workers {
        config.workers = w;
    }
    let controller = FlowController::new(config, sluice_processors::registry()).context("starting the engine")?;
    // Sensitive property values are kept encrypted in the flow file, under <data dir>/secrets.key.
    controller.set_secret_store(Arc::new(sluice_web::secrets::KeyFileSecretStore::open(&data_dir)?));
    controller
        .load(def)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading {}", flow_path.display()))?;

    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("sluice-io").build()?;
    let result = rt.block_on(async {
        if let Some(tls) = &web.tls {
            sluice_web::tls::load(tls).await?;
        }
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        tracing::info!(
            "Sluice ready on {}://{} in {} ms (data dir {}, flow {}, durability {durability:?})",
            if web.tls.is_some() { "https" } else { "http" },
            listener.local_addr()?,
            started.elapsed().as_millis(),
            data_dir.display(),
            flow_path.display()
        );
        sluice_web::serve(listener, controller.clone(), web, shutdown_signal()).await?;
        anyhow::Ok(())
    });
    tracing::info!("stopping");
    controller.shutdown();
    drop(Arc::clone(&controller));
    result
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn parse(text: &str, what: &str) -> anyhow::Result<FlowDefinition> {
    sluice_engine::flow::parse_flow(text).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

fn validate(file: &PathBuf) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let registry = sluice_processors::registry();
    let mut problems = Vec::new();
    match sluice_engine::flow::parse_flow(&text) {
        Err(e) => problems.extend(e.issues),
        Ok(def) => {
            if let Err(e) = sluice_engine::flow::load::check_structure(&def, &registry) {
                problems.extend(e.issues);
            } else {
                problems.extend(sluice_engine::flow::load::check_processors(&def, &registry));
            }
        }
    }
    if problems.is_empty() {
        println!("{}: valid", file.display());
        return Ok(());
    }
    for p in &problems {
        eprintln!("{}: {p}", file.display());
    }
    std::process::exit(1);
}

fn el(expression: &str, attrs: &[String]) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for a in attrs {
        let (k, v) = a.split_once('=').with_context(|| format!("--attr '{a}' must be NAME=VALUE"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let expr = sluice_engine::expression::Expression::compile(expression).map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = expr.evaluate(&pairs).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{out}");
    Ok(())
}

fn bench_cmd(
    seconds: f64,
    workers: usize,
    durability: Option<Durability>,
    provenance: Option<bool>,
) -> anyhow::Result<()> {
    let base = bench::baseline(seconds.min(3.0));
    println!("baseline.crossbeam_items_per_s {base:.0}");
    let modes = match durability {
        Some(d) => vec![d],
        None => vec![Durability::Memory, Durability::Os, Durability::Fsync],
    };
    let provs = match provenance {
        Some(p) => vec![p],
        None => vec![false, true],
    };
    for d in modes {
        for &p in &provs {
            let opts = bench::CoreOptions { seconds, durability: d, provenance: p, data_dir: None, workers };
            let r = bench::run_core(&opts)?;
            let name = format!("core.{}.provenance_{}", format!("{d:?}").to_lowercase(), if p { "on" } else { "off" });
            println!("{name}.flowfiles_per_s {:.0}", r.flowfiles_per_s);
            println!("{name}.cpu_us_per_flowfile {:.3}", r.cpu_us_per_flowfile);
            println!("{name}.ratio_to_baseline {:.4}", r.flowfiles_per_s / base);
        }
    }
    Ok(())
}

fn peer_bench_cmd(
    workloads: Vec<String>,
    work: Option<PathBuf>,
    oha: PathBuf,
    node_red: Option<PathBuf>,
    out: Option<PathBuf>,
    durability: Durability,
    provenance: bool,
) -> anyhow::Result<()> {
    let workloads: Vec<String> =
        if workloads.iter().any(|w| w == "all") { vec!["a".into(), "b".into(), "c".into()] } else { workloads };
    let temp;
    let work = match work {
        Some(w) => w,
        None => {
            temp = tempfile::Builder::new().prefix("sluice-peer-bench").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let opts = peer_bench::PeerOptions {
        engine: peer_bench::EngineArgs {
            binary: std::env::current_exe().context("locating the sluice binary")?,
            durability: format!("{durability:?}").to_lowercase(),
            provenance,
        },
        work,
        oha,
        node_red,
        out,
    };
    if !peer_bench::run(&opts, &workloads)? {
        std::process::exit(3);
    }
    Ok(())
}
