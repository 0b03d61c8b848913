//! Workload b, internal throughput: the peer's `lib/drive-b.js` against
//! `flows/throughput.json` (GenerateFlowFile → UpdateAttribute → RouteOnAttribute on a level
//! that alternates error and info → both routes end). The generator is started over the API
//! and the last processor's committed input is polled every 5 ms until N = 1,000,000 have
//! arrived (the crossing time is interpolated between two polls); then the generator is
//! stopped, the queues drain, and everything generated must have arrived exactly once in the
//! counts (generated = arrived). A second, shorter run (N = 100,000) is the peer's burst run.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;

use super::engine::{Engine, processor_counter};
use super::{Check, Outcome, metric, procfs, round};

struct Run {
    msgs_per_s: f64,
    elapsed_ms: f64,
    generated: u64,
    arrived: u64,
}

fn one_run(engine: &mut Engine, n: u64, timeout: Duration) -> Result<Run> {
    let flow = engine.flow()?;
    let gen0 = processor_counter(&flow, "generate", "flowfiles_out")?;
    let end0 = processor_counter(&flow, "route-level", "flowfiles_in")?;
    let t0 = Instant::now();
    engine.set_running("generate", true)?;
    let (mut prev_t, mut prev_c) = (0.0f64, 0u64);
    let elapsed = loop {
        std::thread::sleep(Duration::from_millis(5));
        let flow = engine.flow()?;
        let t = t0.elapsed().as_secs_f64();
        let c = processor_counter(&flow, "route-level", "flowfiles_in")? - end0;
        if c >= n {
            // When the N-th arrived, assuming an even rate between the two polls.
            break prev_t + (t - prev_t) * (n - prev_c) as f64 / (c - prev_c).max(1) as f64;
        }
        if t > timeout.as_secs_f64() {
            bail!("only {c} of {n} flowfiles arrived within {} s", timeout.as_secs());
        }
        (prev_t, prev_c) = (t, c);
    };
    engine.set_running("generate", false)?;
    engine.wait_drained(Duration::from_secs(120))?;
    // The counters are bumped at the end of a commit, just after its queues changed.
    std::thread::sleep(Duration::from_millis(500));
    let flow = engine.flow()?;
    let generated = processor_counter(&flow, "generate", "flowfiles_out")? - gen0;
    let arrived = processor_counter(&flow, "route-level", "flowfiles_in")? - end0;
    Ok(Run { msgs_per_s: n as f64 / elapsed, elapsed_ms: elapsed * 1000.0, generated, arrived })
}

/// The driver of workload b.
pub fn body(engine: &mut Engine) -> Result<Outcome> {
    let knob = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let n = knob("BENCH_B_N", 1_000_000);
    let burst_n = knob("BENCH_B_BURST_N", 100_000);
    let timeout = Duration::from_secs(knob("BENCH_B_TIMEOUT_S", 600));
    let paced = one_run(engine, n, timeout)?;
    let (_, paced_hwm) = procfs::mem_kib(engine.pid)?;
    let mut metrics = vec![
        metric("msgs_per_s", paced.msgs_per_s.round(), "msg/s"),
        metric("elapsed_ms", round(paced.elapsed_ms, 0), "ms"),
        metric("messages", paced.arrived as f64, "count"),
        metric("paced_rss_peak_mib", procfs::mib(paced_hwm), "MiB"),
    ];
    let mut checks = vec![Check {
        name: "b.exactly_n_arrived".into(),
        pass: paced.arrived >= n && paced.arrived == paced.generated,
        detail: json!({"n": n, "generated": paced.generated, "arrived": paced.arrived}),
    }];
    let mut details = json!({"paced": {"n": n, "generated": paced.generated, "arrived": paced.arrived}});
    if burst_n > 0 {
        let burst = one_run(engine, burst_n, timeout)?;
        metrics.extend([
            metric("burst_msgs_per_s", burst.msgs_per_s.round(), "msg/s"),
            metric("burst_elapsed_ms", round(burst.elapsed_ms, 0), "ms"),
            metric("burst_messages", burst.arrived as f64, "count"),
        ]);
        checks.push(Check {
            name: "b.burst_exactly_n_arrived".into(),
            pass: burst.arrived >= burst_n && burst.arrived == burst.generated,
            detail: json!({"n": burst_n, "generated": burst.generated, "arrived": burst.arrived}),
        });
        details["burst"] = json!({"n": burst_n, "generated": burst.generated, "arrived": burst.arrived});
    }
    details["note"] = json!(
        "the generator runs until N have arrived and is then stopped, so slightly more than N are generated; \
         the check is that every generated flowfile arrived (counts), the peer's is exactly N"
    );
    Ok(Outcome { metrics, checks, details })
}
