//! Asterisk-style extension patterns: `_NXXNXXXXXX`, `_1[2-5]X.`, `_00!`.
//!
//! After the leading `_`: `X` is any digit, `Z` 1–9, `N` 2–9, `[1-5]`/`[137]` a set, `.` one
//! or more of anything, `!` zero or more of anything; `-` outside brackets is ignored (for
//! readability, as Asterisk does); anything else matches itself. `.` and `!` end a pattern.
//!
//! Order ("most specific first", Asterisk's): patterns compare element by element; an element
//! that admits fewer characters sorts first (a literal before `N` before `Z` before `X`), a
//! pattern that ends sorts before its own continuations, `.` and `!` last. The index in
//! `index.rs` walks its trie in this order, so the first acceptable match is the most specific.

/// One position of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Elem {
    /// Exactly this character.
    Lit(char),
    /// One ASCII character out of a set (bit `c` set admits `c`).
    Class(u128),
}

impl Elem {
    pub(crate) fn admits(self, c: char) -> bool {
        match self {
            Elem::Lit(l) => l == c,
            Elem::Class(set) => c.is_ascii() && set & (1u128 << (c as u32)) != 0,
        }
    }

    /// Sort key: how many characters it admits, then the smallest of them.
    pub(crate) fn key(self) -> (u32, u32) {
        match self {
            Elem::Lit(c) => (1, c as u32),
            Elem::Class(set) => (set.count_ones(), set.trailing_zeros()),
        }
    }
}

/// What may follow the fixed elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Tail {
    /// The number ends here.
    End,
    /// `.`: one or more characters.
    OneOrMore,
    /// `!`: zero or more characters.
    Any,
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Pattern {
    pub(crate) elems: Vec<Elem>,
    pub(crate) tail: Tail,
}

fn digits(lo: char, hi: char) -> u128 {
    (lo as u32..=hi as u32).fold(0, |m, c| m | 1u128 << c)
}

