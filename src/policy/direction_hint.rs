//! The direction-sanity hint. Mail from one of our own domains (`[policy]
//! local_domains`) that is classified inbound — a client outside `[direction]
//! trusted_networks`, not authenticated, not on an outbound daemon — is usually our
//! own relay missing from `[direction]`: its mail then skips every outbound check
//! (DLP, route ceilings, signing) without a word. (It can also be a forgery, which
//! inbound SPF/DMARC deal with.) The milter counts every such message and logs a
//! hint, at most once per client address per period.

use super::direction::canonical_ip;
use crate::domain::DomainSet;
use crate::envelope::{Direction, Envelope, domain_of};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The milter logs the hint at most once per client address in this period.
pub const LOG_PERIOD: Duration = Duration::from_secs(3600);
/// Client addresses remembered for [`LOG_PERIOD`] (see [`HintLimiter`]).
pub const MAX_CLIENTS: usize = 4096;

/// Whether this message is a case for the hint. Call after the direction is set.
pub fn applies(env: &Envelope, local_domains: &DomainSet) -> bool {
    env.direction() == Direction::Inbound
        && env.auth_user.as_deref().is_none_or(str::is_empty)
        && env
            .mail_from
            .as_deref()
            .is_some_and(|from| local_domains.covers(domain_of(from)))
}

/// What to log for one hinted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    /// First time from this client in the period: log the hint.
    Log,
    /// Too many distinct clients in the period to remember: log that, once.
    TooManyClients,
    /// Already logged for this client in the period (the metric still counts it).
    Quiet,
}

/// Remembers when each client was last logged. Bounded: at `capacity` clients
/// (after dropping those older than the period) new clients are no longer logged
/// one by one, so hostile traffic from many addresses can grow neither the map nor
/// the log past `capacity` + 1 lines per period.
pub struct HintLimiter {
    period: Duration,
    capacity: usize,
    state: Mutex<LimiterState>,
}

#[derive(Default)]
struct LimiterState {
    logged: HashMap<IpAddr, Instant>,
    too_many_logged: Option<Instant>,
}

impl HintLimiter {
    pub fn new(period: Duration, capacity: usize) -> Self {
        HintLimiter {
            period,
            capacity,
            state: Mutex::default(),
        }
    }

    /// Decides for a message from `client` at `now` (passed in so tests need no
    /// sleeping). A client without a known address counts as one client.
    pub fn check(&self, client: Option<IpAddr>, now: Instant) -> Hint {
        let ip = client.map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), canonical_ip);
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < self.period;
        // A poisoned lock only means another thread panicked mid-update; the map
        // is still a valid map.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = s.logged.get(&ip) {
            if fresh(at) {
                return Hint::Quiet;
            }
        } else if s.logged.len() >= self.capacity {
            s.logged.retain(|_, at| fresh(at));
        }
        if s.logged.len() < self.capacity || s.logged.contains_key(&ip) {
            s.logged.insert(ip, now);
            return Hint::Log;
        }
        if s.too_many_logged.as_ref().is_some_and(fresh) {
            return Hint::Quiet;
        }
        s.too_many_logged = Some(now);
        Hint::TooManyClients
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn applies_to_unauthenticated_inbound_mail_from_a_local_domain() {
        let local = DomainSet::from_names(["agency.govt.nz"]);
        let mut env = Envelope {
            mail_from: Some("alice@mail.agency.govt.nz".into()),
            direction: Some(Direction::Inbound),
            ..Default::default()
        };
        assert!(applies(&env, &local));
        env.auth_user = Some("alice".into());
        assert!(!applies(&env, &local), "authenticated");
        env.auth_user = None;
        env.direction = Some(Direction::Outbound);
        assert!(!applies(&env, &local), "outbound");
        env.direction = Some(Direction::Inbound);
        env.mail_from = Some("bob@example.org".into());
        assert!(!applies(&env, &local), "foreign sender");
        env.mail_from = Some(String::new());
        assert!(!applies(&env, &local), "null sender");
    }

    #[test]
    fn logs_once_per_client_per_period() {
        let l = HintLimiter::new(HOUR, 16);
        let t0 = Instant::now();
        assert_eq!(l.check(ip("203.0.113.5"), t0), Hint::Log);
        assert_eq!(l.check(ip("203.0.113.5"), t0 + HOUR / 2), Hint::Quiet);
        // The same client as an IPv4-mapped address.
        assert_eq!(l.check(ip("::ffff:203.0.113.5"), t0), Hint::Quiet);
        assert_eq!(l.check(ip("203.0.113.6"), t0), Hint::Log);
        assert_eq!(l.check(ip("203.0.113.5"), t0 + HOUR), Hint::Log);
        assert_eq!(l.check(ip("203.0.113.5"), t0 + HOUR * 3 / 2), Hint::Quiet);
    }

    #[test]
    fn a_full_map_stops_per_client_lines_until_entries_expire() {
        let l = HintLimiter::new(HOUR, 2);
        let t0 = Instant::now();
        assert_eq!(l.check(ip("192.0.2.1"), t0), Hint::Log);
        assert_eq!(l.check(ip("192.0.2.2"), t0), Hint::Log);
        assert_eq!(l.check(ip("192.0.2.3"), t0), Hint::TooManyClients);
        assert_eq!(l.check(ip("192.0.2.4"), t0), Hint::Quiet);
        assert_eq!(l.check(None, t0), Hint::Quiet);
        // Known clients still come back after their period.
        assert_eq!(l.check(ip("192.0.2.1"), t0 + HOUR), Hint::Log);
        // Once the others expire there is room again.
        assert_eq!(l.check(ip("192.0.2.3"), t0 + HOUR), Hint::Log);
        assert_eq!(l.state.lock().unwrap().logged.len(), 2);
    }
}
