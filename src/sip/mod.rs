//! SIP: messages, transactions, dialogs and authentication, all sans-IO.
//!
//! Nothing under `sip/` reads a clock or touches a socket: time comes in as
//! `now`, bytes come in as slices, and what to send comes out as values.

pub mod auth;
pub mod build;
pub mod dialog;
pub mod frame;
pub(crate) mod grammar;
pub mod header;
pub mod message;
pub mod parse;
pub mod reject;
pub mod transaction;
pub mod transport;
pub mod uri;

pub use header::HeaderName;
pub use message::{CSeq, Defect, Message, Method};
pub use parse::{ParseError, parse, parse_bytes};