impl Pattern {
    /// Parses the text after `_`. Errors are one line, with the 0-based character index
    /// they are about so the caller can point at the column.
    pub(crate) fn parse(text: &str) -> Result<Pattern, (usize, String)> {
        let mut elems = Vec::new();
        let mut tail = Tail::End;
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if tail != Tail::End {
                return Err((
                    i,
                    format!("`{c}` after `.` or `!`: those match the rest of the number and must come last"),
                ));
            }
            match c {
                'X' | 'x' => elems.push(Elem::Class(digits('0', '9'))),
                'Z' | 'z' => elems.push(Elem::Class(digits('1', '9'))),
                'N' | 'n' => elems.push(Elem::Class(digits('2', '9'))),
                '.' => tail = Tail::OneOrMore,
                '!' => tail = Tail::Any,
                '-' => {}
                '[' => {
                    let start = i;
                    let mut set = 0u128;
                    i += 1;
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err((start, "`[` not closed by `]`".to_owned()));
                        };
                        if c == ']' {
                            break;
                        }
                        if !c.is_ascii() || c.is_ascii_control() {
                            return Err((i, format!("`{c}` cannot be in a `[…]` set (ASCII characters only)")));
                        }
                        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&h| h != ']') {
                            let hi = chars[i + 2];
                            if !hi.is_ascii() || hi < c {
                                return Err((i, format!("range `{c}-{hi}` runs backwards or leaves ASCII")));
                            }
                            set |= digits(c, hi);
                            i += 3;
                        } else {
                            set |= 1u128 << (c as u32);
                            i += 1;
                        }
                    }
                    if set == 0 {
                        return Err((start, "`[]` admits nothing".to_owned()));
                    }
                    elems.push(if set.count_ones() == 1 {
                        Elem::Lit(char::from(set.trailing_zeros() as u8))
                    } else {
                        Elem::Class(set)
                    });
                }
                ']' => return Err((i, "`]` without `[`".to_owned())),
                c if c.is_whitespace() || c.is_control() => {
                    return Err((i, "patterns cannot contain spaces or control characters".to_owned()));
                }
                c => elems.push(Elem::Lit(c)),
            }
            i += 1;
        }
        if elems.is_empty() && tail == Tail::End {
            return Err((0, "empty pattern: `_` must be followed by what to match".to_owned()));
        }
        Ok(Pattern { elems, tail })
    }

    /// Whether the whole of `number` matches.
    pub(crate) fn matches(&self, number: &str) -> bool {
        let mut chars = number.chars();
        for e in &self.elems {
            match chars.next() {
                Some(c) if e.admits(c) => {}
                _ => return false,
            }
        }
        let rest = chars.count();
        match self.tail {
            Tail::End => rest == 0,
            Tail::OneOrMore => rest >= 1,
            Tail::Any => true,
        }
    }

    /// Total order, most specific first (see the module comment); the index walks in this
    /// order, and its test checks the two agree.
    #[cfg(test)]
    pub(crate) fn specificity_cmp(&self, other: &Pattern) -> std::cmp::Ordering {
        for (a, b) in self.elems.iter().zip(&other.elems) {
            let o = a.key().cmp(&b.key());
            if o.is_ne() {
                return o;
            }
        }
        let tail_key = |p: &Pattern, n: usize| match p.elems.len().cmp(&n) {
            std::cmp::Ordering::Greater => (1u8, Tail::End),
            _ => (0, p.tail),
        };
        // Same elements as far as the shorter goes: the shorter's tail decides against the
        // longer's next element. Ending sorts first; a next element before `.`/`!`.
        let n = self.elems.len().min(other.elems.len());
        match (tail_key(self, n), tail_key(other, n)) {
            ((0, Tail::End), (1, _)) => std::cmp::Ordering::Less,
            ((1, _), (0, Tail::End)) => std::cmp::Ordering::Greater,
            ((0, t), (1, _)) if t != Tail::End => std::cmp::Ordering::Greater,
            ((1, _), (0, t)) if t != Tail::End => std::cmp::Ordering::Less,
            (a, b) => a.cmp(&b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn asterisk_classes_sets_and_tails() {
        assert!(p("NXXNXXXXXX").matches("2125551234"));
        assert!(!p("NXXNXXXXXX").matches("1125551234"));
        assert!(!p("NXXNXXXXXX").matches("212555123"));
        assert!(p("1[2-5]X").matches("130"));
        assert!(!p("1[2-5]X").matches("160"));
        assert!(p("[137]Z").matches("71"));
        assert!(!p("[137]Z").matches("70"));
        assert!(p("00.").matches("00861"));
        assert!(!p("00.").matches("00"));
        assert!(p("00!").matches("00"));
        assert!(p("1-800-NXX-XXXX").matches("18002223333"));
        assert!(p("+86X.").matches("+8613812345678"));
        assert!(p("*98").matches("*98"));
    }

    #[test]
    fn errors_point_at_the_character() {
        assert_eq!(Pattern::parse("1.2").unwrap_err().0, 2);
        assert_eq!(Pattern::parse("1[23").unwrap_err().0, 1);
        assert_eq!(Pattern::parse("1[9-2]").unwrap_err().0, 2);
        assert_eq!(Pattern::parse("12]").unwrap_err().0, 2);
        assert!(Pattern::parse("").is_err());
    }

    #[test]
    fn specificity_is_asterisks_order() {
        let mut v = vec![
            p("X."),
            p("1X."),
            p("1!"),
            p("NXX"),
            p("1XX"),
            p("12X"),
            p("1ZX"),
            p("123"),
            p("12"),
            p("12X."),
        ];
        v.sort_by(Pattern::specificity_cmp);
        let shown: Vec<String> = v.iter().map(|p| format!("{p:?}")).collect();
        let order = ["12", "123", "12X", "12X.", "1ZX", "1XX", "1X.", "1!", "NXX", "X."];
        let want: Vec<String> = order.iter().map(|s| format!("{:?}", p(s))).collect();
        assert_eq!(shown, want);
    }
}
