//! Session and ECU control: DiagnosticSessionControl (0x10), ECUReset (0x11),
//! SecurityAccess (0x27), CommunicationControl (0x28), TesterPresent (0x3E),
//! ControlDTCSetting (0x85).

use std::time::Duration;

use doip_client::UdsTiming;

use super::{positive_echo, sub_function};
use crate::error::{Error, Result};
use crate::service::{CommunicationControlType, ResetType, ServiceId, SessionType};

/// `10 type`.
#[must_use]
pub const fn session_control(session: SessionType, suppress: bool) -> [u8; 2] {
    [0x10, sub_function(session.value(), suppress)]
}

/// A DiagnosticSessionControl answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionAnswer {
    /// The session entered.
    pub session: SessionType,
    /// P2server_max and P2*server_max, when the answer carries them (it should).
    pub timing: Option<UdsTiming>,
}

/// Decodes `50 type P2(2, ms) P2*(2, 10 ms)` (UDS.md §3: P2* is bytes 4–5, in 10 ms units).
///
/// # Errors
/// As [`super::positive_echo`].
pub fn parse_session_answer(session: SessionType, answer: &[u8]) -> Result<SessionAnswer> {
    let rest = positive_echo(ServiceId::DiagnosticSessionControl, session.value(), answer)?;
    let timing = match *rest {
        [p2_hi, p2_lo, star_hi, star_lo, ..] => Some(UdsTiming {
            p2: Duration::from_millis(u64::from(u16::from_be_bytes([p2_hi, p2_lo]))),
            p2_star: Duration::from_millis(10 * u64::from(u16::from_be_bytes([star_hi, star_lo]))),
        }),
        _ => None,
    };
    Ok(SessionAnswer { session, timing })
}

/// `11 type`.
#[must_use]
pub const fn ecu_reset(reset: ResetType, suppress: bool) -> [u8; 2] {
    [0x11, sub_function(reset.value(), suppress)]
}

/// Decodes `51 type [powerDownTime]`; returns the power-down time in seconds, if given
/// (enableRapidPowerShutDown).
///
/// # Errors
/// As [`super::positive_echo`].
pub fn parse_reset_answer(reset: ResetType, answer: &[u8]) -> Result<Option<u8>> {
    Ok(positive_echo(ServiceId::EcuReset, reset.value(), answer)?.first().copied())
}

/// The requestSeed sub-function for a security level given either way round: the odd
/// requestSeed value itself (0x01, 0x03, …) or the even sendKey value after it.
#[must_use]
pub const fn seed_sub_function(level: u8) -> u8 {
    let level = level & 0x7F;
    if level % 2 == 1 { level } else { level.saturating_sub(1) }
}

/// `27 level [securityAccessDataRecord]` (requestSeed).
///
/// # Errors
/// [`Error::InvalidRequest`] for a level outside 0x01–0x7E.
pub fn request_seed(level: u8, data: &[u8]) -> Result<Vec<u8>> {
    let sub = seed_sub_function(level);
    if sub == 0 || sub == 0x7F {
        return Err(Error::InvalidRequest(format!("security level {level:#04x}")));
    }
    let mut request = vec![0x27, sub];
    request.extend_from_slice(data);
    Ok(request)
}

/// Decodes `67 level seed…`; an all-zero seed means the level is unlocked already.
///
/// # Errors
/// As [`super::positive_echo`]; [`Error::Malformed`] when there is no seed.
pub fn parse_seed_answer(level: u8, answer: &[u8]) -> Result<Vec<u8>> {
    let seed = positive_echo(ServiceId::SecurityAccess, seed_sub_function(level), answer)?.to_vec();
    if seed.is_empty() {
        return Err(Error::Malformed { service: ServiceId::SecurityAccess, what: "no seed" });
    }
    Ok(seed)
}

/// `27 level+1 key` (sendKey).
///
/// # Errors
/// As [`request_seed`].
pub fn send_key(level: u8, key: &[u8]) -> Result<Vec<u8>> {
    let mut request = request_seed(level, &[])?;
    request[1] += 1;
    request.extend_from_slice(key);
    Ok(request)
}

/// Decodes `67 level+1`.
///
/// # Errors
/// As [`super::positive_echo`] (wrong key: [`Error::Negative`] with NRC 0x35).
pub fn parse_key_answer(level: u8, answer: &[u8]) -> Result<()> {
    positive_echo(ServiceId::SecurityAccess, seed_sub_function(level) + 1, answer).map(drop)
}

