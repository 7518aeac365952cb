//! Open enums for every DoIP code table (PROTOCOL.md §1–§3).
//!
//! Each table is an enum whose named variants are the values the spec defines and whose
//! catch-all variants (`Reserved`, `VmSpecific`, …) keep any other value, so an unknown byte
//! parses, prints and re-encodes unchanged. Equality, ordering and hashing compare wire values,
//! so `Reserved(0x10)` built by hand equals the canonical variant for `0x10`.

/// Defines an open code enum over an integer wire type.
///
/// Named variants map one value each; the catch-all variants after `else` keep the raw value
/// and are tried in order, the last one with the pattern `_`. Exported (hidden) for the code
/// tables of the layers above (doip-uds's NRCs), which then need the same `arbitrary` feature.
#[macro_export]
#[doc(hidden)]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $desc:literal, )*
        } else {
            $( $(#[$cmeta:meta])* $catch:ident ( $($range:pat_param)|+ ) => $cdesc:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            $( $(#[$cmeta])* $catch($repr), )+
        }

        impl $name {
            /// The variant for a wire value; never fails.
            #[must_use]
            #[allow(unreachable_patterns)]
            #[inline]
            pub const fn from_value(value: $repr) -> Self {
                match value {
                    $( $value => Self::$variant, )*
                    $( $($range)|+ => Self::$catch(value), )+
                }
            }

            /// The wire value.
            #[must_use]
            #[inline]
            pub const fn value(self) -> $repr {
                match self {
                    $( Self::$variant => $value, )*
                    $( Self::$catch(value) )|+ => value,
                }
            }

            /// What the spec says this value means.
            #[must_use]
            pub const fn description(self) -> &'static str {
                match Self::from_value(self.value()) {
                    $( Self::$variant => $desc, )*
                    $( Self::$catch(_) => $cdesc, )+
                }
            }

            /// Whether the value is one the spec names (not a reserved or vendor catch-all).
            #[must_use]
            #[inline]
            pub const fn is_named(self) -> bool {
                !matches!(Self::from_value(self.value()), $( Self::$catch(_) )|+)
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                Self::from_value(value)
            }
        }

        impl From<$name> for $repr {
            fn from(code: $name) -> Self {
                code.value()
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.value() == other.value()
            }
        }

        impl Eq for $name {}

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> core::cmp::Ordering {
                self.value().cmp(&other.value())
            }
        }

        impl core::hash::Hash for $name {
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                self.value().hash(state);
            }
        }

        /// Prints the spec meaning and the value, e.g. `routing successfully activated (0x10)`.
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                const WIDTH: usize = 2 + 2 * core::mem::size_of::<$repr>();
                write!(f, "{} ({:#0width$x})", self.description(), self.value(), width = WIDTH)
            }
        }

        #[cfg(any(test, feature = "arbitrary"))]
        impl<'a> arbitrary::Arbitrary<'a> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
                <$repr as arbitrary::Arbitrary<'a>>::arbitrary(u).map(Self::from_value)
            }

            fn size_hint(depth: usize) -> (usize, Option<usize>) {
                <$repr as arbitrary::Arbitrary<'a>>::size_hint(depth)
            }
        }
    };
}

pub(crate) use crate::open_enum;

