//! UDS over the tokio driver (feature `tokio`): [`doip_client::tokio::Client`] is an
//! [`AsyncChannel`] to its default ECU, [`EcuChannel`] one to any ECU behind the same
//! connection. Each holds a clone of the client handle, so one connection serves as many
//! [`crate::AsyncUdsClient`]s (and tasks) as there are ECUs; the session matches answers.
//!
//! ```no_run
//! use doip_client::LogicalAddress;
//! use doip_client::tokio::Client;
//! use doip_uds::{AsyncUdsClient, SessionType};
//!
//! # async fn run() -> Result<(), doip_uds::Error> {
//! let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4011)).await?;
//! let engine = doip_uds::tokio::EcuChannel::new(client.clone(), LogicalAddress(0x4011));
//! let brakes = doip_uds::tokio::EcuChannel::new(client, LogicalAddress(0x4012));
//! let (mut engine, mut brakes) = (AsyncUdsClient::new(engine), AsyncUdsClient::new(brakes));
//! engine.session_control(SessionType::Extended).await?;
//! // Both in flight at once on the one connection.
//! let (vin, dtcs) =
//!     tokio::join!(engine.read_data_by_identifier(0xF190), brakes.read_dtc_by_status_mask(0xFF));
//! println!("VIN {:?}, {} brake DTCs", vin?, dtcs?.dtcs.len());
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use doip_client::tokio::Client;
use doip_client::{LogicalAddress, UdsTiming};

use crate::channel::AsyncChannel;
use crate::error::Result;

/// The tokio client as a channel to its default ECU ([`Client::ecu`]).
impl AsyncChannel for Client {
    async fn request(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        Ok(Client::request(self, self.ecu(), request).await?)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        self.set_uds_timing(self.ecu(), timing);
        Ok(())
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        Client::keep_alive(self, self.ecu(), every);
        Ok(true)
    }

    fn delay(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        ::tokio::time::sleep(duration)
    }
}

/// A clone of a tokio client as a channel to one ECU of its choosing.
#[derive(Clone, Debug)]
pub struct EcuChannel {
    client: Client,
    target: LogicalAddress,
}

impl EcuChannel {
    /// Requests go to `target` through `client` (a clone of the handle is enough).
    #[must_use]
    pub const fn new(client: Client, target: LogicalAddress) -> Self {
        Self { client, target }
    }

    /// The ECU addressed.
    #[must_use]
    pub const fn target(&self) -> LogicalAddress {
        self.target
    }

    /// The client handle.
    #[must_use]
    pub const fn client(&self) -> &Client {
        &self.client
    }
}

impl AsyncChannel for EcuChannel {
    async fn request(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        Ok(self.client.request(self.target, request).await?)
    }

    fn set_timing(&mut self, timing: Option<UdsTiming>) -> Result<()> {
        self.client.set_uds_timing(self.target, timing);
        Ok(())
    }

    fn keep_alive(&mut self, every: Option<Duration>) -> Result<bool> {
        self.client.keep_alive(self.target, every);
        Ok(true)
    }

    fn delay(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        ::tokio::time::sleep(duration)
    }
}
