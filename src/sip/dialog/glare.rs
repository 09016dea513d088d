//! re-INVITE bookkeeping (RFC 3261 §14): at most one INVITE transaction per
//! dialog in either direction, and the randomised back-off after a 491.

use std::time::Duration;

use super::Dialog;

/// Why a re-INVITE of ours cannot start now (§14.1: no new INVITE while
/// another is in progress in either direction). Our own sequencing, not the
/// peer's fault: the caller queues the re-INVITE and tries again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteInProgress {
    /// Our previous re-INVITE has not completed.
    #[error("our re-INVITE is still in progress")]
    Ours,
    /// The peer's re-INVITE has not been answered and ACKed.
    #[error("the peer's re-INVITE is still in progress")]
    Theirs,
}

impl Dialog {
    /// Marks our re-INVITE as started; call before [`Dialog::request`] with
    /// INVITE. While it is pending, the peer's re-INVITEs get 491.
    pub fn begin_local_reinvite(&mut self) -> Result<(), InviteInProgress> {
        self.idle()?;
        self.local_reinvite = true;
        Ok(())
    }

    /// Our re-INVITE completed: final response received (and a 2xx ACKed).
    pub fn end_local_reinvite(&mut self) {
        self.local_reinvite = false;
    }

    /// Marks the peer's re-INVITE as accepted for processing, after
    /// [`Dialog::on_request`] let it through. While it is pending we start none.
    pub fn begin_remote_reinvite(&mut self) -> Result<(), InviteInProgress> {
        self.idle()?;
        self.remote_reinvite = true;
        Ok(())
    }

    /// The peer's re-INVITE completed: we sent a final response, and for a 2xx
    /// its ACK arrived (or Timer H gave up on it).
    pub fn end_remote_reinvite(&mut self) {
        self.remote_reinvite = false;
    }

    /// False while our re-INVITE is pending: a re-INVITE from the peer then
    /// gets 491 Request Pending (§14.2).
    pub fn incoming_reinvite_allowed(&self) -> bool {
        !self.local_reinvite
    }

    /// True while either side's re-INVITE is pending.
    pub fn reinvite_pending(&self) -> bool {
        self.local_reinvite || self.remote_reinvite
    }

    fn idle(&self) -> Result<(), InviteInProgress> {
        if self.local_reinvite {
            Err(InviteInProgress::Ours)
        } else if self.remote_reinvite {
            Err(InviteInProgress::Theirs)
        } else {
            Ok(())
        }
    }
}

/// How long to wait before retrying a re-INVITE that got 491 (§14.1): the
/// Call-ID's owner (the UAC of the first INVITE) waits 2.1 to 4 s, the other
/// side 0 to 2 s, both in 10 ms steps. Splitting the ranges means the two
/// retries cannot collide again. `rng_value` is any uniform random number.
pub fn glare_retry_delay(owner_of_call_id: bool, rng_value: u32) -> Duration {
    // Inclusive ranges in 10 ms units: 210..=400 and 0..=200.
    let (base, steps) = if owner_of_call_id { (210, 191) } else { (0, 201) };
    Duration::from_millis(u64::from(base + rng_value % steps) * 10)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{from_alice, uas};
    use super::super::{DialogError, DialogState};
    use super::*;

    #[test]
    fn our_pending_reinvite_makes_theirs_491() {
        let mut d = uas();
        d.on_final_response_sent(200);
        assert_eq!(d.state(), DialogState::Confirmed);
        d.begin_local_reinvite().unwrap();
        assert!(!d.incoming_reinvite_allowed());
        assert_eq!(d.begin_local_reinvite(), Err(InviteInProgress::Ours));
        let re = from_alice("INVITE", 315, "Contact: <sip:alice@198.51.100.99>\r\n");
        let e = d.on_request(&re).unwrap_err();
        assert_eq!(e, DialogError::RequestPending);
        assert_eq!(e.status(), 491);
        // A refused re-INVITE must not move the target.
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.1:5060");
        d.end_local_reinvite();
        assert!(d.incoming_reinvite_allowed());
        d.on_request(&re).unwrap();
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.99");
    }

    #[test]
    fn their_pending_reinvite_blocks_ours_and_a_second_one() {
        let mut d = uas();
        d.on_final_response_sent(200);
        d.on_request(&from_alice("INVITE", 315, "")).unwrap();
        d.begin_remote_reinvite().unwrap();
        assert!(d.reinvite_pending());
        assert_eq!(d.begin_local_reinvite(), Err(InviteInProgress::Theirs));
        let e = d.on_request(&from_alice("INVITE", 316, "")).unwrap_err();
        assert_eq!(e, DialogError::OverlappingInvite);
        assert_eq!(e.status(), 500);
        // The ACK for our answer still gets through.
        d.on_request(&from_alice("ACK", 315, "")).unwrap();
        d.end_remote_reinvite();
        d.begin_local_reinvite().unwrap();
    }

    #[test]
    fn retry_delays_stay_in_their_ranges() {
        let owner: Vec<Duration> = [0, 190, 191, u32::MAX].iter().map(|&r| glare_retry_delay(true, r)).collect();
        assert_eq!(owner[0], Duration::from_millis(2100));
        assert_eq!(owner[1], Duration::from_millis(4000));
        assert_eq!(owner[2], Duration::from_millis(2100));
        let other: Vec<Duration> = [0, 200, 201].iter().map(|&r| glare_retry_delay(false, r)).collect();
        assert_eq!(other, [Duration::ZERO, Duration::from_millis(2000), Duration::ZERO]);
        for r in (0..100_000u32).step_by(7) {
            let a = glare_retry_delay(true, r);
            assert!((Duration::from_millis(2100)..=Duration::from_secs(4)).contains(&a));
            assert_eq!(a.as_millis() % 10, 0);
            assert!(glare_retry_delay(false, r) <= Duration::from_secs(2));
        }
        assert!(owner[3] <= Duration::from_secs(4));
    }
}
