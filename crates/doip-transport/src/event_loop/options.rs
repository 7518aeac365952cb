//! How endpoints are set up: [`ConnectOptions`] (with [`ReconnectPolicy`] and [`TlsClient`])
//! for dialed connections, [`ListenOptions`] for listeners, and the [`Framing`] both share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use doip_proto::{HeaderPolicy, LogicalAddress, ProtocolVersion};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use crate::connection::{Connection, Role};

const DEFAULT_QUEUE_LIMIT: usize = 16 * 1024 * 1024;

/// When and how often a dropped connection is re-established. Any delay is allowed: one too
/// large for the clock (e.g. `Duration::MAX`) means waiting forever, until the connection is
/// closed.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// Attempts after a disconnect before giving up.
    pub attempts: u32,
    /// Wait before the first attempt.
    pub delay: Duration,
    /// Each further wait is the previous one times this factor.
    pub backoff: f64,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for ReconnectPolicy {
    /// 5 attempts, 100 ms apart at first, doubling up to 2 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            delay: Duration::from_millis(100),
            backoff: 2.0,
            max_delay: Duration::from_secs(2),
        }
    }
}

impl ReconnectPolicy {
    /// The wait before reconnect attempt `attempt` (1 = first): `delay` times `backoff` per
    /// attempt after the first, at most `max_delay`; saturating, never panicking.
    pub(super) fn delay_before(&self, attempt: u32) -> Duration {
        let factor = self
            .backoff
            .max(1.0)
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        let delay = Duration::try_from_secs_f64(self.delay.as_secs_f64() * factor.min(1e6))
            .unwrap_or(Duration::MAX);
        delay.min(self.max_delay)
    }
}

/// TLS client settings for a dialed connection.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// The rustls configuration (see [`crate::tls`]).
    pub config: Arc<ClientConfig>,
    /// The name the certificate must carry.
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// `config`, checking certificates for `server_name`.
    #[must_use]
    pub const fn new(config: Arc<ClientConfig>, server_name: ServerName<'static>) -> Self {
        Self { config, server_name }
    }

    /// Verified against the platform's trusted roots, for `server_name` (a DNS name, or the
    /// entity's IP address as text): doipclient's `use_secure=True`.
    ///
    /// # Errors
    /// No platform roots, or a `server_name` that is neither a DNS name nor an IP address.
    pub fn platform(server_name: &str) -> Result<Self, rustls::Error> {
        Ok(Self::new(Arc::new(crate::tls::platform_client_config()?), name(server_name)?))
    }

    /// Verified against `roots` (e.g. the OEM's certificate authority), for `server_name`.
    ///
    /// # Errors
    /// As [`TlsClient::platform`].
    pub fn with_roots(
        roots: rustls::RootCertStore,
        server_name: &str,
    ) -> Result<Self, rustls::Error> {
        Ok(Self::new(Arc::new(crate::tls::client_config(roots)?), name(server_name)?))
    }

    /// Accepting **any** certificate (see [`crate::tls::insecure_test_bench_client_config`]).
    ///
    /// # Errors
    /// As [`TlsClient::platform`].
    pub fn insecure_test_bench(server_name: &str) -> Result<Self, rustls::Error> {
        let config = crate::tls::insecure_test_bench_client_config()?;
        Ok(Self::new(Arc::new(config), name(server_name)?))
    }
}

fn name(server_name: &str) -> Result<ServerName<'static>, rustls::Error> {
    crate::tls::server_name(server_name)
        .map_err(|e| rustls::Error::General(format!("server name {server_name:?}: {e}")))
}

/// What every TCP connection of an endpoint shares: the version it sends, the policy its
/// received headers are checked with, and the bound on its send queue.
#[derive(Clone, Debug)]
pub(crate) struct Framing {
    version: ProtocolVersion,
    policy: HeaderPolicy,
    max_queued_bytes: usize,
}

impl Framing {
    fn new(policy: HeaderPolicy) -> Self {
        Self { version: ProtocolVersion::default(), policy, max_queued_bytes: DEFAULT_QUEUE_LIMIT }
    }

    pub(super) fn connection(&self, peer: SocketAddr, role: Role) -> Connection {
        Connection::new(peer, role, self.version, self.policy.clone(), self.max_queued_bytes)
    }
}

/// The [`Framing`] setters of [`ConnectOptions`] and [`ListenOptions`].
macro_rules! framing_setters {
    () => {
        /// The protocol version of messages sent.
        #[must_use]
        pub const fn version(mut self, version: ProtocolVersion) -> Self {
            self.framing.version = version;
            self
        }

        /// Check received headers with `policy`.
        #[must_use]
        pub fn policy(mut self, policy: HeaderPolicy) -> Self {
            self.framing.policy = policy;
            self
        }

        /// Bound on bytes queued for sending per connection.
        #[must_use]
        pub const fn max_queued_bytes(mut self, bytes: usize) -> Self {
            self.framing.max_queued_bytes = bytes;
            self
        }
    };
}

