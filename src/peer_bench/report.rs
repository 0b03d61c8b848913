//! Prints the figures as the peer's `lib/report.js` does (`name value unit`, then
//! `check.<name> 1|0 bool`), writes them as JSON, and, given the peer's `results/latest.json`,
//! prints the side-by-side table with ratios against the targets of the benchmark issue.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::PeerOptions;

/// A comparison row: metric, whether higher is better, the target ratio (Sluice over
/// Node-RED, or Node-RED over Sluice when lower is better).
const COMPARE: &[(&str, bool, Option<f64>)] = &[
    ("a.requests_per_s", true, Some(5.0)),
    ("a.latency_p99_ms", false, Some(1.0)),
    ("a.startup_ready_ms", false, Some(5.0)),
    ("a.rss_idle_mib", false, Some(4.0)),
    ("a.rss_peak_mib", false, None),
    ("b.msgs_per_s", true, Some(5.0)),
    ("b.burst_msgs_per_s", true, None),
    ("b.startup_ready_ms", false, Some(5.0)),
    ("b.rss_idle_mib", false, Some(4.0)),
    ("b.rss_peak_mib", false, None),
    ("c.files_per_s", true, Some(3.0)),
    ("c.startup_ready_ms", false, Some(5.0)),
    ("c.rss_idle_mib", false, Some(4.0)),
    ("c.rss_peak_mib", false, None),
];

fn metric_values(report: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(ws) = report["workloads"].as_object() {
        for w in ws.values() {
            for m in w["metrics"].as_array().into_iter().flatten() {
                if let Some(name) = m["name"].as_str() {
                    out.insert(name.to_string(), m["value"].clone());
                }
            }
        }
    }
    out
}

/// Prints and writes the results; returns whether every check passed.
pub fn finish(opts: &PeerOptions, workloads: Map<String, Value>) -> Result<bool> {
    let report = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "engine": {"durability": opts.engine.durability, "provenance": opts.engine.provenance},
        "workloads": workloads,
    });
    if let Some(out) = &opts.out {
        std::fs::write(out, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let mut all_pass = true;
    for w in workloads.values() {
        for m in w["metrics"].as_array().into_iter().flatten() {
            println!("{} {} {}", m["name"].as_str().unwrap_or(""), m["value"], m["unit"].as_str().unwrap_or(""));
        }
    }
    for w in workloads.values() {
        for c in w["checks"].as_array().into_iter().flatten() {
            let pass = c["pass"].as_bool().unwrap_or(false);
            all_pass &= pass;
            println!("check.{} {} bool", c["name"].as_str().unwrap_or(""), pass as u8);
            if !pass {
                eprintln!("CHECK FAILED: {} {}", c["name"], c["detail"]);
            }
        }
    }
    if let Some(peer) = &opts.node_red {
        let text = std::fs::read_to_string(peer).with_context(|| format!("reading {}", peer.display()))?;
        let peer: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", peer.display()))?;
        print!("{}", compare(&metric_values(&report), &metric_values(&peer)));
    }
    Ok(all_pass)
}

/// The Markdown table: metric, Node-RED, Sluice, ratio (better-is-higher), target.
pub fn compare(ours: &Map<String, Value>, peer: &Map<String, Value>) -> String {
    let mut s = String::from("\n| metric | Node-RED | Sluice | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n");
    for (name, higher_better, target) in COMPARE {
        let (Some(o), Some(p)) = (ours.get(*name).and_then(Value::as_f64), peer.get(*name).and_then(Value::as_f64))
        else {
            continue;
        };
        let ratio = if *higher_better { o / p } else { p / o };
        let target = match target {
            Some(t) => format!("≥ {t}× {}", if ratio >= *t { "met" } else { "NOT met" }),
            None => String::new(),
        };
        s.push_str(&format!("| `{name}` | {p} | {o} | {ratio:.2}× | {target} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_both_directions() {
        let ours = json!({"a.requests_per_s": 10000.0, "a.latency_p99_ms": 20.0}).as_object().unwrap().clone();
        let peer = json!({"a.requests_per_s": 2500.0, "a.latency_p99_ms": 60.0}).as_object().unwrap().clone();
        let table = compare(&ours, &peer);
        assert!(table.contains("| `a.requests_per_s` | 2500 | 10000 | 4.00× | ≥ 5× NOT met |"), "{table}");
        assert!(table.contains("| `a.latency_p99_ms` | 60 | 20 | 3.00× | ≥ 1× met |"), "{table}");
        assert!(!table.contains("b.msgs_per_s"));
    }
}
