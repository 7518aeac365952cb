//! The UDS server of the `ecu_diagnostics` crate over DoIP, as doipclient's
//! `DoIPClientUDSConnector` does for Python's udsoncan (feature `ecu-diagnostics`).
//!
//! ```no_run
//! use doip_client::{Client, DoipChannel};
//! use ecu_diagnostics::DiagnosticServer;
//! use ecu_diagnostics::channel::IsoTPSettings;
//! use ecu_diagnostics::uds::{UDSCommand, UdsDiagnosticServer, UdsServerOptions, UdsVoidHandler};
//! use doip_proto::LogicalAddress;
//!
//! let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4010))?;
//! let options = UdsServerOptions {
//!     send_id: 0x4010, recv_id: 0x4010, read_timeout_ms: 2000, write_timeout_ms: 2000,
//!     global_tp_id: 0, tester_present_interval_ms: 2000, tester_present_require_response: true,
//! };
//! let mut uds = UdsDiagnosticServer::new_over_iso_tp(
//!     options, DoipChannel::new(client), IsoTPSettings::default(), UdsVoidHandler,
//! ).expect("server");
//! let vin = uds.execute_command_with_response(UDSCommand::ReadDataByIdentifier, &[0xF1, 0x90]);
//! # Ok::<(), doip_client::Error>(())
//! ```

use std::time::Duration;

use doip_proto::LogicalAddress;
use ecu_diagnostics::channel::{
    ChannelError, ChannelResult, IsoTPChannel, IsoTPSettings, PayloadChannel,
};

use crate::{Client, Error};

/// A [`Client`] as an `ecu_diagnostics` channel: `set_ids(send, recv)` name the ECU's logical
/// address the requests go to and the one answers come from.
#[derive(Debug)]
pub struct DoipChannel {
    client: Client,
    answers_from: Option<LogicalAddress>,
}

impl DoipChannel {
    /// Wraps a connected (and activated) client.
    #[must_use]
    pub const fn new(client: Client) -> Self {
        Self { client, answers_from: None }
    }

    /// The client back.
    #[must_use]
    pub fn into_inner(self) -> Client {
        self.client
    }
}

fn channel_error(e: &Error) -> ChannelError {
    ChannelError::Other(e.to_string())
}

fn address(id: u32) -> ChannelResult<LogicalAddress> {
    u16::try_from(id).map(LogicalAddress).map_err(|_| ChannelError::ConfigurationError)
}

impl PayloadChannel for DoipChannel {
    fn open(&mut self) -> ChannelResult<()> {
        Ok(()) // the client is connected and activated already
    }

    fn close(&mut self) -> ChannelResult<()> {
        Ok(())
    }

    fn set_ids(&mut self, _send: u32, recv: u32) -> ChannelResult<()> {
        self.answers_from = Some(address(recv)?);
        Ok(())
    }

    fn read_bytes(&mut self, timeout_ms: u32) -> ChannelResult<Vec<u8>> {
        match self.client.receive_diagnostic_from(
            self.answers_from,
            Duration::from_millis(u64::from(timeout_ms)),
        ) {
            Ok((_, data)) => Ok(data),
            Err(Error::Timeout { .. }) if timeout_ms == 0 => Err(ChannelError::BufferEmpty),
            Err(Error::Timeout { .. }) => Err(ChannelError::ReadTimeout),
            Err(e) => Err(channel_error(&e)),
        }
    }

    fn write_bytes(&mut self, addr: u32, buffer: &[u8], _timeout_ms: u32) -> ChannelResult<()> {
        match self.client.send_diagnostic_to(address(addr)?, buffer) {
            Ok(()) => Ok(()),
            Err(Error::Timeout { .. }) => Err(ChannelError::WriteTimeout),
            Err(e) => Err(channel_error(&e)),
        }
    }

    fn clear_rx_buffer(&mut self) -> ChannelResult<()> {
        self.client.empty_rxqueue().map(drop).map_err(|e| channel_error(&e))
    }

    fn clear_tx_buffer(&mut self) -> ChannelResult<()> {
        Ok(())
    }
}

impl IsoTPChannel for DoipChannel {
    /// DoIP carries whole UDS messages: ISO-TP settings do not apply.
    fn set_iso_tp_cfg(&mut self, _cfg: IsoTPSettings) -> ChannelResult<()> {
        Ok(())
    }
}
