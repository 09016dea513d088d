//! The IVR's caller-facing logic as sans-IO state machines: menus ([`menu`]) and digit
//! collection ([`collect`]). They decide what to play, when to stop and what the caller
//! chose; playing audio and detecting keys belong to the media plane, and what follows a
//! choice to the dialplan session (`Session::menu_choice`, `menu_exhausted`).
//!
//! `engine/call/ivr.rs` runs them for calls: it plays what they ask through the media
//! plane's endpoint and feeds them keys, prompt ends and timers.

pub mod collect;
pub mod menu;

/// What an IVR state machine asks the switch to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Play these prompts, in order.
    Play(Vec<String>),
    /// Stop what is playing (the caller pressed a key: barge-in).
    StopPlayback,
    /// A menu ended with this choice.
    Chose(String),
    /// A menu used up its tries, by timeouts or by wrong keys.
    Exhausted {
        /// Timeouts (else wrong keys).
        by_timeout: bool,
    },
    /// `read` ended.
    Collected {
        /// The digits, without the terminator.
        digits: String,
        /// Why it ended.
        by: EndedBy,
    },
}

/// Why digit collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The terminator key.
    Terminator,
    /// The maximum number of digits.
    Max,
    /// No key in time.
    Timeout,
}
