//! Action arguments with variables: `${EXTEN}`, `${EXTEN:2}`, `${EXTEN:-4}`, `${EXTEN:1:3}`,
//! `${1}` / `$1` (regex captures), `$$` for a dollar sign.
//!
//! Templates are parsed when the plan loads, so a malformed `${…}` is a `check` error, and
//! expansion at call time is a walk over ready segments. Substrings count characters, as
//! Asterisk's `${VAR:offset:length}` does; a negative offset counts from the end.

use std::fmt;

/// A variable reference with an optional substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarRef {
    pub(crate) name: String,
    pub(crate) offset: i32,
    pub(crate) len: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Text(String),
    Var(VarRef),
}

/// A parsed argument.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    segs: Vec<Seg>,
}

/// Where variable values come from during expansion.
pub trait Vars {
    /// The value of `name`, `None` when unset (expands to nothing).
    fn get(&self, name: &str) -> Option<&str>;
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    match c.next() {
        Some(f) if f.is_ascii_digit() => s.chars().all(|c| c.is_ascii_digit()),
        Some(f) if f.is_ascii_alphabetic() || f == '_' => c.all(|c| c.is_ascii_alphanumeric() || c == '_'),
        _ => false,
    }
}

impl Template {
    /// Parses `s`; an error carries the 0-based character index it is about.
    pub(crate) fn parse(s: &str) -> Result<Template, (usize, String)> {
        let chars: Vec<char> = s.chars().collect();
        let mut segs = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] != '$' {
                text.push(chars[i]);
                i += 1;
                continue;
            }
            let start = i;
            match chars.get(i + 1) {
                Some('$') => {
                    text.push('$');
                    i += 2;
                    continue;
                }
                Some(d) if d.is_ascii_digit() => {
                    if !text.is_empty() {
                        segs.push(Seg::Text(std::mem::take(&mut text)));
                    }
                    segs.push(Seg::Var(VarRef {
                        name: d.to_string(),
                        offset: 0,
                        len: None,
                    }));
                    i += 2;
                    continue;
                }
                Some('{') => {}
                _ => {
                    return Err((start, "`$` must start `${NAME}`, `$1`…`$9`, or be doubled as `$$`".to_owned()));
                }
            }
            let Some(close) = chars[i..].iter().position(|&c| c == '}').map(|p| p + i) else {
                return Err((start, "`${` not closed by `}`".to_owned()));
            };
            let inner: String = chars[i + 2..close].iter().collect();
            let mut parts = inner.split(':');
            let name = parts.next().unwrap_or_default().to_owned();
            if !valid_name(&name) {
                return Err((
                    start,
                    format!("`{name}` is not a variable name (letters, digits, `_`; or a capture number)"),
                ));
            }
            let num = |p: Option<&str>| -> Result<Option<i32>, (usize, String)> {
                match p {
                    None => Ok(None),
                    Some(t) => t
                        .trim()
                        .parse::<i32>()
                        .map(Some)
                        .map_err(|_| (start, format!("`{t}` in `${{{inner}}}` is not a whole number"))),
                }
            };
            let offset = num(parts.next())?.unwrap_or(0);
            let len = num(parts.next())?;
            if parts.next().is_some() {
                return Err((start, format!("`${{{inner}}}` has too many `:` parts (NAME:offset:length at most)")));
            }
            if !text.is_empty() {
                segs.push(Seg::Text(std::mem::take(&mut text)));
            }
            segs.push(Seg::Var(VarRef { name, offset, len }));
            i = close + 1;
        }
        if !text.is_empty() {
            segs.push(Seg::Text(text));
        }
        Ok(Template { segs })
    }

    /// Whether it has no variables.
    pub fn is_literal(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Text(_)))
    }

    /// The text with every variable replaced; unset variables expand to nothing.
    pub fn expand(&self, vars: &dyn Vars) -> String {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Text(t) => out.push_str(t),
                Seg::Var(v) => {
                    if let Some(val) = vars.get(&v.name) {
                        substring(val, v.offset, v.len, &mut out);
                    }
                }
            }
        }
        out
    }
}

fn substring(val: &str, offset: i32, len: Option<i32>, out: &mut String) {
    let n = val.chars().count() as i64;
    let start = if offset < 0 {
        (n + i64::from(offset)).max(0)
    } else {
        i64::from(offset).min(n)
    };
    let end = match len {
        None => n,
        // A negative length drops that many from the end, as in Asterisk.
        Some(l) if l < 0 => (n + i64::from(l)).max(start),
        Some(l) => (start + i64::from(l)).min(n),
    };
    out.extend(val.chars().skip(start as usize).take((end - start).max(0) as usize));
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segs {
            match s {
                Seg::Text(t) => f.write_str(&t.replace('$', "$$"))?,
                Seg::Var(v) => {
                    write!(f, "${{{}", v.name)?;
                    if v.offset != 0 || v.len.is_some() {
                        write!(f, ":{}", v.offset)?;
                    }
                    if let Some(l) = v.len {
                        write!(f, ":{l}")?;
                    }
                    f.write_str("}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct M(HashMap<&'static str, &'static str>);
    impl Vars for M {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
    }

    fn x(t: &str) -> String {
        let vars = M(HashMap::from([("EXTEN", "008613812345678"), ("1", "13812345678"), ("LANG", "zh")]));
        Template::parse(t).unwrap().expand(&vars)
    }

    #[test]
    fn variables_substrings_and_captures() {
        assert_eq!(x("user:${EXTEN}"), "user:008613812345678");
        assert_eq!(x("+${EXTEN:2}"), "+8613812345678");
        assert_eq!(x("${EXTEN:-4}"), "5678");
        assert_eq!(x("${EXTEN:4:3}"), "138");
        assert_eq!(x("${EXTEN:0:-4}"), "00861381234");
        assert_eq!(x("${EXTEN:99}"), "");
        assert_eq!(x("+86$1"), "+8613812345678");
        assert_eq!(x("bank/${LANG}/welcome"), "bank/zh/welcome");
        assert_eq!(x("${UNSET}x"), "x");
        assert_eq!(x("100$$"), "100$");
    }

    #[test]
    fn display_round_trips() {
        for t in ["user:${EXTEN}", "${EXTEN:-4}", "${EXTEN:1:3}", "a$$b", "${1}"] {
            let p = Template::parse(t).unwrap();
            assert_eq!(Template::parse(&p.to_string()).unwrap(), p);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(Template::parse("a${B").unwrap_err().0, 1);
        assert!(Template::parse("${B:x}").unwrap_err().1.contains("not a whole number"));
        assert!(Template::parse("${1A}").is_err());
        assert!(Template::parse("${A:1:2:3}").is_err());
        assert!(Template::parse("$A").is_err());
    }
}
