//! What a UDS PDU says, for decoders and traces: [`describe`] names the service, the kind
//! (request, positive answer, negative answer), the sub-function and the NRC, and lists the
//! parameters under Wireshark's UDS dissector field names (`dsc.type`, `rdbi.data_identifier`,
//! `rd.memory_address`, `td.block_sequence_counter`, `err.code`, …) so that a decoder's output
//! can be checked against `tshark`'s, field by field. Parameters Wireshark does not show get
//! plain names (`p2_ms`, `dtcs`, `memory_address`, …).
//!
//! Sans-I/O and total: any bytes give a description (a short or odd PDU says what is
//! missing); nothing is allocated beyond the input's own size.
//!
//! ```
//! use doip_uds::describe::describe;
//!
//! let d = describe(&[0x22, 0xF1, 0x90]);
//! assert_eq!(d.to_string(), "ReadDataByIdentifier request, DID 0xF190");
//! let d = describe(&[0x7F, 0x36, 0x73]);
//! assert_eq!(d.to_string(), "TransferData negative answer: wrong block sequence counter (0x73)");
//! ```

use std::fmt;

use crate::codec::{DtcStatus, be_value};
use crate::nrc::Nrc;
use crate::service::{
    CommunicationControlType, DtcReportType, ResetType, RoutineControlType, ServiceId, SessionType,
};

/// Request, positive answer or negative answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A request (the first byte is a service identifier).
    Request,
    /// A positive answer (SID + 0x40).
    Positive,
    /// `7F SID NRC`.
    Negative,
}

/// One parameter's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A number (identifiers, types, addresses, lengths, counters).
    Number(u64),
    /// Several numbers (the DIDs of one ReadDataByIdentifier request).
    Numbers(Vec<u64>),
    /// Raw bytes (records, seeds, data).
    Bytes(&'a [u8]),
    /// A name from a code table.
    Name(&'static str),
    /// DTCs with their status.
    Dtcs(Vec<(u32, DtcStatus)>),
}

/// A parameter: its name and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Wireshark's field name without `uds.` where Wireshark has one.
    pub name: &'static str,
    /// The value.
    pub value: Value<'a>,
}

/// What one UDS PDU says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description<'a> {
    /// The first byte with bit 6 cleared, as Wireshark's `uds.sid` (0x3F for `7F`).
    pub sid: u8,
    /// Bit 6 of the first byte, as Wireshark's `uds.reply`.
    pub reply: bool,
    /// The service asked for (for a negative answer, the refused one).
    pub service: ServiceId,
    /// Request or answer.
    pub kind: Kind,
    /// The sub-function (bit 7 cleared) and its name, for services that have one.
    pub sub_function: Option<(u8, &'static str)>,
    /// Bit 7 of the sub-function: no positive answer wanted.
    pub suppress_positive_response: bool,
    /// The NRC of a negative answer.
    pub nrc: Option<Nrc>,
    /// The parameters, in wire order.
    pub fields: Vec<Field<'a>>,
    /// What is wrong with the PDU, when it is too short or malformed for its service.
    pub problem: Option<&'static str>,
}

/// Describes one UDS PDU (service identifier first); never fails.
#[must_use]
pub fn describe(pdu: &[u8]) -> Description<'_> {
    let Some((&first, body)) = pdu.split_first() else {
        return Description {
            sid: 0,
            reply: false,
            service: ServiceId::from_value(0),
            kind: Kind::Request,
            sub_function: None,
            suppress_positive_response: false,
            nrc: None,
            fields: Vec::new(),
            problem: Some("empty"),
        };
    };
    let (kind, service) = match first {
        0x7F => (Kind::Negative, ServiceId::from_value(body.first().copied().unwrap_or(0))),
        b if b & 0x40 != 0 && ServiceId::of_positive_answer(b).is_some() => {
            (Kind::Positive, ServiceId::from_value(b - 0x40))
        }
        b => (Kind::Request, ServiceId::from_value(b)),
    };
    let mut d = Description {
        sid: first & !0x40,
        reply: first & 0x40 != 0,
        service,
        kind,
        sub_function: None,
        suppress_positive_response: false,
        nrc: None,
        fields: Vec::new(),
        problem: None,
    };
    if kind == Kind::Negative {
        negative(&mut d, body);
    } else {
        let answer = kind == Kind::Positive;
        parameters(&mut d, answer, body);
    }
    d
}

