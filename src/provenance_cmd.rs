//! `sluice provenance`: searches a data dir's provenance from the command line, for operators
//! (a stopped engine; a running one holds the store, and answers `GET /api/provenance`).

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use sluice_engine::provenance::{ProvenanceConfig, ProvenanceRepository, Query};

/// What to look for.
pub struct Search {
    /// The engine's data dir.
    pub data_dir: PathBuf,
    /// Events that involve this flowfile (as itself, a parent or a child).
    pub flowfile: Option<String>,
    /// Events of this component (id or name).
    pub component: Option<String>,
    /// Events of this type (CREATE, ROUTE, ...).
    pub event_type: Option<String>,
    /// NAME=VALUE: events whose attributes (before or after) have it.
    pub attribute: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
    /// JSON (the API's shape) instead of a table.
    pub json: bool,
}

/// Runs the search and returns what to print.
pub fn search(s: &Search) -> anyhow::Result<String> {
    let mut q = Query { limit: s.limit.max(1), ..Query::default() };
    if let Some(f) = &s.flowfile {
        q.flowfile = Some(f.parse().with_context(|| format!("--flowfile '{f}' is not a UUID"))?);
    }
    q.component = s.component.clone();
    if let Some(t) = &s.event_type {
        q.event_type = Some(t.parse().map_err(|e| anyhow::anyhow!("--type '{t}': {e}"))?);
    }
    if let Some(a) = &s.attribute {
        let Some((name, value)) = a.split_once('=') else { bail!("--attribute '{a}' is not NAME=VALUE") };
        q.attribute = Some((name.to_string(), value.to_string()));
    }
    let dir = s.data_dir.join("provenance");
    if !dir.is_dir() {
        bail!("no provenance store in {} (is it a Sluice data dir, run with provenance on?)", s.data_dir.display());
    }
    let repo = ProvenanceRepository::open(&dir, ProvenanceConfig::default()).with_context(|| {
        format!(
            "opening {} (if Sluice is running on this data dir it holds the store: stop it, or use GET /api/provenance)",
            dir.display()
        )
    })?;
    let result = repo.query(&q);
    repo.close();
    let result = result.context("searching provenance")?;
    if s.json {
        return Ok(serde_json::to_string_pretty(&result.summary_json())? + "\n");
    }
    let mut out = String::new();
    writeln!(
        out,
        "{:>8}  {:<24}  {:<20}  {:<24}  {:<36}  DETAILS",
        "ID", "TIME (UTC)", "TYPE", "COMPONENT", "FLOWFILE"
    )?;
    for e in &result.events {
        let time = chrono::DateTime::from_timestamp_millis(e.timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
            .unwrap_or_default();
        let mut details = e.relationship.as_deref().map(|r| format!("→ {r}")).unwrap_or_default();
        if let Some(d) = e.details.as_deref().or(e.transit_uri.as_deref()) {
            if !details.is_empty() {
                details.push_str("; ");
            }
            details.extend(d.chars().take(60));
        }
        writeln!(
            out,
            "{:>8}  {:<24}  {:<20}  {:<24}  {:<36}  {details}",
            e.id,
            time,
            e.event_type.as_str(),
            e.component_name.chars().take(24).collect::<String>(),
            e.flowfile_uuid
        )?;
    }
    match result.next_before_id {
        Some(_) => writeln!(out, "({} events shown, newest first; more match: raise --limit)", result.events.len())?,
        None => writeln!(out, "({} events)", result.events.len())?,
    }
    Ok(out)
}
