"""DoIP messages with doipclient's class names, constructors, attributes and enums.

The classes only hold fields: encoding (``pack``) and decoding (``unpack``) are done by the
Rust codecs of doip-proto, the ones the client itself uses.
"""

from enum import IntEnum
from typing import Any, ClassVar, List, Optional, Union

from . import _native

BytesLike = Union[bytes, bytearray, memoryview]


class DoIPMessage:
    """Base class: comparison, representation, ``pack`` and ``unpack`` for every message."""

    payload_type: ClassVar[int]
    _fields: ClassVar[List[str]] = []

    def _values(self) -> tuple:
        return tuple(getattr(self, "_" + field) for field in self._fields)

    def pack(self) -> bytes:
        """The payload bytes (without the DoIP header)."""
        return _native.pack(self.payload_type, self._values())

    @classmethod
    def unpack(cls, payload_bytes: BytesLike, payload_length: Optional[int] = None) -> "DoIPMessage":
        """Decodes a payload of this class's payload type (``ValueError`` when malformed)."""
        if payload_length is not None:
            payload_bytes = payload_bytes[:payload_length]
        return _native.unpack(cls.payload_type, bytes(payload_bytes))

    def __repr__(self) -> str:
        values = []
        for value in self._values():
            values.append(f'"{value}"' if isinstance(value, str) else str(value))
        return f"{type(self).__name__}({', '.join(values)})"

    def __str__(self) -> str:
        parts = []
        for field in self._fields:
            value = getattr(self, field)
            parts.append(f'{field}: "{value}"' if isinstance(value, str) else f"{field} : {value}")
        name = f"{type(self).__name__} (0x{self.payload_type:X})"
        return f"{name}: {{ {', '.join(parts)} }}" if parts else name

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and self.pack() == other.pack()

    __hash__ = None  # type: ignore[assignment]


class ReservedMessage(DoIPMessage):
    """A message of a reserved or manufacturer-specific payload type, kept as raw bytes."""

    _fields = ["payload_type", "payload"]

    def __init__(self, payload_type: int, payload: BytesLike) -> None:
        self._payload_type = payload_type
        self._payload = payload

    @property
    def payload_type(self) -> int:  # type: ignore[override]
        """The raw payload type."""
        return self._payload_type

    @property
    def payload(self) -> BytesLike:
        """The raw payload."""
        return self._payload

    def pack(self) -> bytes:
        return bytes(self._payload)

    @classmethod
    def unpack(cls, payload_type: int, payload_bytes: BytesLike, payload_length: Optional[int] = None) -> "ReservedMessage":  # type: ignore[override]
        if payload_length is not None:
            payload_bytes = payload_bytes[:payload_length]
        return ReservedMessage(payload_type, payload_bytes)


class GenericDoIPNegativeAcknowledge(DoIPMessage):
    """Generic DoIP header negative acknowledge (0x0000)."""

    payload_type = 0x0000
    _fields = ["nack_code"]

    class NackCodes(IntEnum):
        """Generic NACK codes (Table 19)."""

        IncorrectPatternFormat = 0x00
        UnknownPayloadType = 0x01
        MessageTooLarge = 0x02
        OutOfMemory = 0x03
        InvalidPayloadLength = 0x04

    def __init__(self, nack_code: int) -> None:
        self._nack_code = nack_code

    @property
    def nack_code(self) -> int:
        """The NACK code (see ``NackCodes``)."""
        return self._nack_code


class AliveCheckRequest(DoIPMessage):
    """Alive check request (0x0007); doip_rs answers these itself, at any time."""

    payload_type = 0x0007


class AliveCheckResponse(DoIPMessage):
    """Alive check response (0x0008)."""

    payload_type = 0x0008
    _fields = ["source_address"]

    def __init__(self, source_address: int) -> None:
        self._source_address = source_address

    @property
    def source_address(self) -> int:
        """The tester's logical address."""
        return self._source_address


class DoipEntityStatusRequest(DoIPMessage):
    """DoIP entity status request (0x4001)."""

    payload_type = 0x4001


class DiagnosticPowerModeRequest(DoIPMessage):
    """Diagnostic power mode information request (0x4003)."""

    payload_type = 0x4003


