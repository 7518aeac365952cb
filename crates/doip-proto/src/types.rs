//! Field newtypes: logical addresses, VIN, EID and GID (PROTOCOL.md §2–§3).

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// A 16-bit DoIP logical address (tester, ECU, entity or functional group).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct LogicalAddress(pub u16);

/// The range a logical address belongs to (PROTOCOL.md §3, logical addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressRange {
    /// 0x0001–0x0DFF and 0x1000–0x7FFF: vehicle-manufacturer specific (ECUs, entities).
    VmSpecific,
    /// 0x0E00–0x0E7F: legislated external test equipment.
    LegislatedTester,
    /// 0x0E80–0x0EFF: vehicle-manufacturer or aftermarket external test equipment.
    ExternalTester,
    /// 0x0F00–0x0F7F: on-board test equipment.
    OnBoardTester,
    /// 0x0F80–0x0FFF: loggers.
    Logger,
    /// 0xD000–0xDFFF: SAE truck and bus.
    SaeTruckAndBus,
    /// 0xE000–0xE3FF: functional addresses of use-case standards (0xE000 = WWH-OBD).
    FunctionalUseCase,
    /// 0xE400–0xEFFF: vehicle-manufacturer functional group addresses.
    FunctionalVmSpecific,
    /// 0x0000, 0x8000–0xCFFF, 0xF000–0xFFFF: reserved.
    Reserved,
}

impl LogicalAddress {
    /// 0x0E00, the tester address `doipclient` and most tools use by default.
    pub const DEFAULT_TESTER: Self = Self(0x0E00);
    /// 0xE000, the WWH-OBD functional address.
    pub const WWH_OBD_FUNCTIONAL: Self = Self(0xE000);

    /// The range this address belongs to.
    #[must_use]
    pub const fn range(self) -> AddressRange {
        match self.0 {
            0x0001..=0x0DFF | 0x1000..=0x7FFF => AddressRange::VmSpecific,
            0x0E00..=0x0E7F => AddressRange::LegislatedTester,
            0x0E80..=0x0EFF => AddressRange::ExternalTester,
            0x0F00..=0x0F7F => AddressRange::OnBoardTester,
            0x0F80..=0x0FFF => AddressRange::Logger,
            0xD000..=0xDFFF => AddressRange::SaeTruckAndBus,
            0xE000..=0xE3FF => AddressRange::FunctionalUseCase,
            0xE400..=0xEFFF => AddressRange::FunctionalVmSpecific,
            _ => AddressRange::Reserved,
        }
    }

    /// Whether this is a tester (external or on-board test equipment, or logger) address.
    #[must_use]
    pub const fn is_tester(self) -> bool {
        matches!(self.0, 0x0E00..=0x0FFF)
    }

    /// Whether this is an ECU or entity address (the vehicle-manufacturer ranges).
    #[must_use]
    pub const fn is_ecu(self) -> bool {
        matches!(self.range(), AddressRange::VmSpecific)
    }

    /// Whether this is a functional (group) address.
    #[must_use]
    pub const fn is_functional(self) -> bool {
        matches!(self.0, 0xE000..=0xEFFF)
    }
}

impl From<u16> for LogicalAddress {
    fn from(v: u16) -> Self {
        Self(v)
    }
}

impl From<LogicalAddress> for u16 {
    fn from(a: LogicalAddress) -> Self {
        a.0
    }
}

/// Prints `0x0E00`.
impl fmt::Display for LogicalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06X}", self.0)
    }
}

impl fmt::Debug for LogicalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogicalAddress({self})")
    }
}

/// Parses `0x0E00` (hexadecimal with prefix) or `3584` (decimal).
impl FromStr for LogicalAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) if is_hex(hex.as_bytes()) => u16::from_str_radix(hex, 16).ok(),
            None if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            Some(_) | None => None,
        };
        parsed.map(Self).ok_or(Error::InvalidText { what: "logical address" })
    }
}

/// Vehicle identification number: 17 bytes, ASCII by the spec but kept as received.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct Vin(pub [u8; 17]);

impl Vin {
    /// Wire length of a VIN.
    pub const LEN: usize = 17;

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 17] {
        &self.0
    }

    /// The VIN as text when every byte is printable ASCII.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        if self.0.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            core::str::from_utf8(&self.0).ok()
        } else {
            None
        }
    }

    /// Whether the VIN is set (all 0x00 or all 0xFF mean "not set").
    #[must_use]
    pub fn is_set(&self) -> bool {
        is_set(&self.0)
    }
}

fn is_set(bytes: &[u8]) -> bool {
    !(bytes.iter().all(|&b| b == 0) || bytes.iter().all(|&b| b == 0xFF))
}

pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8], separator: &str) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Text when printable ASCII, otherwise hex.
impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => f.write_str(s),
            None => write_hex(f, &self.0, ""),
        }
    }
}

impl fmt::Debug for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vin(\"{self}\")")
    }
}

