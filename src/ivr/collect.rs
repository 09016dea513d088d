//! `read`: collecting digits into a variable, sans-IO. Ends on the terminator (not stored),
//! on the maximum number of digits, or when no key comes for the timeout (after the prompt,
//! and between keys); a key during the prompt stops it.
//!
//! Order of calls as for [`super::menu::MenuRun`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{EndedBy, Output};

/// What `read` needs, its prompt expanded.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// Played first, if any.
    pub prompt: Option<String>,
    /// Most digits.
    pub max: u8,
    /// The key that ends input.
    pub terminator: Option<char>,
    /// Wait for a key.
    pub timeout: Duration,
}

/// One run of `read`.
#[derive(Debug)]
pub struct ReadRun {
    spec: ReadSpec,
    digits: String,
    prompting: bool,
    until: Option<Instant>,
    done: bool,
    out: VecDeque<Output>,
}

impl ReadRun {
    /// Starts: plays the prompt, or starts waiting at `now` when there is none.
    pub fn new(now: Instant, spec: ReadSpec) -> ReadRun {
        let mut r = ReadRun {
            digits: String::new(),
            prompting: spec.prompt.is_some(),
            until: None,
            done: false,
            out: VecDeque::new(),
            spec,
        };
        match &r.spec.prompt {
            Some(p) => r.out.push_back(Output::Play(vec![p.clone()])),
            None => r.until = Some(now + r.spec.timeout),
        }
        r
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`ReadRun::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done { None } else { self.until }
    }

    /// The prompt finished.
    pub fn handle_prompt_done(&mut self, now: Instant) {
        if self.prompting && !self.done {
            self.prompting = false;
            self.until = Some(now + self.spec.timeout);
        }
    }

    /// A key.
    pub fn handle_key(&mut self, now: Instant, key: char) {
        if self.done {
            return;
        }
        if self.prompting {
            self.prompting = false;
            self.out.push_back(Output::StopPlayback);
        }
        if Some(key) == self.spec.terminator {
            return self.finish(EndedBy::Terminator);
        }
        self.digits.push(key);
        if self.digits.chars().count() >= usize::from(self.spec.max) {
            return self.finish(EndedBy::Max);
        }
        self.until = Some(now + self.spec.timeout);
    }

    /// Time passed [`ReadRun::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.done && self.until.is_some_and(|u| now >= u) {
            self.finish(EndedBy::Timeout);
        }
    }

    fn finish(&mut self, by: EndedBy) {
        self.done = true;
        self.until = None;
        self.out.push_back(Output::Collected {
            digits: std::mem::take(&mut self.digits),
            by,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Virtual time: the origin is read once; tests move time by hand from it.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn run(prompt: bool) -> (Instant, ReadRun) {
        let t0 = origin();
        let spec = ReadSpec {
            prompt: prompt.then(|| "enter".to_owned()),
            max: 4,
            terminator: Some('#'),
            timeout: Duration::from_secs(5),
        };
        (t0, ReadRun::new(t0, spec))
    }

    fn drain(r: &mut ReadRun) -> Vec<Output> {
        std::iter::from_fn(|| r.poll_output()).collect()
    }

    #[test]
    fn terminator_max_and_timeout_end_it() {
        let (t0, mut r) = run(true);
        assert_eq!(drain(&mut r), [Output::Play(vec!["enter".into()])]);
        r.handle_key(t0, '1');
        r.handle_key(t0, '2');
        r.handle_key(t0, '#');
        assert_eq!(
            drain(&mut r),
            [
                Output::StopPlayback,
                Output::Collected {
                    digits: "12".into(),
                    by: EndedBy::Terminator
                }
            ]
        );

        let (t0, mut r) = run(false);
        assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        for k in "98765".chars() {
            r.handle_key(t0, k);
        }
        assert_eq!(
            drain(&mut r),
            [Output::Collected {
                digits: "9876".into(),
                by: EndedBy::Max
            }]
        );

        let (t0, mut r) = run(true);
        drain(&mut r);
        r.handle_prompt_done(t0);
        r.handle_key(t0 + Duration::from_secs(4), '5');
        r.handle_timeout(t0 + Duration::from_secs(8));
        assert!(drain(&mut r).is_empty(), "the wait restarts at each key");
        r.handle_timeout(t0 + Duration::from_secs(9));
        assert_eq!(
            drain(&mut r),
            [Output::Collected {
                digits: "5".into(),
                by: EndedBy::Timeout
            }]
        );
        assert_eq!(r.poll_timeout(), None);
    }
}
