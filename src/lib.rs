//! Switchyard: a softswitch and contact-center engine.
//!
//! The SIP, registrar and B2BUA cores are sans-IO state machines; `rt` is the
//! tokio edge that owns sockets, clocks and the store. See ARCHITECTURE.md.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod dialplan;
pub mod engine;
pub mod ivr;
pub mod jitter;
pub mod media;
pub mod registrar;
pub mod rt;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod store;
