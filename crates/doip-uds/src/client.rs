//! [`UdsClient`]: the services of [`crate::codec`] run over a [`Channel`], with the session
//! bookkeeping a tester needs: timing from the DiagnosticSessionControl answer, the
//! TesterPresent keeper while a session is not the default one, seed/key with the security
//! delay honoured, and downloads/uploads sized from the ECU's answer.

use std::time::Duration;

use doip_client::UdsTiming;

use crate::channel::{AsyncChannel, Channel};
use crate::codec::{
    self, DidLengths, Dtc, DtcCount, DtcList, DtcRecords, MemoryFormat, SessionAnswer,
    TransferParameters,
};
use crate::error::{Error, Result};
use crate::nrc::Nrc;
use crate::security::KeyAlgorithm;
use crate::service::{
    CommunicationControlType, DtcReportType, ResetType, RoutineControlType, ServiceId, SessionType,
};

/// How a [`UdsClient`] behaves; [`UdsOptions::default`] suits most ECUs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UdsOptions {
    /// Apply the P2/P2* a DiagnosticSessionControl answer announces to the channel (on).
    pub apply_timing: bool,
    /// Added to the announced P2 and P2* for the network and gateway (1 s).
    pub timing_margin: Duration,
    /// TesterPresent interval while a non-default session is active (2 s; `None`: the
    /// caller keeps the session alive).
    pub tester_present: Option<Duration>,
    /// addressAndLengthFormatIdentifier for memory services (`None`: the smallest that holds
    /// the address and size; many ECUs want [`MemoryFormat::FOUR_FOUR`]).
    pub memory_format: Option<MemoryFormat>,
    /// dataFormatIdentifier for RequestDownload/RequestUpload (0x00: plain).
    pub data_format: u8,
    /// After NRC 0x37 (required time delay not expired) to a seed request, wait this long and
    /// ask once more (10 s; zero: report the NRC at once).
    pub security_delay: Duration,
    /// Data record lengths for reading several DIDs in one request.
    pub did_lengths: DidLengths,
}

impl Default for UdsOptions {
    fn default() -> Self {
        Self {
            apply_timing: true,
            timing_margin: Duration::from_secs(1),
            tester_present: Some(Duration::from_secs(2)),
            memory_format: None,
            data_format: 0x00,
            security_delay: Duration::from_secs(10),
            did_lengths: DidLengths::new(),
        }
    }
}

/// What a download or upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferSummary {
    /// Bytes moved.
    pub bytes: u64,
    /// TransferData blocks.
    pub blocks: u64,
    /// What RequestDownload/RequestUpload granted.
    pub parameters: TransferParameters,
    /// The RequestTransferExit answer's parameter record.
    pub exit_record: Vec<u8>,
}

