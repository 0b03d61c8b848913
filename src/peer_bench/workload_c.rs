//! Workload c, file to file: the peer's `lib/drive-c.js` against `flows/file-to-file.json`
//! (ListFile → FetchFile → ReplaceText adding `X-Sluice-Source: <name>` and upper-casing →
//! PutFile). The input is the peer's 10,000 files of 4,096 bytes (same generator, same bytes).
//! ListFile is started over the API; the run ends when PutFile has written the last file
//! (polled every 5 ms); then every output is compared byte for byte with the expected one.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::engine::{Engine, processor_counter, shipped_flow};
use super::{Check, Outcome, PeerOptions, c_input, metric, round};

/// The flow and the driver of workload c.
pub fn prepare(opts: &PeerOptions) -> Result<(Value, impl FnOnce(&mut Engine) -> Result<Outcome>)> {
    let knob = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let files = knob("BENCH_C_FILES", 10_000) as usize;
    let file_bytes = knob("BENCH_C_FILE_BYTES", 4096) as usize;
    let timeout = Duration::from_secs(knob("BENCH_C_TIMEOUT_S", 600));
    let input = opts.work.join("c-input");
    c_input::ensure(&input, files, file_bytes)?;
    let output = opts.work.join("c").join("out");
    let _ = std::fs::remove_dir_all(&output);
    std::fs::create_dir_all(&output)?;
    let flow = shipped_flow(
        include_str!("../../flows/file-to-file.json"),
        &[("input_dir", input.display().to_string()), ("output_dir", output.display().to_string())],
        &[("list", "STOPPED")],
    )?;
    let body = move |engine: &mut Engine| -> Result<Outcome> {
        let mut names: Vec<String> = std::fs::read_dir(&input)?
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_>>()?;
        names.sort();
        let bytes_in: u64 = names.len() as u64 * file_bytes as u64;
        let t0 = Instant::now();
        engine.set_running("list", true)?;
        let (written, failed) = loop {
            std::thread::sleep(Duration::from_millis(5));
            let flow = engine.flow()?;
            // PutFile's success is auto-terminated (not counted as out); failures go out.
            let written = processor_counter(&flow, "put", "flowfiles_in")?.saturating_sub(processor_counter(
                &flow,
                "put",
                "flowfiles_out",
            )?);
            let failed = processor_counter(&flow, "log-failure", "flowfiles_in")?;
            if written + failed >= names.len() as u64 {
                break (written, failed);
            }
            if t0.elapsed() > timeout {
                bail!("only {written} of {} files written within {} s", names.len(), timeout.as_secs());
            }
        };
        let elapsed = t0.elapsed().as_secs_f64();
        engine.set_running("list", false)?;
        engine.wait_drained(Duration::from_secs(60))?;
        let (mut missing, mut mismatched, mut bytes_out) = (0u64, 0u64, 0u64);
        for name in &names {
            let Ok(got) = std::fs::read(output.join(name)) else {
                missing += 1;
                continue;
            };
            bytes_out += got.len() as u64;
            let mut want = format!("X-Sluice-Source: {name}\n").into_bytes();
            want.extend(std::fs::read(input.join(name))?.to_ascii_uppercase());
            if got != want {
                mismatched += 1;
            }
        }
        let present = std::fs::read_dir(&output)?.count() as u64;
        let extra = present.saturating_sub(names.len() as u64 - missing);
        Ok(Outcome {
            metrics: vec![
                metric("files_per_s", round(written as f64 / elapsed, 1), "files/s"),
                metric("mb_per_s", round(bytes_in as f64 / 1e6 / elapsed, 2), "MB/s"),
                metric("elapsed_ms", round(elapsed * 1000.0, 0), "ms"),
                metric("files_written", written as f64, "count"),
                metric("files_failed", failed as f64, "count"),
                metric("files_missing", missing as f64, "count"),
                metric("files_mismatched", mismatched as f64, "count"),
            ],
            checks: vec![
                Check {
                    name: "c.all_files_written".into(),
                    pass: written == names.len() as u64 && missing == 0 && extra == 0,
                    detail: json!({"files": names.len(), "written": written, "missing": missing, "extra": extra}),
                },
                Check {
                    name: "c.outputs_correct".into(),
                    pass: mismatched == 0,
                    detail: json!({"mismatched": mismatched}),
                },
            ],
            details: json!({"files": names.len(), "bytes_in": bytes_in, "bytes_out": bytes_out}),
        })
    };
    Ok((flow, body))
}
