//! `/metrics`: Prometheus text exposition built from the live flow (cumulative processor
//! counters, queue figures), the process (`/proc/self`), the repositories and the WebSocket
//! hub. Passes `promtool check metrics`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sluice_engine::FlowController;

use crate::AppState;
use crate::error::blocking;

/// Figures of this process from `/proc/self` (zeros elsewhere).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessFigures {
    /// Resident memory.
    pub rss_bytes: u64,
    /// Virtual memory.
    pub virtual_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// Threads.
    pub threads: u64,
    /// Start time, seconds since the epoch.
    pub start_time_seconds: f64,
}

impl ProcessFigures {
    /// Reads `/proc/self/status`, `/proc/self/stat` and `/proc/self/fd`.
    pub fn read() -> Self {
        let mut f = ProcessFigures::default();
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                let kb = |l: &str| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024;
                if line.starts_with("VmRSS:") {
                    f.rss_bytes = kb(line);
                } else if line.starts_with("VmSize:") {
                    f.virtual_bytes = kb(line);
                } else if let Some(t) = line.strip_prefix("Threads:") {
                    f.threads = t.trim().parse().unwrap_or(0);
                }
            }
        }
        // Clock ticks are 100 per second on every Linux configuration in use.
        const TICKS: f64 = 100.0;
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command (which may hold spaces) start after the last ')'.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                // rest[0] is field 3 (state); utime = 14, stime = 15, starttime = 22.
                let get = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                f.cpu_seconds = (get(14) + get(15)) / TICKS;
                if let Some(boot) = boot_time() {
                    f.start_time_seconds = boot + get(22) / TICKS;
                }
            }
        }
        f.open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
        f
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }
}

fn f64_text(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "0".into() }
}

