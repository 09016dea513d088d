//! An IVR menu as a sans-IO state machine: it says when to play and stop prompts, takes the
//! caller's keys and the passing of time, and ends in a choice or in running out of tries.
//!
//! Order of calls: [`MenuRun::poll_output`] until `None` after creating it and after each
//! input; inputs are [`MenuRun::handle_key`], [`MenuRun::handle_prompt_done`] and
//! [`MenuRun::handle_timeout`] at [`MenuRun::poll_timeout`].
//!
//! ```text
//!  Prompting ──prompt done──▶ Waiting ──timeout──▶ retry (Prompting) or Exhausted(timeout)
//!      │ key (barge-in: StopPlayback)    │ key
//!      ▼                                 ▼
//!  Collecting ──a choice, or `digits` keys, or inter-key timeout──▶ Chose / invalid
//!  invalid ──▶ retry with the invalid prompt first (Prompting) or Exhausted(invalid)
//! ```
//! Keys that arrive after the end are ignored. The inter-key timeout is the menu's timeout,
//! as Asterisk uses its response timeout for both.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Output;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Prompting,
    Waiting { until: Instant },
    Collecting { until: Instant },
    Done,
}

/// What the menu needs, with its prompts already expanded to names.
#[derive(Debug, Clone)]
pub struct MenuSpec {
    /// Played at each start.
    pub prompts: Vec<String>,
    /// Played before a retry after wrong keys.
    pub invalid_prompt: Option<String>,
    /// Wait for the first key after the prompts, and between keys.
    pub timeout: Duration,
    /// Further tries after a timeout or wrong keys.
    pub retries: u8,
    /// Keys per choice at most.
    pub digits: u8,
    /// The keys of the choices.
    pub choices: Vec<String>,
}

/// One run of a menu.
#[derive(Debug)]
pub struct MenuRun {
    spec: MenuSpec,
    state: State,
    keys: String,
    tries_left: u8,
    out: VecDeque<Output>,
}

