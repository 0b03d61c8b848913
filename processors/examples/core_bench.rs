//! The engine-core benchmark without the web layer: `cargo run --release -p
//! sluice-processors --example core_bench -- [seconds] [memory|os|fsync] [on|off]`.
//! `sluice bench core` runs the same code.

#[path = "../../src/bench.rs"]
mod bench;

use sluice_engine::repository::Durability;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let durability: Durability = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(Durability::Memory);
    let provenance = args.get(3).map(|s| s == "on").unwrap_or(false);
    let base = bench::baseline(2.0);
    println!("baseline.crossbeam_items_per_s {base:.0}");
    let r = bench::run_core(&bench::CoreOptions { seconds, durability, provenance, data_dir: None, workers: 2 })?;
    println!("core.flowfiles_per_s {:.0}", r.flowfiles_per_s);
    println!("core.cpu_us_per_flowfile {:.3}", r.cpu_us_per_flowfile);
    Ok(())
}
