//! Conditions on extensions (`ext … when …`) and in `if`: time of day, days of the week, dates,
//! holiday lists, caller-ID patterns and variables, all terms required (`!` negates a term).
//!
//! ```text
//! when time=09:00-18:00 days=mon-fri !holiday=cn tz=Asia/Shanghai
//! when caller=_138XXXXXXXX            when caller=/^\+?86/      when $LANG=zh
//! when dates=2026-12-24..2026-12-26
//! ```
//! Times are in `tz=` if given, else the plan's `timezone`, else UTC. A range whose end is
//! before its start wraps midnight (`22:00-06:00`); the end is exclusive. Zones come from the
//! tz database compiled into the binary, so a machine without tzdata behaves the same.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use regex::Regex;

use super::pattern::Pattern;

/// Matches a caller ID or a number: an Asterisk pattern (`_…`), a regex, or exact text.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Exact(String),
    Pattern(Pattern),
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn parse(text: &str) -> Result<Matcher, (usize, String)> {
        if let Some(p) = text.strip_prefix('_') {
            return Pattern::parse(p).map(Matcher::Pattern).map_err(|(i, m)| (i + 1, m));
        }
        if let Some(r) = text.strip_prefix('/').and_then(|r| r.strip_suffix('/')).filter(|_| text.len() >= 2) {
            return compile_regex(r).map(Matcher::Regex).map_err(|m| (0, m));
        }
        Ok(Matcher::Exact(text.to_owned()))
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Pattern(p) => p.matches(s),
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

/// Compiles with a size limit, so a plan cannot make the switch build a huge automaton.
pub(crate) fn compile_regex(r: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(r).size_limit(1 << 20).build().map_err(|e| {
        format!(
            "bad regular expression: {}",
            e.to_string().lines().last().unwrap_or("invalid").trim()
        )
    })
}

#[derive(Debug, Clone)]
pub(crate) enum Term {
    /// Minutes since midnight, `[from, to)`; wraps when `to <= from`.
    Time {
        from: u16,
        to: u16,
    },
    /// Bit 0 = Monday … bit 6 = Sunday.
    Days(u8),
    Dates(Vec<(Date, Date)>),
    /// Index into the plan's holiday lists (resolved when the plan is checked).
    Holiday(String),
    Caller(Matcher),
    Var {
        name: String,
        value: String,
    },
}

/// What a condition is evaluated against.
pub(crate) struct Facts<'a> {
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub(crate) unix_ms: i64,
    pub(crate) default_tz: &'a TimeZone,
    pub(crate) caller: &'a str,
    pub(crate) holiday: &'a dyn Fn(&str, Date) -> bool,
    pub(crate) var: &'a dyn Fn(&str) -> Option<String>,
}

/// All terms of one `when` or `if`.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    pub(crate) terms: Vec<(bool, Term)>,
    pub(crate) tz: Option<TimeZone>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
    (h <= 24 && m < 60 && (h < 24 || m == 0) && s.len() == 5).then(|| h * 60 + m)
}

fn day(s: &str) -> Option<u8> {
    DAYS.iter().position(|d| d.eq_ignore_ascii_case(s)).map(|i| i as u8)
}

fn parse_days(v: &str) -> Result<u8, String> {
    let mut mask = 0u8;
    for part in v.split(',') {
        let bad = || format!("`{part}`: days are mon…sun, as a list (`sat,sun`) or ranges (`mon-fri`)");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                let mut d = a;
                loop {
                    mask |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(part).ok_or_else(bad)?,
        }
    }
    Ok(mask)
}

pub(crate) fn parse_date_range(v: &str) -> Result<(Date, Date), String> {
    let date = |s: &str| s.parse::<Date>().map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"));
    match v.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (date(a)?, date(b)?);
            if b < a {
                return Err(format!("`{v}` ends before it starts"));
            }
            Ok((a, b))
        }
        None => {
            let d = date(v)?;
            Ok((d, d))
        }
    }
}

impl Conditions {
    /// Parses one `key=value` term (with an optional leading `!`) into `self`. The error's
    /// index is the character in `word` it is about.
    pub(crate) fn add(&mut self, word: &str) -> Result<(), (usize, String)> {
        let (neg, body) = match word.strip_prefix('!') {
            Some(b) => (true, b),
            None => (false, word),
        };
        let off = usize::from(neg);
        let Some((key, value)) = body.split_once('=') else {
            return Err((
                0,
                format!("`{word}`: a condition is `key=value` (time, days, dates, holiday, caller, tz, $VAR)"),
            ));
        };
        let voff = off + key.chars().count() + 1;
        let at = |m: String| (voff, m);
        let term = match key {
            "time" => {
                let (a, b) = value.split_once('-').ok_or_else(|| at("time is `HH:MM-HH:MM`".to_owned()))?;
                let from = parse_hm(a).ok_or_else(|| at(format!("`{a}` is not a time of day (HH:MM, 00:00–24:00)")))?;
                let to = parse_hm(b).ok_or_else(|| at(format!("`{b}` is not a time of day (HH:MM, 00:00–24:00)")))?;
                Term::Time { from, to }
            }
            "days" => Term::Days(parse_days(value).map_err(at)?),
            "dates" => {
                let ranges = value.split(',').map(parse_date_range).collect::<Result<Vec<_>, _>>().map_err(at)?;
                Term::Dates(ranges)
            }
            "holiday" => {
                if value.is_empty() {
                    return Err(at("`holiday=` names a `holidays` list".to_owned()));
                }
                Term::Holiday(value.to_owned())
            }
            "caller" => Term::Caller(Matcher::parse(value).map_err(|(i, m)| (voff + i, m))?),
            "tz" => {
                if neg {
                    return Err((0, "`tz=` sets the zone of the other terms and cannot be negated".to_owned()));
                }
                let tz = TimeZone::get(value)
                    .map_err(|_| at(format!("`{value}` is not a time zone of the tz database (e.g. Asia/Shanghai)")))?;
                self.tz = Some(tz);
                return Ok(());
            }
            k if k.starts_with('$') => {
                let name = &k[1..];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err((off, format!("`{k}` is not a variable name")));
                }
                Term::Var {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }
            }
            k => {
                return Err((
                    off,
                    format!("unknown condition `{k}` (time, days, dates, holiday, caller, tz, $VAR)"),
                ));
            }
        };
        self.terms.push((neg, term));
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Holiday list names used, for the plan's cross-check.
    pub(crate) fn holidays(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().filter_map(|(_, t)| match t {
            Term::Holiday(h) => Some(h.as_str()),
            _ => None,
        })
    }

