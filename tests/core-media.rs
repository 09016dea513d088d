//! stub
#[path = "core-support/mod.rs"]
mod support;
#[test]
fn stub() {}
