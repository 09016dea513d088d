//! Dialplans: the routing and IVR language telecom engineers write in `dialplans/`.
//!
//! `syntax` splits files into statements; `action`, `condition`, `pattern` and `template`
//! give them types; `plan` cross-checks a whole directory and indexes each context
//! (`index`); `walk` runs a plan for one call. The only I/O is reading files:
//! `Plan::load` reads the plan, `Plan::load_audio` decodes its prompt directory and keeps
//! it (`audio`) for calls to play, and `Plan::check_refs` decodes each prompt the plan
//! names that is not kept already (so `check` needs no `load_audio`). Nothing reads a
//! clock: wall time is passed in.
//!
//! The language is described in `dialplans/README.md`; why it is not TOML is in
//! ARCHITECTURE.md.

mod action;
pub mod audio;
mod condition;
mod error;
mod index;
mod pattern;
mod plan;
mod syntax;
mod template;
mod walk;

pub use action::{Action, BridgeTarget, Cause, HuntMode, Menu, Step, ToneKind, is_var_name};
pub use error::{Diagnostic, DialplanError, Pos};
pub use plan::{Context, EMBEDDED, Extension, Origin, PROMPT_EXTENSIONS, Plan};
pub use template::{Template, Vars};
pub use walk::{Decision, Session, Target, describe};
