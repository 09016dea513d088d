//! Switchyard's configuration: the TOML file format, its defaults, and the typed [`Config`]
//! it is parsed into once at start-up.
//!
//! Parsing and checking happen together ("parse, don't validate"): a [`Config`] only exists if
//! every value in it is usable, and the rest of the switch never re-checks it. Every section
//! and almost every key is optional; the defaults are the `Default` impls of the section types and are
//! listed, key by key, in `switchyard.example.toml`. Unknown keys are errors so that a typo
//! cannot silently leave a setting at its default.
//!
//! Errors read `FILE:LINE: message`, one line per problem; all semantic problems are reported
//! at once, while a TOML syntax or type error stops at the first one (the parser cannot go on).

mod cidr;
mod convert;
mod entries;
mod error;
mod model;
mod raw;
mod syntax;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, Diagnostic, Problem};
pub use model::{
    Advertise, Cidr, CidrError, Config, DEFAULT_SIP_PORT, DialplanSource, DigestAlgorithm, Limits, Log, Privacy, Registrar, Route,
    Media, MediaCodec, Server, SessionTimer, Timers, Transport, Trunk, User,
};

/// The built-in configuration used when no file is given: loopback listeners, demo users and a
/// demo trunk. See `default.toml` beside this file.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The file name used in diagnostics about [`DEFAULT_TOML`].
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// Reads, parses and checks a configuration file. Relative paths in it (`tls_cert`, `tls_key`,
/// `data_dir`) are resolved against the file's directory.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: file.clone(),
        source,
    })?;
    parse_in(&text, &file, path.parent().unwrap_or(Path::new("")))
}

/// Parses and checks configuration text. `file_name` is used in diagnostics, and its directory
/// is the one relative paths are resolved against, so `parse(text, path)` and `load(path)`
/// agree.
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigError> {
    let base = Path::new(file_name).parent().unwrap_or(Path::new(""));
    parse_in(text, file_name, base)
}

/// The configuration in [`DEFAULT_TOML`].
pub fn embedded_default() -> Config {
    // DEFAULT_TOML is fixed at compile time and `tests::embedded_default_parses` proves it
    // valid, so this cannot fail for any build that passed its tests.
    parse_in(DEFAULT_TOML, EMBEDDED_NAME, Path::new("")).expect("embedded default.toml is valid")
}

fn parse_in(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
    let diagnostic = |line, problem| Diagnostic {
        file: file.to_owned(),
        line,
        problem,
    };
    let raw: raw::RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let line = e.span().map(|span| syntax::line_of(text, span.start));
            let problem = Problem::Toml(tidy_toml_message(e.message()));
            return Err(ConfigError::Invalid(vec![diagnostic(line, problem)]));
        }
    };
    let mut cx = convert::Ctx::new(text, base);
    let config = convert::convert(raw, &mut cx);
    let mut problems = cx.into_problems();
    if problems.is_empty() {
        return Ok(config);
    }
    // Stable, so problems on one line keep the order they were found in.
    problems.sort_by_key(|(line, _)| *line);
    Err(ConfigError::Invalid(
        problems
            .into_iter()
            .map(|(line, problem)| diagnostic(line, problem))
            .collect(),
    ))
}

/// serde speaks of "fields"; the file has keys. Newlines are folded so that every diagnostic
/// stays on one line.
fn tidy_toml_message(message: &str) -> String {
    message
        .replace("unknown field `", "unknown key `")
        .replace("missing field `", "missing key `")
        .trim()
        .replace('\n', "; ")
}
