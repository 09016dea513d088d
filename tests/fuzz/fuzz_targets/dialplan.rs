//! Any text as a dialplan: loading never panics, and a plan that loads can be walked for
//! any number without panicking (diagnostics are fine; crashes are not).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use switchyard::dialplan::{Decision, Origin, Plan, Session};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is also the number dialled, so walks reach the plan's own words.
    let number = text.lines().next().unwrap_or("").chars().take(40).collect::<String>();
    let Ok(plan) = Plan::from_texts(&[("f.dialplan".to_owned(), text.into_owned())], None) else { return };
    let plan = Arc::new(plan);
    for origin in [Origin::User("1001"), Origin::Trunk("t")] {
        let mut s = Session::new(plan.clone(), origin, "1001", &number, 1_795_487_400_000).with_trace();
        for _ in 0..20 {
            match s.next_decision() {
                Decision::Bridge { .. } => {}
                Decision::Media(_) => {
                    s.menu_choice("1");
                    s.menu_exhausted(true);
                    s.webhook_failed();
                }
                _ => break,
            }
        }
    }
});