impl<'a> Description<'a> {
    fn put(&mut self, name: &'static str, value: Value<'a>) {
        self.fields.push(Field { name, value });
    }

    fn number(&mut self, name: &'static str, value: impl Into<u64>) {
        self.put(name, Value::Number(value.into()));
    }

    fn bytes(&mut self, name: &'static str, bytes: &'a [u8]) {
        self.put(name, Value::Bytes(bytes));
    }

    /// The sub-function byte: its value, name and suppress bit.
    fn sub(&mut self, byte: u8, name: &'static str) {
        self.sub_function = Some((byte & 0x7F, name));
        self.suppress_positive_response = byte & 0x80 != 0;
    }

    /// The value of the field `name`, if present.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&Value<'a>> {
        self.fields.iter().find(|f| f.name == name).map(|f| &f.value)
    }

    fn short(&mut self) {
        self.problem = Some("too short for its service");
    }
}

fn negative<'a>(d: &mut Description<'a>, body: &'a [u8]) {
    match *body {
        [sid, code, ..] => {
            d.number("err.sid", sid);
            d.number("err.code", code);
            d.nrc = Some(Nrc::from_value(code));
        }
        _ => d.short(),
    }
}

/// The service's parameters (`body`: what follows the first byte).
fn parameters<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    use ServiceId as S;
    match d.service {
        S::DiagnosticSessionControl => session(d, answer, body),
        S::EcuReset
        | S::SecurityAccess
        | S::CommunicationControl
        | S::TesterPresent
        | S::ControlDtcSetting => control(d, answer, body),
        S::ReadDataByIdentifier => read_data(d, answer, body),
        S::WriteDataByIdentifier => match body {
            [hi, lo, rest @ ..] => {
                d.number("wdbi.data_identifier", u16::from_be_bytes([*hi, *lo]));
                if !answer {
                    d.bytes("wdbi.data_record", rest);
                }
            }
            _ => d.short(),
        },
        S::RoutineControl => match body {
            [kind, hi, lo, rest @ ..] => {
                d.sub(*kind, RoutineControlType::from_value(*kind & 0x7F).description());
                d.number("rc.type", *kind & 0x7F);
                d.number("rc.identifier", u16::from_be_bytes([*hi, *lo]));
                match (answer, rest) {
                    (false, []) => {}
                    (false, options) => d.bytes("rc.option_record", options),
                    (true, [info, status @ ..]) => {
                        d.number("rc.info", *info);
                        if !status.is_empty() {
                            d.bytes("rc.status_record", status);
                        }
                    }
                    (true, []) => {}
                }
            }
            _ => d.short(),
        },
        S::ClearDiagnosticInformation => match *body {
            [a, b, c, ..] if !answer => d.number("group_of_dtc", u32::from_be_bytes([0, a, b, c])),
            [] if answer => {}
            _ => d.short(),
        },
        S::ReadDtcInformation => dtc(d, answer, body),
        S::RequestDownload | S::RequestUpload => transfer_request(d, answer, body),
        S::ReadMemoryByAddress | S::WriteMemoryByAddress => memory(d, answer, body),
        S::TransferData => match body {
            [counter, data @ ..] => {
                d.number("td.block_sequence_counter", *counter);
                d.number("data_length", data.len() as u64);
            }
            [] => d.short(),
        },
        S::RequestTransferExit => {
            if !body.is_empty() {
                d.bytes("transfer_parameter_record", body);
            }
        }
        _ => {
            if !body.is_empty() {
                d.bytes("data", body);
            }
        }
    }
}