/// The struct and methods of [`UdsClient`] and [`AsyncUdsClient`], written once: `$async` and `$aw`
/// are empty for the blocking client, `async` and `.await` for the async one; `$key` and
/// `$progress` are the callback types (`Send` in the async client, so that its futures are).
macro_rules! uds_client {
    (
        $(#[$meta:meta])*
        $name:ident: $channel:ident,
        async: [$($async:tt)*],
        await: [$($aw:tt)*],
        key: $key:ty,
        progress: $progress:ty $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name<C> {
            channel: C,
            options: UdsOptions,
            session: SessionType,
        }

        impl<C: $channel> $name<C> {
            /// A client with [`UdsOptions::default`].
            pub fn new(channel: C) -> Self {
                Self::with_options(channel, UdsOptions::default())
            }

            /// A client with `options`.
            pub const fn with_options(channel: C, options: UdsOptions) -> Self {
                Self { channel, options, session: SessionType::Default }
            }

            /// The options.
            #[must_use]
            pub const fn options(&self) -> &UdsOptions {
                &self.options
            }

            /// The options, to change.
            pub const fn options_mut(&mut self) -> &mut UdsOptions {
                &mut self.options
            }

            /// The session this client last entered (the ECU may have left it since, e.g. on S3).
            #[must_use]
            pub const fn session(&self) -> SessionType {
                self.session
            }

            /// The channel.
            pub const fn channel_mut(&mut self) -> &mut C {
                &mut self.channel
            }

            /// The channel back.
            pub fn into_inner(self) -> C {
                self.channel
            }

            /// Sends any request; returns the positive answer whole (negative:
            /// [`Error::Negative`]), or nothing for a request with the suppress-positive-response
            /// bit that got no answer.
            ///
            /// # Errors
            /// The channel's; [`Error::Negative`]; [`Error::UnexpectedAnswer`].
            pub $($async)* fn raw(&mut self, request: &[u8]) -> Result<Vec<u8>> {
                let service = ServiceId::from_value(request.first().copied().unwrap_or_default());
                let answer = self.channel.request(request) $($aw)*?;
                let suppressed = service.has_sub_function()
                    && request
                        .get(1)
                        .is_some_and(|sub| sub & codec::SUPPRESS_POSITIVE_RESPONSE != 0);
                if !(answer.is_empty() && suppressed) {
                    codec::positive(service, &answer)?;
                }
                Ok(answer)
            }

            /// Sends `request` and returns the answer as received, a suppressed one empty.
            $($async)* fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>> {
                self.channel.request(request) $($aw)*
            }

            /// DiagnosticSessionControl (0x10). The announced P2/P2* (plus
            /// [`UdsOptions::timing_margin`]) become the channel's timing; in a non-default session
            /// the TesterPresent keeper runs, in the default session it stops.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn session_control(
                &mut self,
                session: SessionType,
            ) -> Result<SessionAnswer> {
                let answer = self.exchange(&codec::session_control(session, false)) $($aw)*?;
                let parsed = codec::parse_session_answer(session, &answer)?;
                self.entered(session, parsed.timing)?;
                Ok(parsed)
            }

            /// Bookkeeping after a session change: timing and keeper.
            fn entered(&mut self, session: SessionType, timing: Option<UdsTiming>) -> Result<()> {
                self.session = session;
                if self.options.apply_timing
                    && let Some(t) = timing
                {
                    let margin = self.options.timing_margin;
                    self.channel.set_timing(Some(UdsTiming {
                        p2: t.p2.saturating_add(margin),
                        p2_star: t.p2_star.saturating_add(margin),
                    }))?;
                }
                let keep = self.options.tester_present.filter(|_| session != SessionType::Default);
                if !self.channel.keep_alive(keep)? && keep.is_some() {
                    log::debug!(
                        "channel has no TesterPresent keeper; the caller keeps the session"
                    );
                }
                Ok(())
            }

            /// ECUReset (0x11); returns the power-down time, if the ECU gave one. The ECU is in its
            /// default session afterwards: the keeper stops and the default timing returns.
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn ecu_reset(&mut self, reset: ResetType) -> Result<Option<u8>> {
                let answer = self.exchange(&codec::ecu_reset(reset, false)) $($aw)*?;
                let power_down = codec::parse_reset_answer(reset, &answer)?;
                self.session = SessionType::Default;
                self.channel.keep_alive(None)?;
                self.channel.set_timing(None)?;
                Ok(power_down)
            }

            /// SecurityAccess (0x27) requestSeed for `level` (the odd value; the even one is taken
            /// as its pair).
            ///
            /// # Errors
            /// The channel's; negative answers (0x36, 0x37 typed as [`Nrc`]).
            pub $($async)* fn request_seed(&mut self, level: u8) -> Result<Vec<u8>> {
                let answer = self.exchange(&codec::request_seed(level, &[])?) $($aw)*?;
                codec::parse_seed_answer(level, &answer)
            }

            /// SecurityAccess (0x27) sendKey for `level`.
            ///
            /// # Errors
            /// The channel's; negative answers (0x35 invalid key, 0x36 exceeded attempts).
            pub $($async)* fn send_key(&mut self, level: u8, key: &[u8]) -> Result<()> {
                let answer = self.exchange(&codec::send_key(level, key)?) $($aw)*?;
                codec::parse_key_answer(level, &answer)
            }

            /// Unlocks `level`: seed, key from `algorithm`, sendKey. An all-zero seed means
            /// unlocked already. NRC 0x37 to the seed request waits [`UdsOptions::security_delay`]
            /// and asks once more.
            ///
            /// # Errors
            /// The channel's; negative answers; [`Error::Key`] when the algorithm fails.
            pub $($async)* fn security_access(
                &mut self,
                level: u8,
                algorithm: &mut $key,
            ) -> Result<()> {
                let seed = match self.request_seed(level) $($aw)* {
                    Err(e)
                        if e.nrc() == Some(Nrc::RequiredTimeDelayNotExpired)
                            && !self.options.security_delay.is_zero() =>
                    {
                        log::info!(
                            "security access: the ECU's delay is running; waiting {:?}",
                            self.options.security_delay
                        );
                        self.channel.delay(self.options.security_delay) $($aw)*;
                        self.request_seed(level) $($aw)*?
                    }
                    other => other?,
                };
                if seed.iter().all(|b| *b == 0) {
                    return Ok(());
                }
                let key = algorithm
                    .key(codec::seed_sub_function(level), &seed)
                    .map_err(|e| Error::Key { level, reason: e.to_string() })?;
                self.send_key(level, &key) $($aw)*
            }

            /// CommunicationControl (0x28).
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn communication_control(
                &mut self,
                control: CommunicationControlType,
                communication_type: u8,
            ) -> Result<()> {
                let request = codec::communication_control(control, communication_type, false);
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_communication_control_answer(control, &answer)
            }

            /// TesterPresent (0x3E) with an answer (`3E 00`).
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn tester_present(&mut self) -> Result<()> {
                let answer = self.exchange(&codec::tester_present(false)) $($aw)*?;
                codec::parse_tester_present_answer(&answer)
            }

            /// ReadDataByIdentifier (0x22) of one DID: its data.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_data_by_identifier(&mut self, did: u16) -> Result<Vec<u8>> {
                let mut all = self.read_data_by_identifiers(&[did]) $($aw)*?;
                Ok(all.pop().map(|(_, data)| data).unwrap_or_default())
            }

            /// ReadDataByIdentifier (0x22) of several DIDs in one request, split by
            /// [`UdsOptions::did_lengths`] (the last DID's length may be unknown).
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_data_by_identifiers(
                &mut self,
                dids: &[u16],
            ) -> Result<Vec<(u16, Vec<u8>)>> {
                let answer = self.exchange(&codec::read_data_by_identifier(dids)?) $($aw)*?;
                let lengths = &self.options.did_lengths;
                let parts = codec::parse_read_data_answer(dids, lengths, &answer)?;
                Ok(parts.into_iter().map(|(did, data)| (did, data.to_vec())).collect())
            }

            /// WriteDataByIdentifier (0x2E).
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn write_data_by_identifier(
                &mut self,
                did: u16,
                data: &[u8],
            ) -> Result<()> {
                let answer = self.exchange(&codec::write_data_by_identifier(did, data)) $($aw)*?;
                codec::parse_write_data_answer(did, &answer)
            }

            /// RoutineControl (0x31); returns the routineStatusRecord.
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn routine_control(
                &mut self,
                control: RoutineControlType,
                routine: u16,
                options: &[u8],
            ) -> Result<Vec<u8>> {
                let request = codec::routine_control(control, routine, options);
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_routine_answer(control, routine, &answer).map(<[u8]>::to_vec)
            }

            /// ClearDiagnosticInformation (0x14) of `group` ([`Dtc::ALL`]: every DTC).
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn clear_diagnostic_information(&mut self, group: Dtc) -> Result<()> {
                let answer = self.exchange(&codec::clear_diagnostic_information(group)) $($aw)*?;
                codec::parse_clear_answer(&answer)
            }

            /// ReadDTCInformation 0x01: how many DTCs have a status bit of `mask` set.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_number_of_dtc_by_status_mask(
                &mut self,
                mask: u8,
            ) -> Result<DtcCount> {
                let request = codec::read_number_of_dtc_by_status_mask(mask);
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_dtc_count(&answer)
            }

            /// ReadDTCInformation 0x02: the DTCs with a status bit of `mask` set.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_dtc_by_status_mask(&mut self, mask: u8) -> Result<DtcList> {
                let answer = self.exchange(&codec::read_dtc_by_status_mask(mask)) $($aw)*?;
                codec::parse_dtc_list(DtcReportType::DtcByStatusMask, &answer)
            }

            /// ReadDTCInformation 0x04: `dtc`'s snapshot record `record` (0xFF: all).
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_dtc_snapshot_record(
                &mut self,
                dtc: Dtc,
                record: u8,
            ) -> Result<DtcRecords> {
                let answer = self.exchange(&codec::read_dtc_snapshot_record(dtc, record)) $($aw)*?;
                codec::parse_dtc_records(DtcReportType::DtcSnapshotRecordByDtcNumber, dtc, &answer)
            }

            /// ReadDTCInformation 0x06: `dtc`'s extended data record `record` (0xFF: all).
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_dtc_extended_data_record(
                &mut self,
                dtc: Dtc,
                record: u8,
            ) -> Result<DtcRecords> {
                let request = codec::read_dtc_extended_data_record(dtc, record);
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_dtc_records(DtcReportType::DtcExtDataRecordByDtcNumber, dtc, &answer)
            }

            /// ReadDTCInformation 0x0A: every DTC the ECU supports.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_supported_dtc(&mut self) -> Result<DtcList> {
                let answer = self.exchange(&codec::read_supported_dtc()) $($aw)*?;
                codec::parse_dtc_list(DtcReportType::SupportedDtc, &answer)
            }

            /// ControlDTCSetting (0x85): on or off.
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn control_dtc_setting(&mut self, on: bool) -> Result<()> {
                let answer = self.exchange(&codec::control_dtc_setting(on, &[], false)) $($aw)*?;
                codec::parse_control_dtc_setting_answer(on, &answer)
            }

            /// The memory format for a range: the configured one, or the smallest that holds it.
            #[must_use]
            pub fn memory_format(&self, address: u64, size: u64) -> MemoryFormat {
                self.options.memory_format.unwrap_or_else(|| MemoryFormat::for_range(address, size))
            }

            /// ReadMemoryByAddress (0x23).
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn read_memory_by_address(
                &mut self,
                address: u64,
                size: u64,
            ) -> Result<Vec<u8>> {
                let format = self.memory_format(address, size);
                let request = codec::read_memory_by_address(format, address, size)?;
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_read_memory_answer(size, &answer).map(<[u8]>::to_vec)
            }

            /// WriteMemoryByAddress (0x3D).
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn write_memory_by_address(
                &mut self,
                address: u64,
                data: &[u8],
            ) -> Result<()> {
                let size = data.len() as u64;
                let format = self.memory_format(address, size);
                let request = codec::write_memory_by_address(format, address, data)?;
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_write_memory_answer(format, address, size, &answer)
            }

            /// RequestDownload (0x34) or RequestUpload (0x35) of `size` bytes at `address`.
            ///
            /// # Errors
            /// The channel's; negative and malformed answers.
            pub $($async)* fn request_transfer(
                &mut self,
                service: ServiceId,
                address: u64,
                size: u64,
            ) -> Result<TransferParameters> {
                let format = self.memory_format(address, size);
                let data_format = self.options.data_format;
                let request = codec::request_transfer(service, data_format, format, address, size)?;
                let answer = self.exchange(&request) $($aw)*?;
                codec::parse_transfer_answer(service, &answer)
            }

            /// TransferData (0x36) of one block; returns the answer's data (an upload's block).
            ///
            /// # Errors
            /// The channel's; negative answers (0x73 wrong counter, 0x71, 0x72 …).
            pub $($async)* fn transfer_data(
                &mut self,
                counter: u8,
                data: &[u8],
            ) -> Result<Vec<u8>> {
                let answer = self.exchange(&codec::transfer_data(counter, data)) $($aw)*?;
                codec::parse_transfer_data_answer(counter, &answer).map(<[u8]>::to_vec)
            }

            /// RequestTransferExit (0x37); returns the answer's parameter record.
            ///
            /// # Errors
            /// The channel's; negative answers.
            pub $($async)* fn request_transfer_exit(
                &mut self,
                parameters: &[u8],
            ) -> Result<Vec<u8>> {
                let answer = self.exchange(&codec::request_transfer_exit(parameters)) $($aw)*?;
                codec::parse_transfer_exit_answer(&answer).map(<[u8]>::to_vec)
            }

            /// Downloads `data` to `address`: RequestDownload, TransferData blocks of the size the
            /// ECU granted (counter from 0x01, wrapping 0xFF → 0x00), RequestTransferExit.
            /// `progress` gets the bytes sent so far after each block. Nothing is sent twice: the
            /// first failure stops it, as [`Error::Step`] naming the step and block.
            ///
            /// # Errors
            /// [`Error::Step`] around the channel's or the ECU's error.
            pub $($async)* fn download(
                &mut self,
                address: u64,
                data: &[u8],
                progress: &mut $progress,
            ) -> Result<TransferSummary> {
                let size = data.len() as u64;
                let parameters = self
                    .request_transfer(ServiceId::RequestDownload, address, size) $($aw)*
                    .map_err(|e| step("RequestDownload", None, e))?;
                let mut counter = 0u8;
                let mut blocks = 0u64;
                let mut sent = 0u64;
                for chunk in data.chunks(parameters.data_per_block().max(1)) {
                    counter = codec::next_block_counter(counter);
                    blocks += 1;
                    self.transfer_data(counter, chunk) $($aw)*
                        .map_err(|e| step("TransferData", Some(blocks), e))?;
                    sent += chunk.len() as u64;
                    progress(sent);
                }
                let exit_record =
                    self.request_transfer_exit(&[]) $($aw)*
                        .map_err(|e| step("RequestTransferExit", None, e))?;
                Ok(TransferSummary { bytes: sent, blocks, parameters, exit_record })
            }

            /// Uploads `size` bytes from `address`: RequestUpload, TransferData until `size` bytes
            /// came, RequestTransferExit.
            ///
            /// # Errors
            /// [`Error::Step`] around the channel's or the ECU's error; [`Error::Malformed`] inside
            /// it when the ECU sends more than asked, or an empty block.
            pub $($async)* fn upload(&mut self, address: u64, size: u64) -> Result<Vec<u8>> {
                let parameters = self
                    .request_transfer(ServiceId::RequestUpload, address, size) $($aw)*
                    .map_err(|e| step("RequestUpload", None, e))?;
                // Never trust the announced size for an allocation: grow as blocks arrive.
                let mut data = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
                let mut counter = 0u8;
                let mut blocks = 0u64;
                while (data.len() as u64) < size {
                    counter = codec::next_block_counter(counter);
                    blocks += 1;
                    let block = self
                        .transfer_data(counter, &[]) $($aw)*
                        .map_err(|e| step("TransferData", Some(blocks), e))?;
                    let malformed = |what| {
                        step(
                            "TransferData",
                            Some(blocks),
                            Error::Malformed { service: ServiceId::TransferData, what },
                        )
                    };
                    if block.is_empty() {
                        return Err(malformed("an upload block without data"));
                    }
                    if block.len() > parameters.data_per_block() {
                        return Err(malformed("a block longer than maxNumberOfBlockLength"));
                    }
                    if data.len() as u64 + block.len() as u64 > size {
                        return Err(malformed("more data than the upload asked for"));
                    }
                    data.extend_from_slice(&block);
                }
                self.request_transfer_exit(&[]) $($aw)*
                    .map_err(|e| step("RequestTransferExit", None, e))?;
                Ok(data)
            }
        }
    };
}

