//! The dialplan's surface syntax: words on lines, blocks in braces.
//!
//! A file is a list of statements. A statement is the words up to the end of the line (or `;`),
//! optionally followed by a `{ … }` block of statements, and after the block optionally `else
//! { … }`. What the words mean is decided later (`plan.rs`, `action.rs`); this layer only
//! knows words, quoted strings, `/regex/` literals, `//` comments and braces, so every later
//! error can point at the exact word it is about.
//!
//! `#` and `*` are ordinary characters (they are DTMF keys); comments start with `//` at the
//! start of a word, so URLs keep theirs.
//! `${…}` inside a word is kept whole, braces included, so templates need no quoting.

use std::sync::Arc;

use super::error::{Diags, Pos};

/// One word of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) text: String,
    pub(crate) kind: WordKind,
    pub(crate) pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordKind {
    Bare,
    Quoted,
    /// `/…/`: the text is the expression between the slashes.
    Regex,
}

/// One statement: its words, and the block(s) after them.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub(crate) words: Vec<Word>,
    pub(crate) block: Option<Block>,
    pub(crate) else_block: Option<Block>,
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) stmts: Vec<Stmt>,
    /// Where `{` was, for errors about the block as a whole.
    pub(crate) open: Pos,
}

#[cfg(test)]
impl Stmt {
    /// Where the statement starts (its first word; statements always have one).
    pub(crate) fn pos(&self) -> &Pos {
        &self.words[0].pos
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Word),
    Open(Pos),
    Close(Pos),
    End,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    file: Arc<str>,
    line: u32,
    col: u32,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn tokens(mut self, diags: &mut Diags) -> Vec<Tok> {
        let mut out = Vec::new();
        while let Some(&c) = self.chars.peek() {
            match c {
                '\n' | ';' => {
                    self.bump();
                    out.push(Tok::End);
                }
                c if c.is_whitespace() => {
                    self.bump();
                }
                '{' => {
                    out.push(Tok::Open(self.pos()));
                    self.bump();
                }
                '}' => {
                    out.push(Tok::Close(self.pos()));
                    self.bump();
                }
                '/' if self.starts_comment() => {
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.bump();
                    }
                }
                '"' | '/' => {
                    let pos = self.pos();
                    self.bump();
                    let (text, kind, what) = if c == '"' {
                        (self.quoted(), WordKind::Quoted, "string not closed: a `\"`")
                    } else {
                        (self.regex(), WordKind::Regex, "regular expression not closed: a `/`")
                    };
                    match text {
                        Some(text) => out.push(Tok::Word(Word { text, kind, pos })),
                        None => diags.at(&pos, format!("{what} is missing before the end of the line")),
                    }
                }
                _ => {
                    let pos = self.pos();
                    let text = self.bare(diags);
                    out.push(Tok::Word(Word {
                        text,
                        kind: WordKind::Bare,
                        pos,
                    }));
                }
            }
        }
        out.push(Tok::End);
        out
    }

    fn starts_comment(&self) -> bool {
        let mut ahead = self.chars.clone();
        ahead.next();
        ahead.next() == Some('/')
    }

    /// A string: up to `"`, with `\n`, `\t`, `\"` and `\\` escapes.
    fn quoted(&mut self) -> Option<String> {
        self.delimited('"', |c| match c {
            'n' => Some('\n'),
            't' => Some('\t'),
            '"' | '\\' => Some(c),
            _ => None,
        })
    }

    /// A regex: up to the next `/` not escaped; `\/` stands for `/`, other escapes are the
    /// regex's own and are kept.
    fn regex(&mut self) -> Option<String> {
        self.delimited('/', |c| (c == '/').then_some('/'))
    }

    /// Text up to `close` on the same line. After `\`, `unescape` gives the character a
    /// sequence stands for; others are kept as written, backslash included. `None` when the
    /// line ends first.
    fn delimited(&mut self, close: char, unescape: impl Fn(char) -> Option<char>) -> Option<String> {
        let mut s = String::new();
        loop {
            match self.chars.peek().copied() {
                None | Some('\n') => return None,
                Some(c) if c == close => {
                    self.bump();
                    return Some(s);
                }
                Some('\\') => {
                    self.bump();
                    match self.chars.peek().copied() {
                        None | Some('\n') => return None,
                        Some(c) => match unescape(c) {
                            Some(u) => s.push(u),
                            None => {
                                s.push('\\');
                                s.push(c);
                            }
                        },
                    }
                    self.bump();
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
    }

    fn bare(&mut self, diags: &mut Diags) -> String {
        let mut s = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"') {
                break;
            }
            if c == '$' {
                let pos = self.pos();
                s.push(c);
                self.bump();
                if self.chars.peek() == Some(&'{') {
                    // `${…}` stays in the word, nested braces included.
                    let mut depth = 0u32;
                    while let Some(&c) = self.chars.peek() {
                        if c == '\n' {
                            diags.at(&pos, "`${` not closed by `}` on this line");
                            return s;
                        }
                        s.push(c);
                        self.bump();
                        match c {
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                continue;
            }
            s.push(c);
            self.bump();
        }
        s
    }
}

/// Splits a file into statements. Syntax errors are added to `diags`; what could be read is
/// still returned, so later checks can report their own problems in the same pass.
pub(crate) fn parse(file: Arc<str>, text: &str, diags: &mut Diags) -> Vec<Stmt> {
    let lexer = Lexer {
        chars: text.chars().peekable(),
        file: file.clone(),
        line: 1,
        col: 1,
    };
    let toks = lexer.tokens(diags);
    let mut p = Parser { toks, at: 0, depth: 0 };
    p.stmts(diags, None)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    depth: u32,
}

/// Deepest nesting of blocks. Real plans nest a few levels (context, extension, menu,
/// choice); the bound keeps a hostile file from exhausting the stack of `check` or of a
/// reload.
const MAX_DEPTH: u32 = 32;

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.at).unwrap_or(&Tok::End)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.at = (self.at + 1).min(self.toks.len());
        t
    }

    fn at_eof(&self) -> bool {
        self.at >= self.toks.len()
    }

    /// Statements up to the `}` closing `open` (consumed), or to the end of the file.
    fn stmts(&mut self, diags: &mut Diags, open: Option<&Pos>) -> Vec<Stmt> {
        if let Some(pos) = open {
            if self.depth >= MAX_DEPTH {
                diags.at(pos, format!("blocks nested deeper than {MAX_DEPTH} levels"));
                self.skip_block();
                return Vec::new();
            }
        }
        self.depth += 1;
        let out = self.stmts_inner(diags, open);
        self.depth -= 1;
        out
    }

    /// Past the `}` that closes a block already opened, without reading it.
    fn skip_block(&mut self) {
        let mut depth = 1usize;
        while !self.at_eof() {
            match self.next() {
                Tok::Open(_) => depth += 1,
                Tok::Close(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn stmts_inner(&mut self, diags: &mut Diags, open: Option<&Pos>) -> Vec<Stmt> {
        let mut out = Vec::new();
        loop {
            if self.at_eof() {
                if let Some(open) = open {
                    diags.at(open, "block not closed: a `}` is missing");
                }
                return out;
            }
            match self.next() {
                Tok::End => {}
                Tok::Close(pos) => {
                    if open.is_some() {
                        return out;
                    }
                    diags.at(&pos, "`}` without a block to close");
                }
                Tok::Open(pos) => {
                    diags.at(&pos, "a block must follow a statement (`ext …`, `menu …`, `if …`)");
                    let _ = self.stmts(diags, Some(&pos));
                }
                Tok::Word(first) => {
                    let stmt = self.stmt(first, diags);
                    out.push(stmt);
                }
            }
        }
    }

    fn stmt(&mut self, first: Word, diags: &mut Diags) -> Stmt {
        let mut words = vec![first];
        let mut block = None;
        let mut else_block = None;
        loop {
            match self.peek().clone() {
                Tok::Word(w) => {
                    self.next();
                    words.push(w);
                }
                Tok::Open(pos) => {
                    self.next();
                    let stmts = self.stmts(diags, Some(&pos));
                    block = Some(Block { stmts, open: pos });
                    break;
                }
                Tok::Close(_) | Tok::End => break,
            }
        }
        if block.is_some() {
            // `} else {`, possibly with the `else` on the next line.
            let save = self.at;
            while matches!(self.peek(), Tok::End) && !self.at_eof() {
                self.next();
            }
            match self.peek().clone() {
                Tok::Word(w) if w.kind == WordKind::Bare && w.text == "else" => {
                    self.next();
                    match self.next() {
                        Tok::Open(pos) => {
                            let stmts = self.stmts(diags, Some(&pos));
                            else_block = Some(Block { stmts, open: pos });
                        }
                        _ => diags.at(&w.pos, "`else` must be followed by `{` on the same line"),
                    }
                }
                _ => self.at = save,
            }
        }
        Stmt { words, block, else_block }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Stmt) -> Vec<&str> {
        s.words.iter().map(|w| w.text.as_str()).collect()
    }

    fn parse_ok(text: &str) -> Vec<Stmt> {
        let mut d = Diags::default();
        let out = parse("t.dialplan".into(), text, &mut d);
        assert!(d.is_empty(), "{:?}", d.0);
        out
    }

    fn parse_err(text: &str) -> Vec<String> {
        let mut d = Diags::default();
        parse("t.dialplan".into(), text, &mut d);
        d.0.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn words_blocks_comments_and_templates() {
        let s = parse_ok("context a { // calls from users\n  ext _1XXX {\n    bridge user:${EXTEN:1} \"a b\"; hangup 480\n  }\n}\n");
        assert_eq!(s.len(), 1);
        assert_eq!(words(&s[0]), ["context", "a"]);
        let ctx = &s[0].block.as_ref().unwrap().stmts;
        assert_eq!(words(&ctx[0]), ["ext", "_1XXX"]);
        let acts = &ctx[0].block.as_ref().unwrap().stmts;
        assert_eq!(words(&acts[0]), ["bridge", "user:${EXTEN:1}", "a b"]);
        assert_eq!(acts[0].words[2].kind, WordKind::Quoted);
        assert_eq!(words(&acts[1]), ["hangup", "480"]);
        assert_eq!((acts[1].pos().line, acts[1].pos().col), (3, 35));
    }

    #[test]
    fn hash_and_star_are_characters_and_regex_keeps_braces() {
        let s = parse_ok("read PIN max=4 terminator=#\n ext *98# {\n}\next /^00(\\d{2,3})\\/x$/ {}\n");
        assert_eq!(words(&s[0]), ["read", "PIN", "max=4", "terminator=#"]);
        assert_eq!(words(&s[1]), ["ext", "*98#"]);
        assert_eq!(s[2].words[1].kind, WordKind::Regex);
        assert_eq!(s[2].words[1].text, "^00(\\d{2,3})/x$");
        let q = parse_ok("x \"a\\\"b\\\\c\\nd\\q\"\n");
        assert_eq!(q[0].words[1].text, "a\"b\\c\nd\\q");
    }

    #[test]
    fn else_may_follow_on_the_next_line() {
        let s = parse_ok("if caller=_1XXX {\n goto a\n}\nelse {\n goto b\n}\nhangup\n");
        assert_eq!(s.len(), 2);
        assert!(s[0].else_block.is_some());
        assert_eq!(words(&s[1]), ["hangup"]);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        assert_eq!(
            parse_err("context a {\n ext 1 {\n}\n"),
            ["t.dialplan:1:11: block not closed: a `}` is missing"]
        );
        assert_eq!(parse_err("}\n"), ["t.dialplan:1:1: `}` without a block to close"]);
        assert_eq!(
            parse_err("playback \"abc\n"),
            ["t.dialplan:1:10: string not closed: a `\"` is missing before the end of the line"]
        );
        assert_eq!(parse_err("set A=${B\n"), ["t.dialplan:1:7: `${` not closed by `}` on this line"]);
        // A hostile nesting is refused at the limit, not by running out of stack.
        let deep = format!("{}{}", "x {".repeat(100_000), "}".repeat(100_000));
        let errs = parse_err(&deep);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].ends_with("blocks nested deeper than 32 levels"), "{errs:?}");
        assert_eq!(
            parse_err("ext /abc\n"),
            ["t.dialplan:1:5: regular expression not closed: a `/` is missing before the end of the line"]
        );
    }
}
