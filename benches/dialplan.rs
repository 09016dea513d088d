//! Dialplan: the cost of routing one call in a plan of 10,000 extensions (goal: under 2 µs,
//! so not a linear scan), against a linear scan of the same extensions in the same run, and
//! the time to load that plan as a reload does (goal: under 100 ms). Run:
//! `cargo bench --bench dialplan`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::dialplan::{Decision, Origin, Plan, Session};

/// 5,000 exact five-digit extensions, 5,000 eleven-digit patterns with distinct five-digit
/// prefixes, half of them with a time condition, and a catch-all.
fn big_plan_text() -> String {
    let mut s = String::from("timezone Asia/Shanghai\ncontext big {\n from user\n");
    for i in 0..5000 {
        s.push_str(&format!(" ext 6{i:04} {{\n  bridge user:${{EXTEN}}\n }}\n"));
    }
    for i in 0..5000 {
        let when = if i % 2 == 0 { " when time=08:00-20:00 days=mon-fri" } else { "" };
        s.push_str(&format!(" ext _9{i:04}XXXXXX{when} {{\n  bridge trunk:t/+86${{EXTEN:1}}\n }}\n"));
    }
    s.push_str(" ext _X. {\n  hangup not-found\n }\n}\n");
    s
}

fn load(text: &str) -> Plan {
    Plan::from_texts(&[("big.dialplan".to_owned(), text.to_owned())], None).expect("bench plan is valid")
}

/// Routing the way the switch does it for each call: a session, then its first decision.
fn route(plan: &Arc<Plan>, number: &str) -> bool {
    let mut s = Session::new(plan.clone(), Origin::User("1001"), "1001", number, 1_795_487_400_000);
    matches!(s.next_decision(), Decision::Bridge { .. } | Decision::Hangup(_))
}

// A bench times itself: the clock ban is for the cores.
#[allow(clippy::disallowed_methods)]
fn bench(c: &mut Criterion) {
    let text = big_plan_text();
    let plan = Arc::new(load(&text));
    for n in ["64999", "94999123456", "94998123456", "12345"] {
        assert!(route(&plan, n), "{n} routes");
    }
    let mut g = c.benchmark_group("dialplan_10k");
    g.bench_function("route_exact", |b| b.iter(|| route(&plan, black_box("64999"))));
    g.bench_function("route_pattern", |b| b.iter(|| route(&plan, black_box("94999123456"))));
    g.bench_function("route_pattern_with_condition", |b| {
        b.iter(|| route(&plan, black_box("94998123456")))
    });
    g.bench_function("route_catch_all", |b| b.iter(|| route(&plan, black_box("12345"))));
    // Baseline in the same run: the first matching extension by a linear scan.
    let pats: Vec<regex::Regex> = (0..5000)
        .map(|i| regex::Regex::new(&format!("^6{i:04}$")).expect("regex"))
        .chain((0..5000).map(|i| regex::Regex::new(&format!("^9{i:04}[0-9]{{6}}$")).expect("regex")))
        .collect();
    g.bench_function("linear_scan_baseline", |b| {
        b.iter(|| pats.iter().position(|r| r.is_match(black_box("94999123456"))))
    });
    g.sample_size(10);
    g.bench_function("load_10k_plan", |b| b.iter(|| load(black_box(&text))));
    g.finish();
    let t = Instant::now();
    let p = load(&text);
    eprintln!(
        "one load of the 10,000-extension plan: {:.1} ms ({} contexts)",
        t.elapsed().as_secs_f64() * 1e3,
        p.contexts_len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
