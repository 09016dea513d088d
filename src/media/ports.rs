//! The RTP port pool: which local ports a new call's media binds.
//!
//! Each call takes one block of four ports: an even RTP port facing A with
//! its RTCP port above it, and the same facing B (RFC 3550 §11: RTP even,
//! RTCP the next odd port). Blocks are handed out least-recently-freed first,
//! so that late packets still arriving for an ended call fall on a port that
//! nothing is using rather than on the next call's.

use std::collections::VecDeque;

/// Free and used blocks of the configured range.
#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
    in_use: usize,
}

impl PortPool {
    /// Ports per call: RTP + RTCP for each of the two legs.
    pub const BLOCK: u16 = 4;

    /// A pool over `min..=max` (`min` rounded up to even; a partial block at
    /// the top is left unused).
    pub fn new(min: u16, max: u16) -> PortPool {
        let start = u32::from(min) + u32::from(min) % 2;
        let end = u32::from(max);
        let mut free = VecDeque::new();
        let mut p = start;
        while p + u32::from(Self::BLOCK) - 1 <= end {
            // p <= end <= u16::MAX, checked by the loop condition.
            free.push_back(p as u16);
            p += u32::from(Self::BLOCK);
        }
        PortPool { free, in_use: 0 }
    }

    /// A block's RTP ports facing A and B; `None` when every block is taken.
    pub fn take(&mut self) -> Option<[u16; 2]> {
        let p = self.free.pop_front()?;
        self.in_use += 1;
        Some([p, p + 2])
    }

    /// Gives a block back (by its A-side port).
    pub fn give_back(&mut self, ports: [u16; 2]) {
        self.in_use = self.in_use.saturating_sub(1);
        self.free.push_back(ports[0]);
    }

    /// Drops a block for good: another program holds one of its ports.
    pub fn retire(&mut self, _ports: [u16; 2]) {
        self.in_use = self.in_use.saturating_sub(1);
    }

    /// Blocks free.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Blocks in use.
    pub fn in_use(&self) -> usize {
        self.in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_even_disjoint_and_inside_the_range() {
        let mut pool = PortPool::new(10001, 10020);
        let mut seen = Vec::new();
        while let Some([a, b]) = pool.take() {
            assert_eq!(a % 2, 0);
            assert_eq!(b, a + 2);
            assert!(a >= 10001 && b < 10020);
            seen.push(a);
        }
        assert_eq!(seen, vec![10002, 10006, 10010, 10014]);
        assert_eq!(pool.in_use(), 4);
    }

    #[test]
    fn freed_blocks_are_reused_last() {
        let mut pool = PortPool::new(20000, 20011);
        let first = pool.take().unwrap();
        pool.give_back(first);
        assert_ne!(pool.take().unwrap(), first, "a just-freed block waits behind the others");
        assert_eq!(pool.take().unwrap(), [20008, 20010]);
        assert_eq!(pool.take().unwrap(), first);
        assert!(pool.take().is_none());
    }

    #[test]
    fn retired_blocks_never_come_back() {
        let mut pool = PortPool::new(30000, 30003);
        let b = pool.take().unwrap();
        pool.retire(b);
        assert!(pool.take().is_none());
        assert_eq!(pool.in_use(), 0);
    }
}
