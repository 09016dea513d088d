//! `Cidr`, an IP address block such as `192.0.2.0/24`, used for trunk inbound ACLs.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: `addr/prefix`. `addr` may have host bits set; they are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits may be set).
    pub addr: IpAddr,
    /// At most 32 for IPv4, 128 for IPv6.
    pub prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the block. IPv4-mapped IPv6 addresses (what a dual-stack socket
    /// reports for an IPv4 peer) are compared as the IPv4 address they carry.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(*ip, IpAddr::V4),
            v4 => *v4,
        };
        let (net, prefix) = match self.addr {
            IpAddr::V6(v6) if self.prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), self.prefix - 96),
                None => (self.addr, self.prefix),
            },
            _ => (self.addr, self.prefix),
        };
        match (net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(prefix.min(32)))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix.min(128)))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Why a string is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IP address")]
    /// The part before `/` is not an IP address.
    Address(String),
    #[error("`{0}` is not a prefix length")]
    /// The part after `/` is not a number from 0 to 255.
    Prefix(String),
    #[error("prefix /{prefix} is longer than {max} bits")]
    /// The prefix exceeds the address length.
    PrefixTooLong {
        /// As written.
        prefix: u8,
        /// 32 or 128.
        max: u8,
    },
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// Accepts `addr/prefix` or a bare address, meaning that one host (/32 or /128).
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::Address(addr_text.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse::<u8>()
                .map_err(|_| CidrError::Prefix(p.to_owned()))?,
            Some(p) => return Err(CidrError::Prefix(p.to_owned())),
        };
        if prefix > max {
            return Err(CidrError::PrefixTooLong { prefix, max });
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