/// The whole exposition text.
pub fn render(controller: &FlowController, hub: Option<&crate::ws::Hub>) -> String {
    let mut out = String::with_capacity(64 << 10);
    let mut m = Family { out: &mut out };

    let nodes = controller.nodes();
    let plabels: Vec<String> = nodes
        .iter()
        .map(|n| {
            format!(
                "component_id=\"{}\",component_type=\"{}\",component_name=\"{}\"",
                escape(&n.id),
                escape(&n.descriptor.type_name),
                escape(&n.name())
            )
        })
        .collect();
    let counters: Vec<_> = nodes.iter().map(|n| n.counters.snapshot()).collect();
    type Pick = fn(&sluice_engine::status::ProcessorStatus) -> u64;
    let series: [(&str, &str, Pick); 5] = [
        ("sluice_processor_flowfiles_in_total", "Flowfiles taken from input queues.", |s| s.flowfiles_in),
        ("sluice_processor_bytes_in_total", "Bytes taken from input queues.", |s| s.bytes_in),
        ("sluice_processor_flowfiles_out_total", "Flowfiles put into output queues.", |s| s.flowfiles_out),
        ("sluice_processor_bytes_out_total", "Bytes put into output queues.", |s| s.bytes_out),
        ("sluice_processor_tasks_total", "Completed processor tasks.", |s| s.tasks),
    ];
    for (name, help, pick) in series {
        m.header(name, "counter", help);
        for (l, c) in plabels.iter().zip(&counters) {
            m.sample(name, l, pick(c));
        }
    }
    m.header("sluice_processor_task_seconds_total", "counter", "Time spent in processor tasks.");
    for (l, c) in plabels.iter().zip(&counters) {
        m.sample("sluice_processor_task_seconds_total", l, f64_text(c.task_nanos as f64 / 1e9));
    }
    m.header("sluice_processor_active_tasks", "gauge", "Tasks running now.");
    for (l, n) in plabels.iter().zip(&nodes) {
        m.sample("sluice_processor_active_tasks", l, n.active_tasks());
    }
    m.header("sluice_processor_running", "gauge", "1 when the processor is scheduled, 0 otherwise.");
    for (l, n) in plabels.iter().zip(&nodes) {
        m.sample("sluice_processor_running", l, u8::from(n.is_running()));
    }

    let conns: Vec<_> =
        controller.connections().into_iter().filter_map(|c| controller.connection(&c.id).ok()).collect();
    let clabels: Vec<String> = conns
        .iter()
        .map(|c| {
            format!(
                "component_id=\"{}\",component_type=\"Connection\",component_name=\"{}\",source=\"{}\",destination=\"{}\"",
                escape(&c.id),
                escape(&c.name),
                escape(&c.source),
                escape(&c.destination)
            )
        })
        .collect();
    type CPick = fn(&sluice_engine::flow::view::ConnectionView) -> f64;
    let cseries: [(&str, &str, CPick); 5] = [
        ("sluice_connection_queued_flowfiles", "Flowfiles queued.", |c| c.status.queued_count as f64),
        ("sluice_connection_queued_bytes", "Bytes queued.", |c| c.status.queued_bytes as f64),
        ("sluice_connection_in_flight_flowfiles", "Queued flowfiles handed to a running session.", |c| {
            c.status.in_flight as f64
        }),
        ("sluice_connection_back_pressure", "1 when a back-pressure threshold is reached.", |c| {
            f64::from(u8::from(c.status.back_pressure))
        }),
        ("sluice_connection_fill_ratio", "Fill against the nearer back-pressure threshold.", |c| c.status.fill_ratio),
    ];
    for (name, help, pick) in cseries {
        m.header(name, "gauge", help);
        for (l, c) in clabels.iter().zip(&conns) {
            m.sample(name, l, f64_text(pick(c)));
        }
    }

    m.header("sluice_flow_revision", "gauge", "Revision of the running flow (bumped on every change).");
    m.sample("sluice_flow_revision", "", controller.revision());
    m.header("sluice_uptime_seconds", "gauge", "Seconds since the engine started.");
    m.sample("sluice_uptime_seconds", "", f64_text(controller.uptime().as_secs_f64()));

    let rt = controller.runtime();
    let cs = rt.content.stats();
    m.header("sluice_content_repository_bytes", "gauge", "Bytes in content repository segments, by state.");
    m.sample("sluice_content_repository_bytes", "state=\"live\"", cs.live_bytes);
    m.sample("sluice_content_repository_bytes", "state=\"archived\"", cs.archived_bytes);
    m.header("sluice_content_repository_segments", "gauge", "Content repository segment files.");
    m.sample("sluice_content_repository_segments", "", cs.segments);
    m.header("sluice_flowfile_repository_disk_bytes", "gauge", "Bytes of the flowfile repository on disk.");
    m.sample("sluice_flowfile_repository_disk_bytes", "", rt.flowfiles.disk_bytes());
    if let Some(p) = &rt.provenance {
        let ps = p.stats();
        m.header("sluice_provenance_events", "gauge", "Provenance events stored.");
        m.sample("sluice_provenance_events", "", ps.events);
        m.header("sluice_provenance_stored_bytes", "gauge", "Bytes of stored provenance blocks and indexes.");
        m.sample("sluice_provenance_stored_bytes", "", ps.stored_bytes);
        m.header("sluice_provenance_disk_bytes", "gauge", "Bytes of the provenance store's files on disk.");
        m.sample("sluice_provenance_disk_bytes", "", ps.disk_bytes);
        m.header("sluice_provenance_events_written_total", "counter", "Provenance events written since start.");
        m.sample("sluice_provenance_events_written_total", "", ps.events_written);
    }

    if let Some(h) = hub {
        let s = &h.stats;
        m.header("sluice_websocket_clients", "gauge", "WebSocket clients connected.");
        m.sample("sluice_websocket_clients", "", h.clients());
        let counters: [(&str, &str, u64); 4] = [
            (
                "sluice_websocket_messages_sent_total",
                "WebSocket messages sent.",
                s.messages_sent.load(Ordering::Relaxed),
            ),
            (
                "sluice_websocket_sent_bytes_total",
                "Bytes of WebSocket messages sent.",
                s.bytes_sent.load(Ordering::Relaxed),
            ),
            (
                "sluice_websocket_clients_dropped_total",
                "WebSocket clients dropped as too slow or silent.",
                s.clients_dropped.load(Ordering::Relaxed),
            ),
            (
                "sluice_websocket_resyncs_total",
                "Resync messages sent to lagging WebSocket clients.",
                s.resyncs.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            m.header(name, "counter", help);
            m.sample(name, "", v);
        }
        m.header("sluice_websocket_status_build_seconds_total", "counter", "Time spent building status snapshots.");
        m.sample(
            "sluice_websocket_status_build_seconds_total",
            "",
            f64_text(s.status_build_micros_total.load(Ordering::Relaxed) as f64 / 1e6),
        );
        m.header("sluice_websocket_status_builds_total", "counter", "Status snapshots built.");
        m.sample("sluice_websocket_status_builds_total", "", s.status_builds.load(Ordering::Relaxed));
    }

    let p = ProcessFigures::read();
    m.header("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    m.sample("process_cpu_seconds_total", "", f64_text(p.cpu_seconds));
    m.header("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    m.sample("process_resident_memory_bytes", "", p.rss_bytes);
    m.header("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    m.sample("process_virtual_memory_bytes", "", p.virtual_bytes);
    m.header("process_open_fds", "gauge", "Number of open file descriptors.");
    m.sample("process_open_fds", "", p.open_fds);
    m.header("process_threads", "gauge", "Number of OS threads in the process.");
    m.sample("process_threads", "", p.threads);
    m.header("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    m.sample("process_start_time_seconds", "", f64_text(p.start_time_seconds));
    out
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "live",
    responses((status = 200, content_type = "text/plain; version=0.0.4", body = String, description = "Prometheus text format")))]
pub(crate) async fn metrics(State(s): State<AppState>) -> Response {
    let c = s.controller.clone();
    let hub = s.hub.clone();
    match blocking(move || Ok(render(&c, Some(&hub)))).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response(),
        Err(e) => e.into_response(),
    }
}