open_enum! {
    /// Generic DoIP header negative acknowledge code (payload type 0x0000).
    pub enum GenericNackCode: u8 {
        /// 0x00: wrong inverse version byte or unsupported protocol version; the socket closes.
        IncorrectPatternFormat = 0x00 => "incorrect pattern format",
        /// 0x01: payload type unknown or not allowed on this transport; message discarded.
        UnknownPayloadType = 0x01 => "unknown payload type",
        /// 0x02: payload longer than the receiver can ever process; message discarded.
        MessageTooLarge = 0x02 => "message too large",
        /// 0x03: payload longer than the receiver's currently free memory; message discarded.
        OutOfMemory = 0x03 => "out of memory",
        /// 0x04: payload length wrong for the payload type; the socket closes.
        InvalidPayloadLength = 0x04 => "invalid payload length",
    } else {
        /// Reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

impl GenericNackCode {
    /// Whether the receiver closes the TCP socket after sending this NACK (PROTOCOL.md §1).
    #[must_use]
    pub const fn closes_socket(self) -> bool {
        matches!(self, Self::IncorrectPatternFormat | Self::InvalidPayloadLength)
    }
}

open_enum! {
    /// Routing activation type (routing activation request byte 2).
    pub enum ActivationType: u8 {
        /// 0x00: default activation.
        Default = 0x00 => "default",
        /// 0x01: WWH-OBD (ISO 27145).
        WwhObd = 0x01 => "WWH-OBD",
        /// 0xE0: central security (OEM). Some peers wrongly use 0xE1 or 0x02 for this.
        CentralSecurity = 0xE0 => "central security",
    } else {
        /// 0xE1–0xFF: OEM specific.
        OemSpecific(0xE1..=0xFF) => "OEM specific",
        /// 0x02–0xDF: reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

impl Default for ActivationType {
    /// [`ActivationType::Default`] (0x00), what a tester sends unless told otherwise.
    fn default() -> Self {
        Self::Default
    }
}

open_enum! {
    /// Routing activation response code (routing activation response byte 4).
    pub enum RoutingActivationResponseCode: u8 {
        /// 0x00: denied, the tester's source address is unknown.
        UnknownSourceAddress = 0x00 => "denied: unknown source address",
        /// 0x01: denied, every concurrently supported TCP_DATA socket is registered and active.
        AllSocketsRegistered = 0x01 =>
            "denied: all concurrently supported TCP_DATA sockets are registered and active",
        /// 0x02: denied, the source address differs from the one registered on this socket.
        SourceAddressMismatch = 0x02 =>
            "denied: source address differs from the one registered on this socket",
        /// 0x03: denied, the source address is already active on a different socket.
        SourceAddressAlreadyActive = 0x03 =>
            "denied: source address already registered and active on a different socket",
        /// 0x04: denied for now, authentication missing; the socket stays open.
        MissingAuthentication = 0x04 => "denied: missing authentication",
        /// 0x05: denied, the confirmation in the vehicle was rejected.
        RejectedConfirmation = 0x05 => "denied: rejected confirmation",
        /// 0x06: denied, the activation type is not supported.
        UnsupportedActivationType = 0x06 => "denied: unsupported activation type",
        /// 0x07: denied, the activation type requires a TLS connection (ISO 13400-2:2019).
        TlsRequired = 0x07 => "denied: activation type requires TLS",
        /// 0x10: routing successfully activated.
        Success = 0x10 => "routing successfully activated",
        /// 0x11: routing will be activated once confirmed in the vehicle.
        ConfirmationRequired = 0x11 => "routing will be activated; confirmation required",
    } else {
        /// 0xE0–0xFE: vehicle-manufacturer specific.
        VmSpecific(0xE0..=0xFE) => "manufacturer specific",
        /// 0x08–0x0F, 0x12–0xDF, 0xFF: reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

impl RoutingActivationResponseCode {
    /// Whether the entity closes the TCP socket after sending this code (PROTOCOL.md §3).
    #[must_use]
    pub const fn closes_socket(self) -> bool {
        matches!(
            self,
            Self::UnknownSourceAddress
                | Self::AllSocketsRegistered
                | Self::SourceAddressMismatch
                | Self::SourceAddressAlreadyActive
                | Self::RejectedConfirmation
                | Self::UnsupportedActivationType
                | Self::TlsRequired
        )
    }

    /// Whether routing is now active (0x10).
    #[must_use]
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Success)
    }
}

open_enum! {
    /// Diagnostic message positive acknowledge code (payload type 0x8002).
    pub enum DiagnosticAckCode: u8 {
        /// 0x00: received and put into the destination network's transmit buffer.
        Acknowledged = 0x00 => "routing confirmation acknowledged",
    } else {
        /// Reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

impl Default for DiagnosticAckCode {
    /// [`DiagnosticAckCode::Acknowledged`] (0x00), the only code the spec defines.
    fn default() -> Self {
        Self::Acknowledged
    }
}

open_enum! {
    /// Diagnostic message negative acknowledge code (payload type 0x8003).
    pub enum DiagnosticNackCode: u8 {
        /// 0x02: the source address is not the one activated on this socket; the socket closes.
        InvalidSourceAddress = 0x02 => "invalid source address",
        /// 0x03: no ECU with this target address is known.
        UnknownTargetAddress = 0x03 => "unknown target address",
        /// 0x04: the diagnostic message is too large for the target.
        DiagnosticMessageTooLarge = 0x04 => "diagnostic message too large",
        /// 0x05: the entity is out of memory.
        OutOfMemory = 0x05 => "out of memory",
        /// 0x06: the target is unreachable.
        TargetUnreachable = 0x06 => "target unreachable",
        /// 0x07: the target's network is unknown.
        UnknownNetwork = 0x07 => "unknown network",
        /// 0x08: the target network's transport protocol failed.
        TransportProtocolError = 0x08 => "transport protocol error",
    } else {
        /// 0x00, 0x01 and 0x09–0xFF: reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

impl DiagnosticNackCode {
    /// Whether the entity closes the TCP socket after sending this NACK (PROTOCOL.md §3).
    #[must_use]
    pub const fn closes_socket(self) -> bool {
        matches!(self, Self::InvalidSourceAddress)
    }
}

open_enum! {
    /// Node type in the entity status response.
    pub enum NodeType: u8 {
        /// 0x00: a DoIP gateway (ECUs behind it).
        Gateway = 0x00 => "DoIP gateway",
        /// 0x01: a DoIP node (the entity is the ECU).
        Node = 0x01 => "DoIP node",
    } else {
        /// Reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

open_enum! {
    /// Diagnostic power mode (payload type 0x4004).
    pub enum PowerMode: u8 {
        /// 0x00: not ready for diagnostics.
        NotReady = 0x00 => "not ready",
        /// 0x01: ready for diagnostics.
        Ready = 0x01 => "ready",
        /// 0x02: the entity does not report a power mode.
        NotSupported = 0x02 => "not supported",
    } else {
        /// Reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

open_enum! {
    /// Further action required, in the vehicle announcement.
    pub enum FurtherAction: u8 {
        /// 0x00: no further action required.
        NoFurtherActionRequired = 0x00 => "no further action required",
        /// 0x10: activate routing with type 0xE0 to start central security.
        RoutingActivationRequired = 0x10 =>
            "routing activation required to initiate central security",
    } else {
        /// 0x11–0xFF: OEM specific.
        OemSpecific(0x11..=0xFF) => "OEM specific",
        /// 0x01–0x0F: reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

open_enum! {
    /// VIN/GID synchronisation status, the optional last byte of the vehicle announcement.
    pub enum SyncStatus: u8 {
        /// 0x00: VIN and GID are synchronised among all entities.
        Synchronized = 0x00 => "VIN/GID synchronized",
        /// 0x10: VIN and GID are not yet synchronised.
        Incomplete = 0x10 => "VIN/GID not synchronized",
    } else {
        /// Reserved by ISO 13400-2.
        Reserved(_) => "reserved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    /// Every value of every table survives value → enum → value, and named values print.
    #[test]
    fn every_value_round_trips() {
        for v in 0..=u8::MAX {
            assert_eq!(GenericNackCode::from(v).value(), v);
            assert_eq!(ActivationType::from(v).value(), v);
            assert_eq!(RoutingActivationResponseCode::from(v).value(), v);
            assert_eq!(DiagnosticAckCode::from(v).value(), v);
            assert_eq!(DiagnosticNackCode::from(v).value(), v);
            assert_eq!(NodeType::from(v).value(), v);
            assert_eq!(PowerMode::from(v).value(), v);
            assert_eq!(FurtherAction::from(v).value(), v);
            assert_eq!(SyncStatus::from(v).value(), v);
        }
    }

    #[test]
    fn catch_all_ranges_follow_the_spec() {
        assert_eq!(ActivationType::from(0xE0), ActivationType::CentralSecurity);
        assert!(matches!(ActivationType::from(0xE1), ActivationType::OemSpecific(0xE1)));
        assert!(matches!(ActivationType::from(0x02), ActivationType::Reserved(0x02)));
        assert!(matches!(
            RoutingActivationResponseCode::from(0xE0),
            RoutingActivationResponseCode::VmSpecific(0xE0)
        ));
        assert!(matches!(
            RoutingActivationResponseCode::from(0xFF),
            RoutingActivationResponseCode::Reserved(0xFF)
        ));
        assert!(matches!(FurtherAction::from(0x11), FurtherAction::OemSpecific(0x11)));
        assert!(matches!(FurtherAction::from(0x01), FurtherAction::Reserved(0x01)));
        assert!(!DiagnosticNackCode::from(0x00).is_named());
        assert!(DiagnosticNackCode::from(0x08).is_named());
    }

    #[test]
    fn hand_built_catch_all_equals_canonical_variant() {
        assert_eq!(
            RoutingActivationResponseCode::Reserved(0x10),
            RoutingActivationResponseCode::Success
        );
        assert_eq!(
            RoutingActivationResponseCode::Reserved(0x10).description(),
            "routing successfully activated"
        );
    }

    #[test]
    fn display_names_meaning_and_value() {
        assert_eq!(
            RoutingActivationResponseCode::Success.to_string(),
            "routing successfully activated (0x10)"
        );
        assert_eq!(PowerMode::from(0x7F).to_string(), "reserved (0x7f)");
    }

    #[test]
    fn socket_closing_codes_match_the_spec() {
        let closing: alloc::vec::Vec<u8> = (0..=u8::MAX)
            .filter(|&v| RoutingActivationResponseCode::from(v).closes_socket())
            .collect();
        assert_eq!(closing, [0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x07]);
        let closing: alloc::vec::Vec<u8> =
            (0..=u8::MAX).filter(|&v| GenericNackCode::from(v).closes_socket()).collect();
        assert_eq!(closing, [0x00, 0x04]);
        let closing: alloc::vec::Vec<u8> =
            (0..=u8::MAX).filter(|&v| DiagnosticNackCode::from(v).closes_socket()).collect();
        assert_eq!(closing, [0x02]);
        assert!(RoutingActivationResponseCode::Success.is_success());
        assert!(!RoutingActivationResponseCode::ConfirmationRequired.is_success());
    }
}
