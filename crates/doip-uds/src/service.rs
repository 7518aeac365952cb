//! Service identifiers and the sub-function tables of the services doip-uds speaks, as open
//! enums (unknown values kept).

doip_proto::open_enum! {
    /// A UDS request service identifier (the first byte of a request).
    pub enum ServiceId: u8 {
        /// 0x10.
        DiagnosticSessionControl = 0x10 => "DiagnosticSessionControl",
        /// 0x11.
        EcuReset = 0x11 => "ECUReset",
        /// 0x14.
        ClearDiagnosticInformation = 0x14 => "ClearDiagnosticInformation",
        /// 0x19.
        ReadDtcInformation = 0x19 => "ReadDTCInformation",
        /// 0x22.
        ReadDataByIdentifier = 0x22 => "ReadDataByIdentifier",
        /// 0x23.
        ReadMemoryByAddress = 0x23 => "ReadMemoryByAddress",
        /// 0x24.
        ReadScalingDataByIdentifier = 0x24 => "ReadScalingDataByIdentifier",
        /// 0x27.
        SecurityAccess = 0x27 => "SecurityAccess",
        /// 0x28.
        CommunicationControl = 0x28 => "CommunicationControl",
        /// 0x29.
        Authentication = 0x29 => "Authentication",
        /// 0x2A.
        ReadDataByPeriodicIdentifier = 0x2A => "ReadDataByPeriodicIdentifier",
        /// 0x2C.
        DynamicallyDefineDataIdentifier = 0x2C => "DynamicallyDefineDataIdentifier",
        /// 0x2E.
        WriteDataByIdentifier = 0x2E => "WriteDataByIdentifier",
        /// 0x2F.
        InputOutputControlByIdentifier = 0x2F => "InputOutputControlByIdentifier",
        /// 0x31.
        RoutineControl = 0x31 => "RoutineControl",
        /// 0x34.
        RequestDownload = 0x34 => "RequestDownload",
        /// 0x35.
        RequestUpload = 0x35 => "RequestUpload",
        /// 0x36.
        TransferData = 0x36 => "TransferData",
        /// 0x37.
        RequestTransferExit = 0x37 => "RequestTransferExit",
        /// 0x38.
        RequestFileTransfer = 0x38 => "RequestFileTransfer",
        /// 0x3D.
        WriteMemoryByAddress = 0x3D => "WriteMemoryByAddress",
        /// 0x3E.
        TesterPresent = 0x3E => "TesterPresent",
        /// 0x83.
        AccessTimingParameter = 0x83 => "AccessTimingParameter",
        /// 0x84.
        SecuredDataTransmission = 0x84 => "SecuredDataTransmission",
        /// 0x85.
        ControlDtcSetting = 0x85 => "ControlDTCSetting",
        /// 0x86.
        ResponseOnEvent = 0x86 => "ResponseOnEvent",
        /// 0x87.
        LinkControl = 0x87 => "LinkControl",
    } else {
        /// Any other value.
        Other(_) => "unknown service",
    }
}

impl ServiceId {
    /// The first byte of its positive answer (SID + 0x40).
    #[must_use]
    pub const fn positive_answer(self) -> u8 {
        self.value().wrapping_add(0x40)
    }

    /// The request service whose positive answer starts with `byte` (`None` for bytes that
    /// cannot be one: below 0x50, and `7F`).
    #[must_use]
    pub const fn of_positive_answer(byte: u8) -> Option<Self> {
        if byte >= 0x50 && byte != 0x7F { Some(Self::from_value(byte - 0x40)) } else { None }
    }

    /// Whether its second byte is a sub-function (whose bit 7 suppresses the positive answer).
    #[must_use]
    pub const fn has_sub_function(self) -> bool {
        matches!(
            self.value(),
            0x10 | 0x11 | 0x19 | 0x27 | 0x28 | 0x29 | 0x31 | 0x3E | 0x83 | 0x85 | 0x86 | 0x87
        )
    }
}

doip_proto::open_enum! {
    /// DiagnosticSessionControl session type.
    pub enum SessionType: u8 {
        /// 0x01: the session an ECU starts in and falls back to after S3.
        Default = 0x01 => "defaultSession",
        /// 0x02: flashing.
        Programming = 0x02 => "programmingSession",
        /// 0x03.
        Extended = 0x03 => "extendedDiagnosticSession",
        /// 0x04.
        SafetySystem = 0x04 => "safetySystemDiagnosticSession",
    } else {
        /// 0x40–0x5F.
        VehicleManufacturerSpecific(0x40..=0x5F) => "vehicle manufacturer specific",
        /// 0x60–0x7E.
        SystemSupplierSpecific(0x60..=0x7E) => "system supplier specific",
        /// Any other value.
        Reserved(_) => "ISO SAE reserved",
    }
}