class DiagnosticPowerModeResponse(DoIPMessage):
    """Diagnostic power mode information response (0x4004)."""

    payload_type = 0x4004
    _fields = ["diagnostic_power_mode"]

    class DiagnosticPowerMode(IntEnum):
        """Power modes (Table 27)."""

        NotReady = 0x00
        Ready = 0x01
        NotSupported = 0x02

    def __init__(self, diagnostic_power_mode: int) -> None:
        self._diagnostic_power_mode = diagnostic_power_mode

    @property
    def diagnostic_power_mode(self) -> "DiagnosticPowerModeResponse.DiagnosticPowerMode":
        """The power mode."""
        return _enum(DiagnosticPowerModeResponse.DiagnosticPowerMode, self._diagnostic_power_mode)


class RoutingActivationRequest(DoIPMessage):
    """Routing activation request (0x0005)."""

    payload_type = 0x0005
    _fields = ["source_address", "activation_type", "reserved", "vm_specific"]

    class ActivationType(IntEnum):
        """Activation types (Table 47)."""

        Default = 0x00
        DiagnosticRequiredByRegulation = 0x01
        CentralSecurity = 0xE1

    def __init__(self, source_address: int, activation_type: int, reserved: int = 0, vm_specific: Optional[int] = None) -> None:
        self._source_address = source_address
        self._activation_type = activation_type
        self._reserved = reserved
        self._vm_specific = vm_specific

    @property
    def source_address(self) -> int:
        """The tester's logical address."""
        return self._source_address

    @property
    def activation_type(self) -> "RoutingActivationRequest.ActivationType":
        """The activation type (see ``ActivationType``)."""
        return _enum(RoutingActivationRequest.ActivationType, self._activation_type)

    @property
    def reserved(self) -> int:
        """Reserved by ISO 13400 (0)."""
        return self._reserved

    @property
    def vm_specific(self) -> Optional[int]:
        """The optional OEM-specific 4 bytes, as an int."""
        return self._vm_specific


class VehicleIdentificationRequest(DoIPMessage):
    """Vehicle identification request (0x0001)."""

    payload_type = 0x0001


class VehicleIdentificationRequestWithEID(DoIPMessage):
    """Vehicle identification request with EID (0x0002)."""

    payload_type = 0x0002
    _fields = ["eid"]

    def __init__(self, eid: bytes) -> None:
        self._eid = eid

    @property
    def eid(self) -> bytes:
        """The EID (6 bytes)."""
        return self._eid


class VehicleIdentificationRequestWithVIN(DoIPMessage):
    """Vehicle identification request with VIN (0x0003)."""

    payload_type = 0x0003
    _fields = ["vin"]

    def __init__(self, vin: Union[str, bytes]) -> None:
        self._vin = vin

    @property
    def vin(self) -> str:
        """The VIN (17 ASCII characters)."""
        return _text(self._vin)


class RoutingActivationResponse(DoIPMessage):
    """Routing activation response (0x0006)."""

    payload_type = 0x0006
    _fields = ["client_logical_address", "logical_address", "response_code", "reserved", "vm_specific"]

    class ResponseCode(IntEnum):
        """Routing activation response codes (Table 48)."""

        DeniedUnknownSourceAddress = 0x00
        DeniedAllSocketsRegisteredActive = 0x01
        DeniedSADoesNotMatch = 0x02
        DeniedSARegistered = 0x03
        DeniedMissingAuthentication = 0x04
        DeniedRejectedConfirmation = 0x05
        DeniedUnsupportedActivationType = 0x06
        DeniedRequiresTLS = 0x07
        Success = 0x10
        SuccessConfirmationRequired = 0x11

    def __init__(self, client_logical_address: int, logical_address: int, response_code: int, reserved: int = 0, vm_specific: Optional[int] = None) -> None:
        self._client_logical_address = client_logical_address
        self._logical_address = logical_address
        self._response_code = response_code
        self._reserved = reserved
        self._vm_specific = vm_specific

    @property
    def client_logical_address(self) -> int:
        """The tester's logical address."""
        return self._client_logical_address

    @property
    def logical_address(self) -> int:
        """The entity's logical address."""
        return self._logical_address

    @property
    def response_code(self) -> "RoutingActivationResponse.ResponseCode":
        """The answer (see ``ResponseCode``)."""
        return _enum(RoutingActivationResponse.ResponseCode, self._response_code)

    @property
    def reserved(self) -> int:
        """Reserved by ISO 13400 (0)."""
        return self._reserved

    @property
    def vm_specific(self) -> Optional[int]:
        """The optional OEM-specific 4 bytes, as an int."""
        return self._vm_specific