/// Parses a 17-character ASCII VIN.
impl FromStr for Vin {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        <[u8; 17]>::try_from(s.as_bytes())
            .ok()
            .filter(|b| b.is_ascii())
            .map(Self)
            .ok_or(Error::InvalidText { what: "VIN (17 ASCII characters)" })
    }
}

/// Defines a 6-byte identifier shown as a MAC address.
macro_rules! six_byte_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
        pub struct $name(pub [u8; 6]);

        impl $name {
            /// Wire length.
            pub const LEN: usize = 6;

            /// The raw bytes.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 6] {
                &self.0
            }

            /// Whether the value is set (all 0x00 or all 0xFF mean "not set").
            #[must_use]
            pub fn is_set(&self) -> bool {
                is_set(&self.0)
            }
        }

        /// Prints `00:1a:37:bf:ee:74`.
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0, ":")
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        /// Parses `00:1a:37:bf:ee:74`, `00-1a-37-bf-ee-74` or `001a37bfee74`.
        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                parse_six_bytes(s).map(Self).ok_or(Error::InvalidText { what: $what })
            }
        }
    };
}

fn is_hex(digits: &[u8]) -> bool {
    !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit)
}

/// Parses 12 hex digits, or 6 pairs separated by `:` or `-`.
fn parse_six_bytes(s: &str) -> Option<[u8; 6]> {
    let bytes = s.as_bytes();
    let stride = match bytes.len() {
        12 => 2,
        17 => 3,
        _ => return None,
    };
    let mut out = [0u8; 6];
    for (i, o) in out.iter_mut().enumerate() {
        let at = i * stride;
        if stride == 3 && i > 0 && !matches!(bytes.get(at - 1), Some(b':' | b'-')) {
            return None;
        }
        let pair = bytes.get(at..at + 2).filter(|p| is_hex(p))?;
        *o = u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

six_byte_id!(
    /// Entity identification (usually the entity's MAC address).
    Eid,
    "EID (6 hex bytes)"
);
six_byte_id!(
    /// Group identification: the same on every entity of one vehicle.
    Gid,
    "GID (6 hex bytes)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn address_ranges() {
        assert!(LogicalAddress(0x0E00).is_tester());
        assert!(LogicalAddress(0x0FFF).is_tester());
        assert!(!LogicalAddress(0x1000).is_tester());
        assert!(LogicalAddress(0x4010).is_ecu());
        assert!(!LogicalAddress(0x0E80).is_ecu());
        assert!(LogicalAddress::WWH_OBD_FUNCTIONAL.is_functional());
        assert_eq!(LogicalAddress(0x0E80).range(), AddressRange::ExternalTester);
        assert_eq!(LogicalAddress(0xD123).range(), AddressRange::SaeTruckAndBus);
        assert_eq!(LogicalAddress(0x0000).range(), AddressRange::Reserved);
        assert_eq!(LogicalAddress(0x9000).range(), AddressRange::Reserved);
    }

    #[test]
    fn address_text() {
        assert_eq!(LogicalAddress(0x0E00).to_string(), "0x0E00");
        assert_eq!("0x0e80".parse::<LogicalAddress>().unwrap(), LogicalAddress(0x0E80));
        assert_eq!("3584".parse::<LogicalAddress>().unwrap(), LogicalAddress(0x0E00));
        assert!("0x10000".parse::<LogicalAddress>().is_err());
        assert!("ecu".parse::<LogicalAddress>().is_err());
        assert!("0x+E00".parse::<LogicalAddress>().is_err());
        assert!("+3584".parse::<LogicalAddress>().is_err());
    }

    #[test]
    fn vin_text_and_hex() {
        let vin: Vin = "BAUNEE4MZ17042403".parse().unwrap();
        assert_eq!(vin.to_string(), "BAUNEE4MZ17042403");
        assert!(vin.is_set());
        let unset = Vin([0xFF; 17]);
        assert!(!unset.is_set());
        assert_eq!(unset.to_string(), "ff".repeat(17));
        assert!("SHORT".parse::<Vin>().is_err());
        assert_eq!(format!("{vin:?}"), "Vin(\"BAUNEE4MZ17042403\")");
    }

    #[test]
    fn eid_text() {
        let eid: Eid = "00:1a:37:bf:ee:74".parse().unwrap();
        assert_eq!(eid, Eid([0x00, 0x1a, 0x37, 0xbf, 0xee, 0x74]));
        assert_eq!(eid.to_string(), "00:1a:37:bf:ee:74");
        assert_eq!("001A37BFEE74".parse::<Eid>().unwrap(), eid);
        assert_eq!("00-1a-37-bf-ee-74".parse::<Gid>().unwrap().0, eid.0);
        assert!("00:1a:37:bf:ee".parse::<Eid>().is_err());
        assert!("00:1a:37:bf:ee:zz".parse::<Eid>().is_err());
        assert!("00:1a:37:bf:e:e74".parse::<Eid>().is_err());
        assert!("+0:1a:37:bf:ee:74".parse::<Eid>().is_err());
        assert!(!Eid([0; 6]).is_set());
    }
}
