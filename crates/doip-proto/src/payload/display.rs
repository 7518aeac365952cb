//! One-line, spec-worded descriptions of messages, for logs and command-line output.

use core::fmt;

use super::{DiagnosticAcknowledgement, Message};
use crate::types::write_hex;

/// Hex bytes separated by spaces.
struct Hex<'b>(&'b [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, self.0, " ")
    }
}

/// E.g. `diagnostic message 0x0E80 -> 0x4010: 22 f1 90`.
impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.payload_type().description();
        match self {
            Self::GenericNack(m) => write!(f, "{name}: {}", m.code),
            Self::VehicleIdentificationRequest(_)
            | Self::AliveCheckRequest(_)
            | Self::EntityStatusRequest(_)
            | Self::DiagnosticPowerModeRequest(_) => f.write_str(name),
            Self::VehicleIdentificationRequestWithEid(m) => write!(f, "{name}: EID {}", m.eid),
            Self::VehicleIdentificationRequestWithVin(m) => write!(f, "{name}: VIN {}", m.vin),
            Self::VehicleAnnouncement(m) => {
                write!(
                    f,
                    "{name}: VIN {}, address {}, EID {}, GID {}, further action {}",
                    m.vin, m.logical_address, m.eid, m.gid, m.further_action
                )?;
                match m.sync_status {
                    Some(s) => write!(f, ", {s}"),
                    None => Ok(()),
                }
            }
            Self::RoutingActivationRequest(m) => {
                write!(f, "{name}: source {}, activation type ", m.source_address)?;
                if m.activation_type_high == 0 {
                    write!(f, "{}", m.activation_type)?;
                } else {
                    // A 2-byte type of version 0x01 beyond the 1-byte table.
                    write!(f, "{:#06x}", m.activation_type_v1())?;
                }
                match &m.oem_specific {
                    Some(oem) => write!(f, ", OEM {}", Hex(oem)),
                    None => Ok(()),
                }
            }
            Self::RoutingActivationResponse(m) => write!(
                f,
                "{name}: tester {}, entity {}, {}",
                m.tester_address, m.entity_address, m.response_code
            ),
            Self::AliveCheckResponse(m) => write!(f, "{name}: source {}", m.source_address),
            Self::EntityStatusResponse(m) => {
                write!(
                    f,
                    "{name}: {}, {} of {} sockets open",
                    m.node_type, m.currently_open_sockets, m.max_open_sockets
                )?;
                match m.max_data_size {
                    Some(size) => write!(f, ", max data size {size}"),
                    None => Ok(()),
                }
            }
            Self::DiagnosticPowerModeResponse(m) => write!(f, "{name}: {}", m.power_mode),
            Self::DiagnosticMessage(m) => write!(
                f,
                "{name} {} -> {}: {}",
                m.source_address,
                m.target_address,
                Hex(&m.user_data)
            ),
            Self::DiagnosticMessagePositiveAck(m) => acknowledgement(f, name, m),
            Self::DiagnosticMessageNegativeAck(m) => acknowledgement(f, name, m),
            Self::Unknown { payload_type, payload } => {
                write!(f, "{payload_type}: {}", Hex(payload))
            }
        }
    }
}

fn acknowledgement<C: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    m: &DiagnosticAcknowledgement<'_, C>,
) -> fmt::Result {
    write!(f, "{name} {} -> {}: {}", m.source_address, m.target_address, m.code)?;
    if m.previous_message.is_empty() {
        Ok(())
    } else {
        write!(f, ", previous message {}", Hex(&m.previous_message))
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use crate::payload::Frame;
    use crate::payload::tests::hex;

    fn shown(wire: &str) -> alloc::string::String {
        Frame::parse(&hex(wire)).unwrap().0.message.to_string()
    }

    #[test]
    fn messages_read_like_the_spec() {
        assert_eq!(
            shown("02 fd 8001 00000006 0e80 4010 10 03"),
            "diagnostic message 0x0E80 -> 0x4010: 10 03"
        );
        assert_eq!(
            shown("02 fd 8003 00000008 4010 0e80 02 22f101"),
            "diagnostic message negative acknowledgement 0x4010 -> 0x0E80: invalid source address (0x02), previous message 22 f1 01"
        );
        assert_eq!(
            shown("02 fd 0006 00000009 0e80 4010 10 00000000"),
            "routing activation response: tester 0x0E80, entity 0x4010, routing successfully activated (0x10)"
        );
        assert_eq!(
            shown(
                "02 fd 0004 00000020 4241554e4545344d5a3137303432343033 4010 001a37bfee74 001a37bfee74 00"
            ),
            "vehicle announcement/identification response: VIN BAUNEE4MZ17042403, address 0x4010, EID 00:1a:37:bf:ee:74, GID 00:1a:37:bf:ee:74, further action no further action required (0x00)"
        );
        assert_eq!(shown("02 fd f010 00000002 0102"), "manufacturer specific (0xf010): 01 02");
        assert_eq!(shown("02 fd 4001 00000000"), "DoIP entity status request");
        assert_eq!(
            shown("01 fe 0005 00000008 0e80 0001 00000000"),
            "routing activation request: source 0x0E80, activation type WWH-OBD (0x01)"
        );
        assert_eq!(
            shown("01 fe 0005 0000000c 0e80 e000 00000000 deadbeef"),
            "routing activation request: source 0x0E80, activation type 0xe000, OEM de ad be ef"
        );
    }
}
