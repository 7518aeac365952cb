//! [`Channel`]: what [`crate::UdsClient`] needs from a transport — one request, its final
//! answer — so that DoIP ([`doip_client::Client`], [`EcuChannel`]) and anything else (ISO-TP)
//! can carry UDS; [`AsyncChannel`] is the same for [`crate::AsyncUdsClient`] on an async
//! runtime (the tokio driver's implementations are in `doip_uds::tokio`, feature `tokio`).

use std::future::Future;
use std::time::Duration;

use doip_client::{Client, LogicalAddress, UdsTiming};

use crate::error::Result;

/// A request/response path to one ECU (or one functional address).
pub trait Channel {
    /// Sends `request` and returns the ECU's final answer as received — positive, or
    /// `7F SID NRC` — after any "response pending" (the channel waits through those). A
    /// request with the suppress-positive-response bit returns an empty answer when none came.
    ///
    /// # Errors
    /// The transport's: timeouts, NACKs, lost connections ([`crate::Error::Doip`] or
    /// [`crate::Error::Channel`]).
    fn request(&mut self, request: &[u8]) -> Result<Vec<u8>>;

    /// Uses `timing` (P2, P2*) for this ECU's answers from now on; `None` goes back to the
    /// channel's defaults. Channels without their own timing ignore it.
    ///
    /// # Errors
    /// The transport's.
    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        let _ = timing;
        Ok(())
    }

    /// Sends TesterPresent (`3E 80`) whenever the ECU was sent nothing for `every`, on the
    /// channel's own schedule, until `None`. Returns `false` when the channel cannot (the
    /// caller must then send TesterPresent itself).
    ///
    /// # Errors
    /// The transport's.
    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        let _ = every;
        Ok(false)
    }

    /// Waits `duration` (the security-access delay): the thread sleeps.
    fn delay(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

impl<C: Channel + ?Sized> Channel for &mut C {
    fn request(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        (**self).request(request)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        (**self).set_timing(timing)
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        (**self).keep_alive(every)
    }

    fn delay(&mut self, duration: Duration) {
        (**self).delay(duration);
    }
}

/// [`Channel`] for async runtimes: requests are futures, waits are the runtime's timers.
/// The futures are `Send`, so an [`crate::AsyncUdsClient`] can run in a spawned task.
pub trait AsyncChannel {
    /// Sends `request` and resolves to the ECU's final answer, as [`Channel::request`].
    /// Dropping the future gives up the request; a late answer must not reach the next one.
    ///
    /// # Errors
    /// As [`Channel::request`].
    fn request(&mut self, request: &[u8]) -> impl Future<Output = Result<Vec<u8>>> + Send;

    /// As [`Channel::set_timing`].
    ///
    /// # Errors
    /// The transport's.
    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        let _ = timing;
        Ok(())
    }

    /// As [`Channel::keep_alive`]; the keeper runs without the caller awaiting anything.
    ///
    /// # Errors
    /// The transport's.
    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        let _ = every;
        Ok(false)
    }

    /// Waits `duration` on the runtime's timer (never blocking its thread).
    fn delay(&mut self, duration: Duration) -> impl Future<Output = ()> + Send;
}

impl<C: AsyncChannel> AsyncChannel for &mut C {
    fn request(&mut self, request: &[u8]) -> impl Future<Output = Result<Vec<u8>>> + Send {
        (**self).request(request)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        (**self).set_timing(timing)
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        (**self).keep_alive(every)
    }

    fn delay(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        (**self).delay(duration)
    }
}

/// A DoIP client as a channel to its default ECU ([`Client::ecu`]).
impl Channel for Client {
    fn request(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        let ecu = self.ecu();
        Ok(Client::request(self, ecu, request)?)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        let ecu = self.ecu();
        Ok(self.set_uds_timing(ecu, timing)?)
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        let ecu = self.ecu();
        Client::keep_alive(self, ecu, every)?;
        Ok(true)
    }
}

/// A DoIP client as a channel to one ECU of its choosing: several ECUs behind one gateway,
/// one connection.
#[derive(Debug)]
pub struct EcuChannel<'a> {
    client: &'a mut Client,
    target: LogicalAddress,
}

impl<'a> EcuChannel<'a> {
    /// Requests go to `target` through `client`.
    pub const fn new(client: &'a mut Client, target: LogicalAddress) -> Self {
        Self { client, target }
    }

    /// The ECU addressed.
    #[must_use]
    pub const fn target(&self) -> LogicalAddress {
        self.target
    }
}

impl Channel for EcuChannel<'_> {
    fn request(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        Ok(self.client.request(self.target, request)?)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        Ok(self.client.set_uds_timing(self.target, timing)?)
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        self.client.keep_alive(self.target, every)?;
        Ok(true)
    }
}
