//! Vehicle identification requests (0x0001–0x0003) and the vehicle announcement /
//! identification response (0x0004).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::be_u8;

use super::{Payload, Writer, array, empty_payload, logical_address, optional_tail};
use crate::codes::{FurtherAction, SyncStatus};
use crate::header::PayloadType;
use crate::types::{Eid, Gid, LogicalAddress, Vin};

empty_payload!(
    /// Every entity that hears it answers with a [`VehicleAnnouncement`]. Send it with
    /// version 0xFF when the entities' version is unknown.
    VehicleIdentificationRequest
);

/// Only the entity with this EID answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct VehicleIdentificationRequestWithEid {
    /// The EID asked for.
    pub eid: Eid,
}

impl VehicleIdentificationRequestWithEid {
    /// A request for the entity with `eid`.
    #[must_use]
    pub const fn new(eid: Eid) -> Self {
        Self { eid }
    }
}

impl Payload<'_> for VehicleIdentificationRequestWithEid {
    const PAYLOAD_TYPE: PayloadType = PayloadType::VehicleIdentificationRequestWithEid;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        array.map(|b| Self { eid: Eid(b) }).parse(input)
    }

    fn len(&self) -> usize {
        Eid::LEN
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.bytes(&self.eid.0);
    }
}

/// Only the entities of the vehicle with this VIN answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct VehicleIdentificationRequestWithVin {
    /// The VIN asked for.
    pub vin: Vin,
}

impl VehicleIdentificationRequestWithVin {
    /// A request for the vehicle with `vin`.
    #[must_use]
    pub const fn new(vin: Vin) -> Self {
        Self { vin }
    }
}

impl Payload<'_> for VehicleIdentificationRequestWithVin {
    const PAYLOAD_TYPE: PayloadType = PayloadType::VehicleIdentificationRequestWithVin;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        array.map(|b| Self { vin: Vin(b) }).parse(input)
    }

    fn len(&self) -> usize {
        Vin::LEN
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.bytes(&self.vin.0);
    }
}

/// An entity's identity, broadcast at start-up and sent in answer to identification requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct VehicleAnnouncement {
    /// The vehicle's VIN.
    pub vin: Vin,
    /// The entity's logical address.
    pub logical_address: LogicalAddress,
    /// The entity's EID (usually its MAC address).
    pub eid: Eid,
    /// The vehicle's group identification.
    pub gid: Gid,
    /// What the tester must do before diagnostics.
    pub further_action: FurtherAction,
    /// VIN/GID synchronisation status; absent in the 32-byte form.
    pub sync_status: Option<SyncStatus>,
}

impl Payload<'_> for VehicleAnnouncement {
    const PAYLOAD_TYPE: PayloadType = PayloadType::VehicleAnnouncement;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        (array, logical_address, array, array, be_u8, optional_tail(be_u8))
            .map(|(vin, logical_address, eid, gid, further_action, sync_status)| Self {
                vin: Vin(vin),
                logical_address,
                eid: Eid(eid),
                gid: Gid(gid),
                further_action: further_action.into(),
                sync_status: sync_status.map(SyncStatus::from),
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        32 + usize::from(self.sync_status.is_some())
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.bytes(&self.vin.0);
        out.u16(self.logical_address.0);
        out.bytes(&self.eid.0);
        out.bytes(&self.gid.0);
        out.u8(self.further_action.value());
        if let Some(s) = self.sync_status {
            out.u8(s.value());
        }
    }
}