/// How a TCP connection is dialed (the tester role).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) tls: Option<TlsClient>,
    pub(crate) framing: Framing,
    pub(crate) reconnect: Option<ReconnectPolicy>,
    pub(crate) bind: Option<SocketAddr>,
    pub(crate) tester_address: LogicalAddress,
    pub(crate) manual_resume: bool,
}

impl Default for ConnectOptions {
    /// 2 s connect timeout, plain TCP, version 0x02, vendor payload types delivered raw,
    /// no reconnect, tester address 0x0E00.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            tls: None,
            framing: Framing::new(HeaderPolicy::tcp().with_unknown_payload_types(true)),
            reconnect: None,
            bind: None,
            tester_address: LogicalAddress::DEFAULT_TESTER,
            manual_resume: true,
        }
    }
}

impl ConnectOptions {
    /// How long the TCP connect (and TLS handshake) may take. A timeout too large for the
    /// clock (e.g. `Duration::MAX`) means no timeout.
    #[must_use]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Speak TLS.
    #[must_use]
    pub fn tls(mut self, tls: TlsClient) -> Self {
        self.tls = Some(tls);
        self
    }

    framing_setters!();

    /// A fresh tester connection to `peer` with these options.
    pub(super) fn connection(&self, peer: SocketAddr) -> Connection {
        let mut conn = self.framing.connection(peer, Role::Tester);
        conn.set_tester_address(self.tester_address);
        conn
    }

    /// Re-establish the connection when the peer closes it.
    #[must_use]
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Whether messages held across a reconnect wait for [`EventLoop::resume`](super::EventLoop::resume) (default
    /// `true`, so routing can be re-activated first) or are resent at once.
    #[must_use]
    pub const fn manual_resume(mut self, on: bool) -> Self {
        self.manual_resume = on;
        self
    }

    /// Connect from this local address.
    #[must_use]
    pub const fn bind(mut self, local: SocketAddr) -> Self {
        self.bind = Some(local);
        self
    }

    /// The source address alive checks are answered with (update it with
    /// [`EventLoop::set_tester_address`](super::EventLoop::set_tester_address) after activating another one).
    #[must_use]
    pub const fn tester_address(mut self, address: LogicalAddress) -> Self {
        self.tester_address = address;
        self
    }
}

/// How a TCP listener serves connections (the entity role).
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub(crate) tls: Option<Arc<ServerConfig>>,
    pub(crate) framing: Framing,
    pub(crate) coalesce_writes: bool,
}

impl Default for ListenOptions {
    /// Plain TCP, version 0x02, [`HeaderPolicy::tcp`] (reserved types answered with NACK 0x01).
    fn default() -> Self {
        Self { tls: None, framing: Framing::new(HeaderPolicy::tcp()), coalesce_writes: false }
    }
}

impl ListenOptions {
    /// Serve TLS with `config`.
    #[must_use]
    pub fn tls(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    framing_setters!();

    /// Write what accepted connections send at the end of the current loop iteration
    /// instead of at once, so that answers produced together (a diagnostic ACK and the
    /// ECU's response) leave in one segment. For servers that keep calling
    /// [`EventLoop::poll`](super::EventLoop::poll).
    #[must_use]
    pub const fn coalesce_writes(mut self, on: bool) -> Self {
        self.coalesce_writes = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_saturate_instead_of_panicking() {
        let policy =
            |delay, backoff, max_delay| ReconnectPolicy { attempts: 3, delay, backoff, max_delay };
        let default = ReconnectPolicy::default();
        assert_eq!(default.delay_before(1), Duration::from_millis(100));
        assert_eq!(default.delay_before(3), Duration::from_millis(400));
        assert_eq!(default.delay_before(30), Duration::from_secs(2));
        let max = policy(Duration::MAX, 2.0, Duration::MAX);
        assert_eq!(max.delay_before(1), Duration::MAX);
        assert_eq!(max.delay_before(u32::MAX), Duration::MAX);
        let huge = policy(Duration::from_secs(u64::MAX / 4), 1e300, Duration::MAX);
        assert_eq!(huge.delay_before(2), Duration::MAX);
        let odd = policy(Duration::from_millis(10), f64::NAN, Duration::MAX);
        assert_eq!(odd.delay_before(5), Duration::from_millis(10));
        let inf = policy(Duration::from_millis(10), f64::INFINITY, Duration::from_mins(1));
        assert_eq!(inf.delay_before(2), Duration::from_mins(1));
    }
}
