//! The extension index of one context: exact numbers in a hash map, patterns in a trie walked
//! most-specific-first, regular expressions last in file order.
//!
//! A lookup costs a hash probe plus a walk proportional to the number's length times the
//! branches that admit each character, not to the number of extensions: the 10,000-extension
//! bench in `benches/dialplan.rs` stays far under 2 µs. Entries that share a pattern keep file
//! order, so `when` conditions on the same pattern are tried top to bottom.

use std::collections::HashMap;

use super::pattern::{Elem, Pattern, Tail};

/// Index of an extension in its context's list.
pub(crate) type EntryId = u32;

#[derive(Debug, Default, Clone)]
struct Node {
    /// Children ordered by `Elem::key`, literals first.
    children: Vec<(Elem, u32)>,
    /// Patterns that end here.
    end: Vec<EntryId>,
    /// Patterns ending here in `.`.
    one_or_more: Vec<EntryId>,
    /// Patterns ending here in `!`.
    any: Vec<EntryId>,
}

/// Exact, pattern and regex entries of one context.
#[derive(Debug, Default, Clone)]
pub(crate) struct Index {
    exact: HashMap<String, Vec<EntryId>>,
    nodes: Vec<Node>,
    regexes: Vec<EntryId>,
}

impl Index {
    pub(crate) fn new() -> Index {
        Index {
            exact: HashMap::new(),
            nodes: vec![Node::default()],
            regexes: Vec::new(),
        }
    }

    pub(crate) fn add_exact(&mut self, number: &str, id: EntryId) {
        self.exact.entry(number.to_owned()).or_default().push(id);
    }

    pub(crate) fn add_regex(&mut self, id: EntryId) {
        self.regexes.push(id);
    }

    pub(crate) fn add_pattern(&mut self, p: &Pattern, id: EntryId) {
        let mut at = 0usize;
        for &e in &p.elems {
            let found = self.nodes[at].children.iter().find(|(c, _)| *c == e).map(|&(_, n)| n as usize);
            at = match found {
                Some(n) => n,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push(Node::default());
                    let children = &mut self.nodes[at].children;
                    let pos = children.partition_point(|(c, _)| c.key() <= e.key());
                    children.insert(pos, (e, n as u32));
                    n
                }
            };
        }
        let node = &mut self.nodes[at];
        match p.tail {
            Tail::End => node.end.push(id),
            Tail::OneOrMore => node.one_or_more.push(id),
            Tail::Any => node.any.push(id),
        }
    }

    /// Calls `accept` with every entry matching `number`, most specific first, until it
    /// returns true; returns that entry. `regex_matches` decides the regex entries.
    pub(crate) fn find(
        &self,
        number: &str,
        mut accept: impl FnMut(EntryId) -> bool,
        mut regex_matches: impl FnMut(EntryId) -> bool,
    ) -> Option<EntryId> {
        if let Some(ids) = self.exact.get(number) {
            if let Some(&id) = ids.iter().find(|&&id| accept(id)) {
                return Some(id);
            }
        }
        // Numbers are short; a fixed buffer avoids allocating per lookup.
        let mut buf = ['\0'; 64];
        let mut n = 0;
        for c in number.chars() {
            if n == buf.len() {
                n = usize::MAX;
                break;
            }
            buf[n] = c;
            n += 1;
        }
        if n != usize::MAX {
            if let Some(id) = self.walk(0, &buf[..n], &mut accept) {
                return Some(id);
            }
        }
        self.regexes.iter().copied().find(|&id| regex_matches(id) && accept(id))
    }

    fn walk(&self, node: usize, rest: &[char], accept: &mut impl FnMut(EntryId) -> bool) -> Option<EntryId> {
        let n = &self.nodes[node];
        match rest.split_first() {
            None => {
                if let Some(&id) = n.end.iter().find(|&&id| accept(id)) {
                    return Some(id);
                }
            }
            Some((&c, tail)) => {
                for &(e, child) in &n.children {
                    if e.admits(c) {
                        if let Some(id) = self.walk(child as usize, tail, accept) {
                            return Some(id);
                        }
                    }
                }
                if let Some(&id) = n.one_or_more.iter().find(|&&id| accept(id)) {
                    return Some(id);
                }
            }
        }
        n.any.iter().copied().find(|&id| accept(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(pats: &[&str]) -> Index {
        let mut ix = Index::new();
        for (i, p) in pats.iter().enumerate() {
            match p.strip_prefix('_') {
                Some(p) => ix.add_pattern(&Pattern::parse(p).unwrap(), i as u32),
                None => ix.add_exact(p, i as u32),
            }
        }
        ix
    }

    fn all(ix: &Index, number: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        ix.find(
            number,
            |id| {
                seen.push(id);
                false
            },
            |_| false,
        );
        seen
    }

    #[test]
    fn walk_order_agrees_with_specificity_sort() {
        let pats = [
            "_X.", "_1X.", "_1!", "_NXX", "_1XX", "_12X", "_1ZX", "123", "_12", "_12X.", "_123", "_1[23]3",
        ];
        let ix = index(&pats);
        for number in ["123", "12", "1234", "1", "555", "5", "19"] {
            let got = all(&ix, number);
            let mut want: Vec<u32> = (0..pats.len() as u32)
                .filter(|&i| match pats[i as usize].strip_prefix('_') {
                    Some(p) => Pattern::parse(p).unwrap().matches(number),
                    None => pats[i as usize] == number,
                })
                .collect();
            want.sort_by(|&a, &b| {
                let pa = pats[a as usize];
                let pb = pats[b as usize];
                let key = |s: &str| {
                    s.strip_prefix('_')
                        .map_or_else(|| Pattern::parse(s).unwrap(), |p| Pattern::parse(p).unwrap())
                };
                (!pa.starts_with('_'))
                    .cmp(&!pb.starts_with('_'))
                    .reverse()
                    .then(key(pa).specificity_cmp(&key(pb)))
                    .then(a.cmp(&b))
            });
            assert_eq!(got, want, "number {number}");
        }
    }

    #[test]
    fn same_pattern_keeps_file_order_and_accept_can_skip() {
        let ix = index(&["_8XXX", "_8XXX", "_8XXX"]);
        let mut tries = 0;
        let got = ix.find(
            "8000",
            |id| {
                tries += 1;
                id == 2
            },
            |_| false,
        );
        assert_eq!((got, tries), (Some(2), 3));
    }
}
