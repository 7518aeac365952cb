//! Negative response codes (ISO 14229-1 Annex A.1) as an open enum: every code the standard
//! names, and the reserved and manufacturer-specific bytes kept as they are.
//!
//! `automotive_diag` was considered for this table: its NRC list lacks several of the
//! standard's codes (0x34, 0x82, 0x84, 0x87, 0x8A, 0x8B, 0x8D, 0x93, 0x94) and has no place
//! for unknown values, so the table lives here, in doip-proto's open-enum form.

doip_proto::open_enum! {
    /// A UDS negative response code (`7F SID NRC`, third byte).
    pub enum Nrc: u8 {
        /// 0x10.
        GeneralReject = 0x10 => "general reject",
        /// 0x11: the service is not supported at all.
        ServiceNotSupported = 0x11 => "service not supported",
        /// 0x12.
        SubFunctionNotSupported = 0x12 => "sub-function not supported",
        /// 0x13.
        IncorrectMessageLengthOrInvalidFormat = 0x13 => "incorrect message length or invalid format",
        /// 0x14.
        ResponseTooLong = 0x14 => "response too long",
        /// 0x21: busy; the same request may be repeated.
        BusyRepeatRequest = 0x21 => "busy, repeat request",
        /// 0x22.
        ConditionsNotCorrect = 0x22 => "conditions not correct",
        /// 0x24: e.g. a key sent without a seed, TransferData without RequestDownload.
        RequestSequenceError = 0x24 => "request sequence error",
        /// 0x25.
        NoResponseFromSubnetComponent = 0x25 => "no response from subnet component",
        /// 0x26.
        FailurePreventsExecutionOfRequestedAction = 0x26 => "failure prevents execution of requested action",
        /// 0x31.
        RequestOutOfRange = 0x31 => "request out of range",
        /// 0x33: the ECU is locked (SecurityAccess needed).
        SecurityAccessDenied = 0x33 => "security access denied",
        /// 0x34.
        AuthenticationRequired = 0x34 => "authentication required",
        /// 0x35: wrong key.
        InvalidKey = 0x35 => "invalid key",
        /// 0x36: too many wrong keys; the ECU waits its delay before the next seed.
        ExceededNumberOfAttempts = 0x36 => "exceeded number of attempts",
        /// 0x37: the security delay has not passed yet.
        RequiredTimeDelayNotExpired = 0x37 => "required time delay not expired",
        /// 0x38.
        SecureDataTransmissionRequired = 0x38 => "secure data transmission required",
        /// 0x39.
        SecureDataTransmissionNotAllowed = 0x39 => "secure data transmission not allowed",
        /// 0x3A.
        SecureDataVerificationFailed = 0x3A => "secure data verification failed",
        /// 0x50.
        CertificateVerificationFailedInvalidTimePeriod = 0x50 => "certificate verification failed: invalid time period",
        /// 0x51.
        CertificateVerificationFailedInvalidSignature = 0x51 => "certificate verification failed: invalid signature",
        /// 0x52.
        CertificateVerificationFailedInvalidChainOfTrust = 0x52 => "certificate verification failed: invalid chain of trust",
        /// 0x53.
        CertificateVerificationFailedInvalidType = 0x53 => "certificate verification failed: invalid type",
        /// 0x54.
        CertificateVerificationFailedInvalidFormat = 0x54 => "certificate verification failed: invalid format",
        /// 0x55.
        CertificateVerificationFailedInvalidContent = 0x55 => "certificate verification failed: invalid content",
        /// 0x56.
        CertificateVerificationFailedInvalidScope = 0x56 => "certificate verification failed: invalid scope",
        /// 0x57.
        CertificateVerificationFailedInvalidCertificate = 0x57 => "certificate verification failed: invalid certificate (revoked)",
        /// 0x58.
        OwnershipVerificationFailed = 0x58 => "ownership verification failed",
        /// 0x59.
        ChallengeCalculationFailed = 0x59 => "challenge calculation failed",
        /// 0x5A.
        SettingAccessRightsFailed = 0x5A => "setting access rights failed",
        /// 0x5B.
        SessionKeyCreationDerivationFailed = 0x5B => "session key creation/derivation failed",
        /// 0x5C.
        ConfigurationDataUsageFailed = 0x5C => "configuration data usage failed",
        /// 0x5D.
        DeAuthenticationFailed = 0x5D => "deauthentication failed",
        /// 0x70.
        UploadDownloadNotAccepted = 0x70 => "upload/download not accepted",
        /// 0x71.
        TransferDataSuspended = 0x71 => "transfer data suspended",
        /// 0x72.
        GeneralProgrammingFailure = 0x72 => "general programming failure",
        /// 0x73.
        WrongBlockSequenceCounter = 0x73 => "wrong block sequence counter",
        /// 0x78: not an error; the final answer follows (the DoIP session waits for it).
        RequestCorrectlyReceivedResponsePending = 0x78 => "request correctly received, response pending",
        /// 0x7E.
        SubFunctionNotSupportedInActiveSession = 0x7E => "sub-function not supported in active session",
        /// 0x7F.
        ServiceNotSupportedInActiveSession = 0x7F => "service not supported in active session",
        /// 0x81.
        RpmTooHigh = 0x81 => "rpm too high",
        /// 0x82.
        RpmTooLow = 0x82 => "rpm too low",
        /// 0x83.
        EngineIsRunning = 0x83 => "engine is running",
        /// 0x84.
        EngineIsNotRunning = 0x84 => "engine is not running",
        /// 0x85.
        EngineRunTimeTooLow = 0x85 => "engine run time too low",
        /// 0x86.
        TemperatureTooHigh = 0x86 => "temperature too high",
        /// 0x87.
        TemperatureTooLow = 0x87 => "temperature too low",
        /// 0x88.
        VehicleSpeedTooHigh = 0x88 => "vehicle speed too high",
        /// 0x89.
        VehicleSpeedTooLow = 0x89 => "vehicle speed too low",
        /// 0x8A.
        ThrottlePedalTooHigh = 0x8A => "throttle/pedal too high",
        /// 0x8B.
        ThrottlePedalTooLow = 0x8B => "throttle/pedal too low",
        /// 0x8C.
        TransmissionRangeNotInNeutral = 0x8C => "transmission range not in neutral",
        /// 0x8D.
        TransmissionRangeNotInGear = 0x8D => "transmission range not in gear",
        /// 0x8F.
        BrakeSwitchesNotClosed = 0x8F => "brake switch(es) not closed",
        /// 0x90.
        ShifterLeverNotInPark = 0x90 => "shifter lever not in park",
        /// 0x91.
        TorqueConverterClutchLocked = 0x91 => "torque converter clutch locked",
        /// 0x92.
        VoltageTooHigh = 0x92 => "voltage too high",
        /// 0x93.
        VoltageTooLow = 0x93 => "voltage too low",
        /// 0x94.
        ResourceTemporarilyNotAvailable = 0x94 => "resource temporarily not available",
    } else {
        /// 0xF0–0xFE: vehicle-manufacturer specific conditions not correct.
        VehicleManufacturerSpecific(0xF0..=0xFE) => "vehicle manufacturer specific conditions not correct",
        /// Any other value: reserved by ISO 14229-1.
        Reserved(_) => "ISO SAE reserved",
    }
}

impl Nrc {
    /// Whether an ECU stays silent instead of sending this NRC to a functionally addressed
    /// request (UDS.md §1).
    #[must_use]
    pub const fn suppressed_when_functional(self) -> bool {
        matches!(self.value(), 0x11 | 0x12 | 0x31 | 0x7E | 0x7F)
    }
}

#[cfg(test)]
mod tests {
    use super::Nrc;

    #[test]
    fn every_byte_round_trips_and_named_codes_print_their_meaning() {
        for b in 0..=u8::MAX {
            assert_eq!(Nrc::from_value(b).value(), b);
        }
        assert_eq!(Nrc::from_value(0x35), Nrc::InvalidKey);
        assert_eq!(Nrc::InvalidKey.to_string(), "invalid key (0x35)");
        assert_eq!(Nrc::from_value(0x94), Nrc::ResourceTemporarilyNotAvailable);
        assert!(!Nrc::from_value(0x8E).is_named());
        assert_eq!(
            Nrc::from_value(0xF3).to_string(),
            "vehicle manufacturer specific conditions not correct (0xf3)"
        );
        assert!(Nrc::RequestOutOfRange.suppressed_when_functional());
        assert!(!Nrc::InvalidKey.suppressed_when_functional());
    }
}