    pub(crate) fn holds(&self, f: &Facts<'_>) -> bool {
        let tz = self.tz.as_ref().unwrap_or(f.default_tz);
        let mut local = None;
        let mut zoned = || {
            *local.get_or_insert_with(|| {
                let ts = jiff::Timestamp::from_millisecond(f.unix_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                let z = ts.to_zoned(tz.clone());
                (z.date(), z.hour() as u16 * 60 + z.minute() as u16, z.weekday())
            })
        };
        self.terms.iter().all(|(neg, t)| {
            let v = match t {
                Term::Time { from, to } => {
                    let (_, m, _) = zoned();
                    if from < to {
                        (*from..*to).contains(&m)
                    } else {
                        m >= *from || m < *to
                    }
                }
                Term::Days(mask) => {
                    let (_, _, wd) = zoned();
                    mask & (1 << weekday_index(wd)) != 0
                }
                Term::Dates(r) => {
                    let (d, _, _) = zoned();
                    r.iter().any(|(a, b)| (*a..=*b).contains(&d))
                }
                Term::Holiday(name) => {
                    let (d, _, _) = zoned();
                    (f.holiday)(name, d)
                }
                Term::Caller(m) => m.matches(f.caller),
                Term::Var { name, value } => (f.var)(name).is_some_and(|v| v == *value),
            };
            v != *neg
        })
    }
}

fn weekday_index(w: Weekday) -> u8 {
    w.to_monday_zero_offset() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(words: &[&str]) -> Conditions {
        let mut c = Conditions::default();
        for w in words {
            c.add(w).unwrap();
        }
        c
    }

    /// 2026-11-24 is a Tuesday; 02:30 UTC is 10:30 in Shanghai.
    const TUE_0230_UTC: i64 = 1_795_487_400_000;

    fn holds(c: &Conditions, ms: i64, caller: &str) -> bool {
        let utc = TimeZone::UTC;
        let hol = |n: &str, d: Date| n == "cn" && d == jiff::civil::date(2026, 11, 24);
        let var = |n: &str| (n == "LANG").then(|| "zh".to_owned());
        c.holds(&Facts {
            unix_ms: ms,
            default_tz: &utc,
            caller,
            holiday: &hol,
            var: &var,
        })
    }

    #[test]
    fn time_days_and_zones() {
        let check = jiff::Timestamp::from_millisecond(TUE_0230_UTC).unwrap().to_zoned(TimeZone::UTC);
        assert_eq!((check.hour(), check.minute(), check.weekday()), (2, 30, Weekday::Tuesday));
        assert!(holds(
            &cond(&["time=09:00-18:00", "days=mon-fri", "tz=Asia/Shanghai"]),
            TUE_0230_UTC,
            ""
        ));
        assert!(!holds(&cond(&["time=09:00-18:00"]), TUE_0230_UTC, ""));
        assert!(holds(&cond(&["time=22:00-06:00"]), TUE_0230_UTC, ""));
        assert!(!holds(&cond(&["days=sat,sun"]), TUE_0230_UTC, ""));
        assert!(holds(&cond(&["days=fri-tue"]), TUE_0230_UTC, ""));
        assert!(holds(&cond(&["dates=2026-11-20..2026-11-30"]), TUE_0230_UTC, ""));
        assert!(!holds(&cond(&["!holiday=cn"]), TUE_0230_UTC, ""));
        // In New York it is still Monday evening.
        assert!(holds(&cond(&["days=mon", "tz=America/New_York"]), TUE_0230_UTC, ""));
    }

    #[test]
    fn caller_and_variables() {
        assert!(holds(&cond(&["caller=_138XXXXXXXX"]), 0, "13812345678"));
        assert!(!holds(&cond(&["caller=_138XXXXXXXX"]), 0, "13912345678"));
        assert!(holds(&cond(&["caller=/^\\+?86/"]), 0, "+8610"));
        assert!(holds(&cond(&["$LANG=zh"]), 0, ""));
        assert!(!holds(&cond(&["$LANG=en"]), 0, ""));
        assert!(holds(&cond(&["!$OTHER=x"]), 0, ""));
    }

    #[test]
    fn errors_point_into_the_word() {
        let e = |w: &str| Conditions::default().add(w).unwrap_err();
        assert_eq!(e("time=9-18").0, 5);
        // Found by the fuzzer: hours that overflow when turned into minutes.
        assert_eq!(e("time=9999:00-10:00").0, 5);
        assert_eq!(e("days=mon-fry").0, 5);
        assert_eq!(e("tz=Mars/Olympus").0, 3);
        assert_eq!(e("!colour=red").0, 1);
        assert_eq!(e("caller=_1[2").0, 9);
        assert!(e("dates=2026-02-30").1.contains("not a date"));
    }
}
