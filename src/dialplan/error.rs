//! Dialplan diagnostics: one `file:line:col: message` per problem, all of them at once.

use std::fmt;
use std::sync::Arc;

/// A place in a dialplan file. Columns count characters, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// The file as named when it was loaded (`<embedded default>/…` for built-in plans).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where; `None` for problems of the plan as a whole (an empty directory).
    pub pos: Option<Pos>,
    /// What is wrong, one line, naming things as written.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a dialplan could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialplanError {
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The text was read but is not a valid plan; never empty, in file order.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl DialplanError {
    /// The individual problems; empty for [`DialplanError::Read`].
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            DialplanError::Read { .. } => &[],
            DialplanError::Invalid(d) => d,
        }
    }
}

fn render(list: &[Diagnostic]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

/// Collects diagnostics while a plan is checked, so one pass reports every mistake.
#[derive(Debug, Default)]
pub(crate) struct Diags(pub(crate) Vec<Diagnostic>);

impl Diags {
    pub(crate) fn at(&mut self, pos: &Pos, message: impl Into<String>) {
        self.0.push(Diagnostic {
            pos: Some(pos.clone()),
            message: message.into(),
        });
    }

    pub(crate) fn plan(&mut self, message: impl Into<String>) {
        self.0.push(Diagnostic {
            pos: None,
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