impl MenuRun {
    /// Starts the menu: its first output plays the prompts.
    pub fn new(spec: MenuSpec) -> MenuRun {
        let mut m = MenuRun {
            tries_left: spec.retries,
            spec,
            state: State::Prompting,
            keys: String::new(),
            out: VecDeque::new(),
        };
        m.out.push_back(Output::Play(m.spec.prompts.clone()));
        m
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`MenuRun::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { until } | State::Collecting { until } => Some(until),
            State::Prompting | State::Done => None,
        }
    }

    /// Whether it has ended (chosen or exhausted).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The prompts finished playing.
    pub fn handle_prompt_done(&mut self, now: Instant) {
        if self.state == State::Prompting {
            self.state = State::Waiting {
                until: now + self.spec.timeout,
            };
        }
    }

    /// The caller pressed `key` (0-9, *, #, A-D).
    pub fn handle_key(&mut self, now: Instant, key: char) {
        match self.state {
            State::Done => return,
            State::Prompting => self.out.push_back(Output::StopPlayback),
            State::Waiting { .. } | State::Collecting { .. } => {}
        }
        self.keys.push(key);
        let longer = self
            .spec
            .choices
            .iter()
            .any(|c| c.len() > self.keys.len() && c.starts_with(&self.keys));
        if longer && self.keys.chars().count() < usize::from(self.spec.digits) {
            // `1` when `1` and `12` are both choices: wait for more, decide at the timeout.
            self.state = State::Collecting {
                until: now + self.spec.timeout,
            };
        } else if self.spec.choices.contains(&self.keys) {
            self.choose();
        } else {
            self.invalid();
        }
    }

    /// Time passed [`MenuRun::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Waiting { until } if now >= until => {
                if self.tries_left == 0 {
                    self.state = State::Done;
                    self.out.push_back(Output::Exhausted { by_timeout: true });
                } else {
                    self.tries_left -= 1;
                    self.restart(Vec::new());
                }
            }
            State::Collecting { until } if now >= until => {
                if self.spec.choices.contains(&self.keys) {
                    self.choose();
                } else {
                    self.invalid();
                }
            }
            _ => {}
        }
    }

    fn choose(&mut self) {
        self.state = State::Done;
        self.out.push_back(Output::Chose(std::mem::take(&mut self.keys)));
    }

    fn invalid(&mut self) {
        self.keys.clear();
        if self.tries_left == 0 {
            self.state = State::Done;
            self.out.push_back(Output::Exhausted { by_timeout: false });
            return;
        }
        self.tries_left -= 1;
        self.restart(self.spec.invalid_prompt.iter().cloned().collect());
    }

    fn restart(&mut self, mut first: Vec<String>) {
        first.extend(self.spec.prompts.iter().cloned());
        self.state = State::Prompting;
        self.out.push_back(Output::Play(first));
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

    fn spec(choices: &[&str], digits: u8) -> MenuSpec {
        MenuSpec {
            prompts: vec!["main".into()],
            invalid_prompt: Some("invalid".into()),
            timeout: Duration::from_secs(5),
            retries: 2,
            digits,
            choices: choices.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn drain(m: &mut MenuRun) -> Vec<Output> {
        std::iter::from_fn(|| m.poll_output()).collect()
    }

    fn play(p: &[&str]) -> Output {
        Output::Play(p.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn a_key_during_the_prompt_stops_it_and_chooses() {
        let t0 = origin();
        let mut m = MenuRun::new(spec(&["1", "2"], 1));
        assert_eq!(drain(&mut m), [play(&["main"])]);
        m.handle_key(t0, '2');
        assert_eq!(drain(&mut m), [Output::StopPlayback, Output::Chose("2".into())]);
        assert!(m.is_done());
        m.handle_key(t0, '1');
        assert!(drain(&mut m).is_empty(), "keys after the end are ignored");
    }

    #[test]
    fn timeouts_retry_then_exhaust() {
        let t0 = origin();
        let mut m = MenuRun::new(spec(&["1"], 1));
        drain(&mut m);
        let mut t = t0;
        for _ in 0..2 {
            m.handle_prompt_done(t);
            t += Duration::from_secs(5);
            assert_eq!(m.poll_timeout(), Some(t));
            m.handle_timeout(t);
            assert_eq!(drain(&mut m), [play(&["main"])]);
        }
        m.handle_prompt_done(t);
        m.handle_timeout(t + Duration::from_millis(4999));
        assert!(drain(&mut m).is_empty(), "not yet due");
        m.handle_timeout(t + Duration::from_secs(5));
        assert_eq!(drain(&mut m), [Output::Exhausted { by_timeout: true }]);
    }

    #[test]
    fn wrong_keys_play_the_invalid_prompt_then_exhaust() {
        let t0 = origin();
        let mut m = MenuRun::new(spec(&["1"], 1));
        drain(&mut m);
        m.handle_prompt_done(t0);
        m.handle_key(t0, '7');
        assert_eq!(drain(&mut m), [play(&["invalid", "main"])]);
        m.handle_key(t0, '8');
        assert_eq!(drain(&mut m), [Output::StopPlayback, play(&["invalid", "main"])]);
        m.handle_key(t0, '9');
        assert_eq!(drain(&mut m), [Output::StopPlayback, Output::Exhausted { by_timeout: false }]);
    }

    #[test]
    fn multi_key_choices_wait_for_more_keys() {
        let t0 = origin();
        let mut m = MenuRun::new(spec(&["1", "12", "30"], 2));
        drain(&mut m);
        m.handle_prompt_done(t0);
        // `1` could become `12`: decided when no key comes in time.
        m.handle_key(t0, '1');
        assert!(drain(&mut m).is_empty());
        m.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(drain(&mut m), [Output::Chose("1".into())]);

        let mut m = MenuRun::new(spec(&["1", "12", "30"], 2));
        drain(&mut m);
        m.handle_prompt_done(t0);
        m.handle_key(t0, '1');
        m.handle_key(t0 + Duration::from_secs(1), '2');
        assert_eq!(drain(&mut m), [Output::Chose("12".into())]);

        // `3` then silence: not a choice.
        let mut m = MenuRun::new(spec(&["1", "12", "30"], 2));
        drain(&mut m);
        m.handle_prompt_done(t0);
        m.handle_key(t0, '3');
        m.handle_timeout(t0 + Duration::from_secs(5));
        assert_eq!(drain(&mut m), [play(&["invalid", "main"])]);
    }
}