/// The control services' sub-function and parameters.
fn control<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    use ServiceId as S;
    match d.service {
        S::EcuReset => match body {
            [kind, rest @ ..] => {
                d.sub(*kind, ResetType::from_value(*kind & 0x7F).description());
                d.number("er.type", *kind & 0x7F);
                if let (true, [time, ..]) = (answer, rest) {
                    d.number("power_down_time", *time);
                }
            }
            [] => d.short(),
        },
        S::SecurityAccess => match body {
            [kind, rest @ ..] => {
                let name = if kind & 1 == 1 { "requestSeed" } else { "sendKey" };
                d.sub(*kind, name);
                d.number("sa.type", *kind & 0x7F);
                match (answer, kind & 1 == 1) {
                    (true, true) => d.bytes("sa.seed", rest),
                    (false, false) => d.bytes("sa.key", rest),
                    (false, true) if !rest.is_empty() => d.bytes("security_access_data", rest),
                    _ => {}
                }
            }
            [] => d.short(),
        },
        S::CommunicationControl => match body {
            [control, rest @ ..] => {
                d.sub(
                    *control,
                    CommunicationControlType::from_value(*control & 0x7F).description(),
                );
                d.number("control_type", *control & 0x7F);
                if let (false, [kind, ..]) = (answer, rest) {
                    d.number("communication_type", *kind);
                }
            }
            [] => d.short(),
        },
        S::TesterPresent => match body {
            [sub, ..] => {
                d.sub(*sub, "zeroSubFunction");
                d.number("tp.suppress_reply", *sub & 0x7F);
                if !answer {
                    d.number("tp.suppress_reply.indification", *sub >> 7);
                }
            }
            [] => d.short(),
        },
        S::ControlDtcSetting => match body {
            [kind, rest @ ..] => {
                let name = match kind & 0x7F {
                    0x01 => "on",
                    0x02 => "off",
                    _ => "other",
                };
                d.sub(*kind, name);
                d.number("cdtcs.type", *kind & 0x7F);
                if !answer && !rest.is_empty() {
                    d.bytes("dtc_setting_control_option_record", rest);
                }
            }
            [] => d.short(),
        },
        _ => {}
    }
}

fn session<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    let [kind, rest @ ..] = body else { return d.short() };
    d.sub(*kind, SessionType::from_value(*kind & 0x7F).description());
    d.number("dsc.type", *kind & 0x7F);
    if !answer {
        return;
    }
    d.bytes("dsc.parameter_record", rest);
    if let [p2_hi, p2_lo, star_hi, star_lo, ..] = *rest {
        d.number("p2_ms", u16::from_be_bytes([p2_hi, p2_lo]));
        d.number("p2_star_ms", 10 * u64::from(u16::from_be_bytes([star_hi, star_lo])));
    }
}

fn read_data<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    if answer {
        // The answer carries no lengths: only its first DID is known for sure.
        let [hi, lo, data @ ..] = body else { return d.short() };
        d.number("rdbi.data_identifier", u16::from_be_bytes([*hi, *lo]));
        d.bytes("rdbi.data_record", data);
        return;
    }
    if body.is_empty() || !body.len().is_multiple_of(2) {
        d.problem = Some("DIDs are 2 bytes each");
    }
    let dids: Vec<u64> =
        body.chunks_exact(2).map(|p| u64::from(u16::from_be_bytes([p[0], p[1]]))).collect();
    match dids.as_slice() {
        [] => {}
        [one] => d.number("rdbi.data_identifier", *one),
        _ => d.put("rdbi.data_identifier", Value::Numbers(dids)),
    }
}