uds_client! {
    /// A UDS client over any [`Channel`].
    ///
    /// ```no_run
    /// use doip_client::{Client, LogicalAddress}; use doip_uds::{SessionType, UdsClient};
    ///
    /// let client = Client::connect("192.0.2.10".parse().unwrap(), LogicalAddress(0x4011))?;
    /// let mut uds = UdsClient::new(client);
    /// uds.session_control(SessionType::Extended)?;
    /// let vin = uds.read_data_by_identifier(0xF190)?;
    /// println!("VIN {}", String::from_utf8_lossy(&vin));
    /// # Ok::<(), doip_uds::Error>(())
    /// ```
    UdsClient: Channel,
    async: [],
    await: [],
    key: dyn KeyAlgorithm,
    progress: dyn FnMut(u64),
}

uds_client! {
    /// A UDS client over any [`AsyncChannel`]: [`UdsClient`]'s services as futures (the same
    /// names, arguments and errors). With feature `tokio`, `doip_client::tokio::Client` and
    /// `doip_uds::tokio::EcuChannel` are channels; the futures are `Send`.
    ///
    /// Dropping a service's future (a timeout, a `select!`) cancels its request: a late answer
    /// becomes an unsolicited frame. The client's bookkeeping (session, timing, keeper) changes
    /// only when a service finishes, so after dropping a `session_control` that may have
    /// reached the ECU, run it again before relying on [`Self::session`].
    AsyncUdsClient: AsyncChannel,
    async: [async],
    await: [.await],
    key: dyn KeyAlgorithm + Send,
    progress: dyn FnMut(u64) + Send,
}

/// `e` as the failure of `name` (at `block`).
pub(crate) fn step(name: &'static str, block: Option<u64>, e: Error) -> Error {
    match e {
        already @ Error::Step { .. } => already,
        e => Error::Step { step: name, segment: None, block, source: Box::new(e) },
    }
}
