//! The responder's knobs (`with_…`, one per configuration field) and the state tests and
//! tools may observe (session, security level, DTC statuses, memory).

use std::time::{Duration, Instant};

use super::{Dtc, Responder};

impl Responder {
    /// Adds a data identifier for ReadDataByIdentifier.
    #[must_use]
    pub fn with_did(mut self, did: u16, value: Vec<u8>) -> Self {
        self.dids.insert(did, value);
        self
    }

    /// Adds a data identifier that `WriteDataByIdentifier` may change (outside the default
    /// session); `value` is its initial value and fixes its length.
    #[must_use]
    pub fn with_writable_did(mut self, did: u16, value: Vec<u8>) -> Self {
        self.dids.insert(did, value);
        self.data.writable.insert(did);
        self
    }

    /// The most DIDs one ReadDataByIdentifier may ask for (16 by default; more: NRC 0x13).
    #[must_use]
    pub const fn with_max_dids_per_read(mut self, max: usize) -> Self {
        self.data.max_per_read = max;
        self
    }

    /// A DID's current value (as written, for writable ones).
    #[must_use]
    pub fn did(&self, did: u16) -> Option<&[u8]> {
        self.dids.get(&did).map(Vec::as_slice)
    }

    /// Adds a routine for RoutineControl with its result bytes.
    #[must_use]
    pub fn with_routine(mut self, rid: u16, result: Vec<u8>) -> Self {
        self.routines.insert(rid, result);
        self
    }

    /// Answers `service` only after `count` response-pending messages `interval` apart.
    #[must_use]
    pub fn with_pending(mut self, service: u8, count: u32, interval: Duration) -> Self {
        self.pending.insert(service, (count, interval));
        self
    }

    /// The maxNumberOfBlockLength RequestDownload reports (0x0FFF: 4093 data bytes).
    #[must_use]
    pub const fn with_max_block_length(mut self, length: u16) -> Self {
        self.max_block_length = length;
        self
    }

    /// How long an ECUReset makes the entity unavailable.
    #[must_use]
    pub const fn with_reset_time(mut self, time: Duration) -> Self {
        self.reset_time = time;
        self
    }

    /// P2 and P2* as DiagnosticSessionControl reports them (50 ms and 5000 ms by default;
    /// the answer carries P2 in ms and P2* in 10 ms units, saturating).
    #[must_use]
    pub const fn with_p2(mut self, p2: Duration, p2_star: Duration) -> Self {
        self.session.p2 = p2;
        self.session.p2_star = p2_star;
        self
    }

    /// S3: how long a non-default session lasts without requests (5000 ms by default).
    #[must_use]
    pub const fn with_s3(mut self, s3: Duration) -> Self {
        self.session.s3 = s3;
        self
    }

    /// `SecurityAccess`: the key constant (key = seed XOR `key`, `0x5A5A_A5A5` by default), how
    /// many wrong keys start the delay (3; 0: no limit), and the delay (1 s) during which
    /// seed requests get NRC 0x37.
    #[must_use]
    pub const fn with_security(mut self, key: u32, attempts: u32, delay: Duration) -> Self {
        self.security.key = key;
        self.security.max_attempts = attempts;
        self.security.delay = delay;
        self
    }

    /// The unlocked security level, if any.
    #[must_use]
    pub const fn security_level(&self) -> Option<u8> {
        self.security.unlocked
    }

    /// Adds a DTC (3-byte number) with its status byte; 19 reports it, 14 clears it.
    #[must_use]
    pub fn with_dtc(mut self, code: u32, status: u8) -> Self {
        self.dtcs.store.entry(code & 0x00FF_FFFF).or_default().status = status;
        self
    }

    /// Adds a snapshot record (19 04) to a DTC, adding the DTC (status 0) if new.
    #[must_use]
    pub fn with_dtc_snapshot(mut self, code: u32, record: u8, data: Vec<u8>) -> Self {
        self.dtc_entry(code).snapshots.insert(record, data);
        self
    }

    /// Adds an extended data record (19 06) to a DTC, adding the DTC (status 0) if new.
    #[must_use]
    pub fn with_dtc_extended(mut self, code: u32, record: u8, data: Vec<u8>) -> Self {
        self.dtc_entry(code).extended.insert(record, data);
        self
    }

    /// The `DTCStatusAvailabilityMask` (0xFF by default): reported statuses keep these bits.
    #[must_use]
    pub const fn with_dtc_availability_mask(mut self, mask: u8) -> Self {
        self.dtcs.availability = mask;
        self
    }

    fn dtc_entry(&mut self, code: u32) -> &mut Dtc {
        self.dtcs.store.entry(code & 0x00FF_FFFF).or_default()
    }

    /// A DTC's status byte, if the DTC is known.
    #[must_use]
    pub fn dtc_status(&self, code: u32) -> Option<u8> {
        self.dtcs.store.get(&code).map(|d| d.status)
    }

    /// Whether DTC setting is on (`ControlDTCSetting` 01; off after 02 until the default
    /// session).
    #[must_use]
    pub const fn dtc_setting_on(&self) -> bool {
        self.dtcs.setting_on
    }

    /// The memory: `size` bytes of address space from `base` (0 and 256 MiB by default),
    /// sparse, unwritten bytes 0xFF. Ranges outside it are refused with NRC 0x31.
    #[must_use]
    pub const fn with_memory(mut self, base: u64, size: u64) -> Self {
        self.memory.base = base;
        self.memory.size = size;
        self
    }

    /// Conditions for writing memory (RequestDownload, `WriteMemoryByAddress`, the erase
    /// routine): this session (else NRC 0x7F) and this unlocked security level (else NRC
    /// 0x33). None by default, so a plain download works in the default session.
    #[must_use]
    pub const fn with_download_requirements(
        mut self,
        session: Option<u8>,
        security: Option<u8>,
    ) -> Self {
        self.download_session = session;
        self.download_security = security;
        self
    }

    /// `len` bytes of the memory from `address` (0xFF where never written), or None outside
    /// it.
    #[must_use]
    pub fn read_memory(&self, address: u64, len: u64) -> Option<Vec<u8>> {
        self.memory.contains(address, len).then(|| self.memory.read(address, len))
    }

    /// How many 4 KiB pages of memory have been written (what the sparse memory costs).
    #[must_use]
    pub fn memory_pages(&self) -> usize {
        self.memory.pages()
    }

    /// The CRC-32 of the last completed download.
    #[must_use]
    pub const fn last_download_crc(&self) -> Option<u32> {
        self.last_crc
    }

    /// The active diagnostic session (0x01 default), S3 applied as of now.
    #[must_use]
    pub fn session(&self) -> u8 {
        self.session.at(Instant::now())
    }

    /// The `CommunicationControl` state: (controlType, communicationType); (0x00, 0x03),
    /// everything enabled, outside a non-default session.
    #[must_use]
    pub const fn communication(&self) -> (u8, u8) {
        self.session.communication
    }
}