class DiagnosticMessage(DoIPMessage):
    """Diagnostic message (0x8001): UDS between a tester and an ECU."""

    payload_type = 0x8001
    _fields = ["source_address", "target_address", "user_data"]

    def __init__(self, source_address: int, target_address: int, user_data: BytesLike) -> None:
        self._source_address = source_address
        self._target_address = target_address
        self._user_data = user_data

    @property
    def source_address(self) -> int:
        """Who sent it."""
        return self._source_address

    @property
    def target_address(self) -> int:
        """Who it is for (physical or functional)."""
        return self._target_address

    @property
    def user_data(self) -> BytesLike:
        """The UDS payload."""
        return self._user_data


class DiagnosticMessageNegativeAcknowledgement(DoIPMessage):
    """Diagnostic message negative acknowledgement (0x8003)."""

    payload_type = 0x8003
    _fields = ["source_address", "target_address", "nack_code", "previous_message_data"]

    class NackCodes(IntEnum):
        """Diagnostic NACK codes (Table 29)."""

        InvalidSourceAddress = 0x02
        UnknownTargetAddress = 0x03
        DiagnosticMessageTooLarge = 0x04
        OutOfMemory = 0x05
        TargetUnreachable = 0x06
        UnknownNetwork = 0x07
        TransportProtocolError = 0x08

    def __init__(self, source_address: int, target_address: int, nack_code: int, previous_message_data: BytesLike = b"") -> None:
        self._source_address = source_address
        self._target_address = target_address
        self._nack_code = nack_code
        self._previous_message_data = previous_message_data

    @property
    def source_address(self) -> int:
        """The ECU (or entity) refusing."""
        return self._source_address

    @property
    def target_address(self) -> int:
        """The tester."""
        return self._target_address

    @property
    def nack_code(self) -> "DiagnosticMessageNegativeAcknowledgement.NackCodes":
        """Why (see ``NackCodes``)."""
        return _enum(DiagnosticMessageNegativeAcknowledgement.NackCodes, self._nack_code)

    @property
    def previous_message_data(self) -> Optional[BytesLike]:
        """The start of the refused message, when the entity echoes it (else ``None``, as
        doipclient)."""
        return self._previous_message_data or None


class DiagnosticMessagePositiveAcknowledgement(DoIPMessage):
    """Diagnostic message positive acknowledgement (0x8002)."""

    payload_type = 0x8002
    _fields = ["source_address", "target_address", "ack_code", "previous_message_data"]

    def __init__(self, source_address: int, target_address: int, ack_code: int, previous_message_data: BytesLike = b"") -> None:
        self._source_address = source_address
        self._target_address = target_address
        self._ack_code = ack_code
        self._previous_message_data = previous_message_data

    @property
    def source_address(self) -> int:
        """The ECU acknowledging."""
        return self._source_address

    @property
    def target_address(self) -> int:
        """The tester."""
        return self._target_address

    @property
    def ack_code(self) -> int:
        """0x00: routed."""
        return self._ack_code

    @property
    def previous_message_data(self) -> Optional[BytesLike]:
        """The start of the acknowledged message, when the entity echoes it (else ``None``, as
        doipclient)."""
        return self._previous_message_data or None


