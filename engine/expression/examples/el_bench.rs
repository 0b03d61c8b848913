//! Micro benchmark: ns per evaluation of a three-function chain.
//! Run with `cargo run --release -p sluice-expression --example el_bench`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use sluice_expression::{EvalEnv, Expression};

fn bench(label: &str, text: &str, attrs: &HashMap<String, String>, env: &EvalEnv) {
    let expr = Expression::compile(text).expect("valid expression");
    let iterations = 2_000_000u32;
    for _ in 0..10_000 {
        black_box(expr.evaluate_with(attrs, None, env).unwrap());
    }
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(expr.evaluate_with(black_box(attrs), None, env).unwrap());
    }
    let ns = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{label:<28} {ns:>8.1} ns/evaluation   {text}");
}

fn main() {
    let attrs = HashMap::from([
        ("filename".to_string(), "report-2024.final.csv".to_string()),
        ("size".to_string(), "12345".to_string()),
    ]);
    let env = EvalEnv::default();
    bench("3-function chain", "${filename:toUpper():substringBefore('.'):append('-x')}", &attrs, &env);
    bench("plain attribute", "${filename}", &attrs, &env);
    bench("template", "out/${filename}/part-${size}.bin", &attrs, &env);
    bench("routing predicate", "${size:gt(1000):and(${filename:endsWith('.csv')})}", &attrs, &env);
}