fn dtc<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    let [kind, record @ ..] = body else { return d.short() };
    let report = DtcReportType::from_value(*kind & 0x7F);
    d.sub(*kind, report.description());
    d.number("rdtci.type", *kind & 0x7F);
    d.bytes("rdtci.record", record);
    match (answer, report, record) {
        (
            false,
            DtcReportType::NumberOfDtcByStatusMask | DtcReportType::DtcByStatusMask,
            [mask, ..],
        ) => {
            d.number("status_mask", *mask);
        }
        (true, DtcReportType::NumberOfDtcByStatusMask, [avail, format, hi, lo, ..]) => {
            d.number("availability_mask", *avail);
            d.number("dtc_format", *format);
            d.number("dtc_count", u16::from_be_bytes([*hi, *lo]));
        }
        (
            true,
            DtcReportType::DtcByStatusMask | DtcReportType::SupportedDtc,
            [avail, list @ ..],
        ) => {
            d.number("availability_mask", *avail);
            if list.len() % 4 != 0 {
                d.problem = Some("DTC records are 4 bytes each");
            }
            let dtcs = list
                .chunks_exact(4)
                .map(|r| (u32::from_be_bytes([0, r[0], r[1], r[2]]), DtcStatus(r[3])))
                .collect();
            d.put("dtcs", Value::Dtcs(dtcs));
        }
        (
            _,
            DtcReportType::DtcSnapshotRecordByDtcNumber
            | DtcReportType::DtcExtDataRecordByDtcNumber,
            [a, b, c, rest @ ..],
        ) => {
            d.number("dtc", u32::from_be_bytes([0, *a, *b, *c]));
            match (answer, rest) {
                (false, [number, ..]) => d.number("record_number", *number),
                (true, [status, records @ ..]) => {
                    d.number("status", *status);
                    d.bytes("records", records);
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// `DFI ALFID address size` of RequestDownload / RequestUpload, or `LFI max` of the answer.
fn transfer_request<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    if answer {
        let [lfi, rest @ ..] = body else { return d.short() };
        let len = usize::from(lfi >> 4);
        d.number("rd.max_number_of_block_length_length", lfi >> 4);
        match rest.get(..len) {
            Some(max) if (1..=8).contains(&len) => {
                d.number("rd.max_number_of_block_length", be_value(max));
            }
            _ => d.short(),
        }
        return;
    }
    let [dfi, rest @ ..] = body else { return d.short() };
    d.number("rd.compression_method", dfi >> 4);
    d.number("rd.encrypting_method", dfi & 0x0F);
    address_and_size(d, rest, true);
}

/// `ALFID address size [data]` of ReadMemoryByAddress / WriteMemoryByAddress (and its echo).
fn memory<'a>(d: &mut Description<'a>, answer: bool, body: &'a [u8]) {
    if answer && d.service == ServiceId::ReadMemoryByAddress {
        d.bytes("data_record", body);
        return;
    }
    let rest = address_and_size(d, body, false);
    if !answer && d.service == ServiceId::WriteMemoryByAddress {
        d.bytes("data_record", rest);
    }
}

/// Reads `ALFID address size`; names them as Wireshark's RequestDownload fields when `rd`.
/// Returns what follows.
fn address_and_size<'a>(d: &mut Description<'a>, body: &'a [u8], rd: bool) -> &'a [u8] {
    let Some((&alfid, rest)) = body.split_first() else {
        d.short();
        return &[];
    };
    let (size_len, addr_len) = (usize::from(alfid >> 4), usize::from(alfid & 0x0F));
    let names = if rd {
        ["rd.memory_size_length", "rd.memory_address_length", "rd.memory_address", "rd.memory_size"]
    } else {
        ["memory_size_length", "memory_address_length", "memory_address", "memory_size"]
    };
    d.number(names[0], alfid >> 4);
    d.number(names[1], alfid & 0x0F);
    if !(1..=8).contains(&size_len)
        || !(1..=8).contains(&addr_len)
        || rest.len() < addr_len + size_len
    {
        d.problem = Some("addressAndLengthFormatIdentifier does not fit the bytes");
        return &[];
    }
    let (address, rest) = rest.split_at(addr_len);
    let (size, rest) = rest.split_at(size_len);
    d.number(names[2], be_value(address));
    d.number(names[3], be_value(size));
    rest
}

/// `ReadDataByIdentifier request, DID 0xF190`, `TransferData negative answer: …`.
impl fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Request => "request",
            Kind::Positive => "positive answer",
            Kind::Negative => "negative answer",
        };
        let service = if self.service.is_named() {
            self.service.description().to_owned()
        } else {
            format!("service {:#04x}", self.service.value())
        };
        write!(f, "{service} {kind}")?;
        if let Some(nrc) = self.nrc {
            return write!(f, ": {nrc}");
        }
        if let Some((value, name)) = self.sub_function {
            write!(f, ", {name} ({value:#04x})")?;
            if self.suppress_positive_response {
                f.write_str(", no positive answer wanted")?;
            }
        }
        for field in &self.fields {
            match (field.name, &field.value) {
                ("rdbi.data_identifier" | "wdbi.data_identifier", Value::Number(did)) => {
                    write!(f, ", DID {did:#06X}")?;
                }
                ("rdbi.data_identifier", Value::Numbers(dids)) => {
                    f.write_str(", DIDs")?;
                    for did in dids {
                        write!(f, " {did:#06X}")?;
                    }
                }
                ("rc.identifier", Value::Number(id)) => write!(f, ", routine {id:#06X}")?,
                ("p2_ms", Value::Number(ms)) => write!(f, ", P2 {ms} ms")?,
                ("p2_star_ms", Value::Number(ms)) => write!(f, ", P2* {ms} ms")?,
                ("rd.memory_address" | "memory_address", Value::Number(a)) => {
                    write!(f, ", address {a:#x}")?;
                }
                ("rd.memory_size" | "memory_size", Value::Number(s)) => write!(f, ", size {s}")?,
                ("rd.max_number_of_block_length", Value::Number(m)) => {
                    write!(f, ", maxNumberOfBlockLength {m}")?;
                }
                ("td.block_sequence_counter", Value::Number(c)) => write!(f, ", block {c}")?,
                ("data_length", Value::Number(n)) if *n > 0 => write!(f, ", {n} bytes")?,
                ("dtc_count", Value::Number(n)) => write!(f, ", {n} DTCs")?,
                ("status_mask", Value::Number(m)) => write!(f, ", mask {m:#04x}")?,
                ("dtcs", Value::Dtcs(dtcs)) => write!(f, ", {} DTCs", dtcs.len())?,
                _ => {}
            }
        }
        if let Some(problem) = self.problem {
            write!(f, " (malformed: {problem})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(d: &Description<'_>, name: &str) -> u64 {
        match d.field(name) {
            Some(Value::Number(n)) => *n,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_answers_with_wireshark_names() {
        let d = describe(&[0x10, 0x83]);
        assert_eq!((d.sid, d.reply, d.kind), (0x10, false, Kind::Request));
        assert_eq!(d.sub_function, Some((0x03, "extendedDiagnosticSession")));
        assert!(d.suppress_positive_response);
        let d = describe(&[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4]);
        assert_eq!((d.sid, d.reply), (0x10, true));
        assert_eq!((num(&d, "dsc.type"), num(&d, "p2_ms"), num(&d, "p2_star_ms")), (3, 50, 5000));
        assert_eq!(
            d.to_string(),
            "DiagnosticSessionControl positive answer, extendedDiagnosticSession (0x03), P2 50 ms, P2* 5000 ms"
        );
        let d = describe(&[0x22, 0xF1, 0x90, 0xF1, 0x87]);
        assert_eq!(d.field("rdbi.data_identifier"), Some(&Value::Numbers(vec![0xF190, 0xF187])));
        let d = describe(&[0x62, 0xF1, 0x90, b'W']);
        assert_eq!(d.field("rdbi.data_record"), Some(&Value::Bytes(b"W")));
        let d = describe(&[0x34, 0x00, 0x44, 0x08, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            (num(&d, "rd.memory_address"), num(&d, "rd.memory_size")),
            (0x0800_0000, 0x1_0000)
        );
        let d = describe(&[0x74, 0x20, 0x0F, 0xFF]);
        assert_eq!(num(&d, "rd.max_number_of_block_length"), 4095);
        let d = describe(&[0x36, 0x00, 1, 2, 3]);
        assert_eq!((num(&d, "td.block_sequence_counter"), num(&d, "data_length")), (0, 3));
        let d = describe(&[0x71, 0x01, 0xFF, 0x01, 0x00, 0xAA]);
        assert_eq!((num(&d, "rc.identifier"), num(&d, "rc.info")), (0xFF01, 0));
        assert_eq!(d.field("rc.status_record"), Some(&Value::Bytes(&[0xAA])));
        let d = describe(&[0x67, 0x01, 1, 2, 3, 4]);
        assert_eq!(d.field("sa.seed"), Some(&Value::Bytes(&[1, 2, 3, 4])));
        let d = describe(&[0x59, 0x02, 0xFF, 0x12, 0x34, 0x56, 0x2F]);
        assert_eq!(d.field("dtcs"), Some(&Value::Dtcs(vec![(0x12_3456, DtcStatus(0x2F))])));
        let d = describe(&[0x3E, 0x80]);
        assert_eq!(
            (num(&d, "tp.suppress_reply"), num(&d, "tp.suppress_reply.indification")),
            (0, 1)
        );
        let d = describe(&[0x7F, 0x31, 0x24]);
        assert_eq!(
            (d.sid, d.reply, d.kind, d.service),
            (0x3F, true, Kind::Negative, ServiceId::RoutineControl)
        );
        assert_eq!((num(&d, "err.sid"), num(&d, "err.code")), (0x31, 0x24));
        assert_eq!(d.nrc, Some(Nrc::RequestSequenceError));
    }

    #[test]
    fn short_and_odd_pdus_say_so_and_nothing_panics() {
        assert_eq!(describe(&[]).problem, Some("empty"));
        assert!(describe(&[0x34, 0x00, 0x44, 1]).problem.is_some());
        assert!(describe(&[0x22, 0xF1]).problem.is_some());
        assert!(describe(&[0x7F]).problem.is_some());
        assert!(describe(&[0x74, 0x90, 1]).problem.is_some());
        let mut rng = 0x1234_5678u32;
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            let len = (rng % 24) as usize;
            buf.clear();
            for i in 0..len {
                buf.push((rng >> (i % 24)) as u8 ^ i as u8);
            }
            let d = describe(&buf);
            let _ = d.to_string();
        }
    }
}