class EntityStatusResponse(DoIPMessage):
    """DoIP entity status response (0x4002)."""

    payload_type = 0x4002
    _fields = ["node_type", "max_concurrent_sockets", "currently_open_sockets", "max_data_size"]

    def __init__(self, node_type: int, max_concurrent_sockets: int, currently_open_sockets: int, max_data_size: Optional[int] = None) -> None:
        self._node_type = node_type
        self._max_concurrent_sockets = max_concurrent_sockets
        self._currently_open_sockets = currently_open_sockets
        self._max_data_size = max_data_size

    @property
    def node_type(self) -> int:
        """0x00 DoIP gateway, 0x01 DoIP node."""
        return self._node_type

    @property
    def max_concurrent_sockets(self) -> int:
        """The most TCP_DATA sockets the entity accepts."""
        return self._max_concurrent_sockets

    @property
    def currently_open_sockets(self) -> int:
        """TCP_DATA sockets open now."""
        return self._currently_open_sockets

    @property
    def max_data_size(self) -> Optional[int]:
        """The largest diagnostic message it accepts, when it says."""
        return self._max_data_size


class VehicleIdentificationResponse(DoIPMessage):
    """Vehicle identification response / vehicle announcement (0x0004)."""

    payload_type = 0x0004
    _fields = ["vin", "logical_address", "eid", "gid", "further_action_required", "vin_sync_status"]

    class SynchronizationStatusCodes(IntEnum):
        """VIN/GID synchronisation status (Table 23)."""

        Synchronized = 0x00
        Incomplete = 0x10

    class FurtherActionCodes(IntEnum):
        """Further action required (Table 22)."""

        NoFurtherActionRequired = 0x00
        RoutingActivationRequired = 0x10

    def __init__(self, vin: Union[str, bytes], logical_address: int, eid: bytes, gid: bytes, further_action_required: int, vin_gid_sync_status: Optional[int] = None) -> None:
        self._vin = vin
        self._logical_address = logical_address
        self._eid = eid
        self._gid = gid
        self._further_action_required = further_action_required
        self._vin_sync_status = vin_gid_sync_status

    @property
    def vin(self) -> str:
        """The VIN (ASCII; bytes that are not shown as U+FFFD)."""
        return _text(self._vin)

    @property
    def logical_address(self) -> int:
        """The entity's logical address."""
        return self._logical_address

    @property
    def eid(self) -> bytes:
        """The entity identification (usually a MAC address)."""
        return self._eid

    @property
    def gid(self) -> bytes:
        """The group identification."""
        return self._gid

    @property
    def further_action_required(self) -> "VehicleIdentificationResponse.FurtherActionCodes":
        """Whether routing activation (central security) is needed first."""
        return _enum(VehicleIdentificationResponse.FurtherActionCodes, self._further_action_required)

    @property
    def vin_sync_status(self) -> Optional["VehicleIdentificationResponse.SynchronizationStatusCodes"]:
        """VIN/GID sync status, when sent (the 33-byte form)."""
        if self._vin_sync_status is None:
            return None
        return _enum(VehicleIdentificationResponse.SynchronizationStatusCodes, self._vin_sync_status)


def _enum(kind: Any, value: int) -> Any:
    """``kind(value)``, or the plain int for a value the enum lacks (a reserved code from a
    real entity must not raise)."""
    try:
        return kind(value)
    except ValueError:
        return value


def _text(value: Union[str, bytes]) -> str:
    return value.decode("ascii", errors="replace") if isinstance(value, (bytes, bytearray)) else value


#: Payload type → class, as in doipclient.
payload_type_to_message = {
    cls.payload_type: cls
    for cls in (
        GenericDoIPNegativeAcknowledge,
        VehicleIdentificationRequest,
        VehicleIdentificationRequestWithEID,
        VehicleIdentificationRequestWithVIN,
        VehicleIdentificationResponse,
        RoutingActivationRequest,
        RoutingActivationResponse,
        AliveCheckRequest,
        AliveCheckResponse,
        DoipEntityStatusRequest,
        EntityStatusResponse,
        DiagnosticPowerModeRequest,
        DiagnosticPowerModeResponse,
        DiagnosticMessage,
        DiagnosticMessagePositiveAcknowledgement,
        DiagnosticMessageNegativeAcknowledgement,
    )
}

#: Class → payload type, as in doipclient.
payload_message_to_type = {message: payload_type for payload_type, message in payload_type_to_message.items()}

__all__ = [
    name
    for name, value in list(globals().items())
    if isinstance(value, type) and issubclass(value, DoIPMessage)
] + ["payload_type_to_message", "payload_message_to_type"]
