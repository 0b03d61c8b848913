//! What the peer harness reads from `/proc` (its `lib/bench.js`), read the same way: RSS and
//! its high-water mark, a process's CPU seconds, and the machine's busy CPU seconds.

use anyhow::{Context, Result, bail};

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn mem_kib(pid: u32) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid}"))?;
    let field = |name: &str| -> Result<u64> {
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix(':')) {
                return Ok(rest.trim().trim_end_matches("kB").trim().parse()?);
            }
        }
        bail!("no {name} in /proc/{pid}/status")
    };
    Ok((field("VmRSS")?, field("VmHWM")?))
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User + system CPU seconds a process has used (all its threads).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
    let rest = &stat[stat.rfind(')').context("malformed /proc/PID/stat")? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15.
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / clock_ticks())
}

/// Busy CPU seconds of the whole machine since boot (user, nice, system, irq, softirq).
pub fn host_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let f: Vec<f64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0.0)).collect();
    if f.len() < 7 {
        bail!("malformed /proc/stat");
    }
    Ok((f[0] + f[1] + f[2] + f[5] + f[6]) / clock_ticks())
}

/// KiB to MiB, rounded to 0.1 like the peer.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, hwm) = mem_kib(pid).unwrap();
        assert!(rss > 100 && hwm >= rss, "rss {rss} hwm {hwm}");
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed().as_millis() < 50 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_seconds(pid).unwrap() > 0.0);
        assert!(host_busy_seconds().unwrap() > 0.0);
        assert!(mem_kib(u32::MAX).is_err());
    }
}