/// `28 control communicationType`.
#[must_use]
pub const fn communication_control(
    control: CommunicationControlType,
    communication_type: u8,
    suppress: bool,
) -> [u8; 3] {
    [0x28, sub_function(control.value(), suppress), communication_type]
}

/// Decodes `68 control`.
///
/// # Errors
/// As [`super::positive_echo`].
pub fn parse_communication_control_answer(
    control: CommunicationControlType,
    answer: &[u8],
) -> Result<()> {
    positive_echo(ServiceId::CommunicationControl, control.value(), answer).map(drop)
}

/// `3E 00`, or `3E 80` (no positive answer).
#[must_use]
pub const fn tester_present(suppress: bool) -> [u8; 2] {
    [0x3E, sub_function(0, suppress)]
}

/// Decodes `7E 00`.
///
/// # Errors
/// As [`super::positive_echo`].
pub fn parse_tester_present_answer(answer: &[u8]) -> Result<()> {
    positive_echo(ServiceId::TesterPresent, 0, answer).map(drop)
}

/// `85 01|02 [DTCSettingControlOptionRecord]`: DTC setting on (`true`) or off.
#[must_use]
pub fn control_dtc_setting(on: bool, record: &[u8], suppress: bool) -> Vec<u8> {
    let mut request = vec![0x85, sub_function(if on { 0x01 } else { 0x02 }, suppress)];
    request.extend_from_slice(record);
    request
}

/// Decodes `C5 01|02`.
///
/// # Errors
/// As [`super::positive_echo`].
pub fn parse_control_dtc_setting_answer(on: bool, answer: &[u8]) -> Result<()> {
    positive_echo(ServiceId::ControlDtcSetting, if on { 0x01 } else { 0x02 }, answer).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nrc::Nrc;

    #[test]
    fn session_timing_is_p2_in_ms_and_p2_star_in_10_ms() {
        assert_eq!(session_control(SessionType::Programming, false), [0x10, 0x02]);
        assert_eq!(session_control(SessionType::Extended, true), [0x10, 0x83]);
        let a = parse_session_answer(SessionType::Extended, &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])
            .unwrap();
        let t = a.timing.unwrap();
        assert_eq!((t.p2, t.p2_star), (Duration::from_millis(50), Duration::from_secs(5)));
        let bare = parse_session_answer(SessionType::Extended, &[0x50, 0x03]).unwrap();
        assert_eq!(bare.timing, None);
        assert!(parse_session_answer(SessionType::Programming, &[0x50, 0x03]).is_err());
    }

    #[test]
    fn security_levels_either_way_round() {
        assert_eq!(request_seed(1, &[]).unwrap(), [0x27, 0x01]);
        assert_eq!(request_seed(2, &[]).unwrap(), [0x27, 0x01]);
        assert_eq!(send_key(0x11, &[0xAB]).unwrap(), [0x27, 0x12, 0xAB]);
        assert!(request_seed(0, &[]).is_err());
        assert!(request_seed(0x7F, &[]).is_err());
        assert_eq!(parse_seed_answer(1, &[0x67, 0x01, 1, 2, 3, 4]).unwrap(), [1, 2, 3, 4]);
        assert!(parse_seed_answer(1, &[0x67, 0x01]).is_err());
        let e = parse_key_answer(1, &[0x7F, 0x27, 0x35]).unwrap_err();
        assert_eq!(e.nrc(), Some(Nrc::InvalidKey));
        parse_key_answer(1, &[0x67, 0x02]).unwrap();
    }

    #[test]
    fn control_services() {
        assert_eq!(ecu_reset(ResetType::Hard, false), [0x11, 0x01]);
        assert_eq!(
            parse_reset_answer(ResetType::EnableRapidPowerShutDown, &[0x51, 4, 10]).unwrap(),
            Some(10)
        );
        assert_eq!(
            communication_control(CommunicationControlType::DisableRxAndTx, 0x01, false),
            [0x28, 0x03, 0x01]
        );
        parse_communication_control_answer(CommunicationControlType::DisableRxAndTx, &[0x68, 0x03])
            .unwrap();
        assert_eq!(tester_present(true), [0x3E, 0x80]);
        parse_tester_present_answer(&[0x7E, 0x00]).unwrap();
        assert_eq!(control_dtc_setting(false, &[], false), [0x85, 0x02]);
        parse_control_dtc_setting_answer(false, &[0xC5, 0x02]).unwrap();
    }
}
