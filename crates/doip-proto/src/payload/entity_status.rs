//! DoIP entity status request (0x4001) and response (0x4002).

use nom::IResult;
use nom::Parser as _;
use nom::number::complete::{be_u8, be_u32};

use super::{Payload, Writer, empty_payload, optional_tail};
use crate::codes::NodeType;
use crate::header::PayloadType;

empty_payload!(
    /// The tester asks for the entity's node type and socket usage.
    EntityStatusRequest
);

/// The entity's node type, socket limits and (optionally) largest accepted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(any(test, feature = "arbitrary"), derive(arbitrary::Arbitrary))]
pub struct EntityStatusResponse {
    /// Gateway or node.
    pub node_type: NodeType,
    /// Maximum number of concurrent TCP_DATA sockets.
    pub max_open_sockets: u8,
    /// TCP_DATA sockets open now.
    pub currently_open_sockets: u8,
    /// Largest logical request the entity accepts; absent in the 3-byte form.
    pub max_data_size: Option<u32>,
}

impl Payload<'_> for EntityStatusResponse {
    const PAYLOAD_TYPE: PayloadType = PayloadType::EntityStatusResponse;

    #[inline]
    fn parse(input: &[u8]) -> IResult<&[u8], Self> {
        (be_u8, be_u8, be_u8, optional_tail(be_u32))
            .map(|(node_type, max_open_sockets, currently_open_sockets, max_data_size)| Self {
                node_type: node_type.into(),
                max_open_sockets,
                currently_open_sockets,
                max_data_size,
            })
            .parse(input)
    }

    fn len(&self) -> usize {
        3 + if self.max_data_size.is_some() { 4 } else { 0 }
    }

    fn write(&self, out: &mut Writer<'_>) {
        out.u8(self.node_type.value());
        out.u8(self.max_open_sockets);
        out.u8(self.currently_open_sockets);
        if let Some(mds) = self.max_data_size {
            out.u32(mds);
        }
    }
}