doip_proto::open_enum! {
    /// ECUReset reset type.
    pub enum ResetType: u8 {
        /// 0x01.
        Hard = 0x01 => "hardReset",
        /// 0x02.
        KeyOffOn = 0x02 => "keyOffOnReset",
        /// 0x03.
        Soft = 0x03 => "softReset",
        /// 0x04.
        EnableRapidPowerShutDown = 0x04 => "enableRapidPowerShutDown",
        /// 0x05.
        DisableRapidPowerShutDown = 0x05 => "disableRapidPowerShutDown",
    } else {
        /// 0x40–0x5F.
        VehicleManufacturerSpecific(0x40..=0x5F) => "vehicle manufacturer specific",
        /// 0x60–0x7E.
        SystemSupplierSpecific(0x60..=0x7E) => "system supplier specific",
        /// Any other value.
        Reserved(_) => "ISO SAE reserved",
    }
}

doip_proto::open_enum! {
    /// CommunicationControl control type.
    pub enum CommunicationControlType: u8 {
        /// 0x00.
        EnableRxAndTx = 0x00 => "enableRxAndTx",
        /// 0x01.
        EnableRxAndDisableTx = 0x01 => "enableRxAndDisableTx",
        /// 0x02.
        DisableRxAndEnableTx = 0x02 => "disableRxAndEnableTx",
        /// 0x03.
        DisableRxAndTx = 0x03 => "disableRxAndTx",
        /// 0x04.
        EnableRxAndDisableTxWithEnhancedAddressInformation = 0x04 => "enableRxAndDisableTxWithEnhancedAddressInformation",
        /// 0x05.
        EnableRxAndTxWithEnhancedAddressInformation = 0x05 => "enableRxAndTxWithEnhancedAddressInformation",
    } else {
        /// 0x40–0x5F.
        VehicleManufacturerSpecific(0x40..=0x5F) => "vehicle manufacturer specific",
        /// 0x60–0x7E.
        SystemSupplierSpecific(0x60..=0x7E) => "system supplier specific",
        /// Any other value.
        Reserved(_) => "ISO SAE reserved",
    }
}

doip_proto::open_enum! {
    /// RoutineControl type.
    pub enum RoutineControlType: u8 {
        /// 0x01.
        Start = 0x01 => "startRoutine",
        /// 0x02.
        Stop = 0x02 => "stopRoutine",
        /// 0x03.
        RequestResults = 0x03 => "requestRoutineResults",
    } else {
        /// Any other value.
        Reserved(_) => "ISO SAE reserved",
    }
}

doip_proto::open_enum! {
    /// ReadDTCInformation report type (the sub-functions doip-uds decodes are named).
    pub enum DtcReportType: u8 {
        /// 0x01.
        NumberOfDtcByStatusMask = 0x01 => "reportNumberOfDTCByStatusMask",
        /// 0x02.
        DtcByStatusMask = 0x02 => "reportDTCByStatusMask",
        /// 0x03.
        DtcSnapshotIdentification = 0x03 => "reportDTCSnapshotIdentification",
        /// 0x04.
        DtcSnapshotRecordByDtcNumber = 0x04 => "reportDTCSnapshotRecordByDTCNumber",
        /// 0x05.
        DtcStoredDataByRecordNumber = 0x05 => "reportDTCStoredDataByRecordNumber",
        /// 0x06.
        DtcExtDataRecordByDtcNumber = 0x06 => "reportDTCExtDataRecordByDTCNumber",
        /// 0x0A.
        SupportedDtc = 0x0A => "reportSupportedDTC",
    } else {
        /// Any other value.
        Other(_) => "other report type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_back_to_their_service() {
        assert_eq!(ServiceId::ReadDataByIdentifier.positive_answer(), 0x62);
        assert_eq!(ServiceId::of_positive_answer(0x62), Some(ServiceId::ReadDataByIdentifier));
        assert_eq!(ServiceId::of_positive_answer(0x7F), None);
        assert_eq!(ServiceId::of_positive_answer(0x22), None);
        assert_eq!(ServiceId::ControlDtcSetting.positive_answer(), 0xC5);
        assert_eq!(
            SessionType::from_value(0x42).to_string(),
            "vehicle manufacturer specific (0x42)"
        );
    }
}
