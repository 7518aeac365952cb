"""doip_rs.messages against doipclient 1.2.2's own classes (an agreement test): the same
constructors, the same packed bytes, the same attributes, repr and str, the same enums and
payload-type table; unpack round-trips through doip-proto's codecs."""

from enum import IntEnum

import doipclient.messages as theirs
import pytest

import doip_rs.messages as ours

EID = bytes.fromhex("020000004010")
GID = bytes.fromhex("020000000001")
VIN = "WDOIPRS0000000001"

#: (class name, doipclient constructor arguments): every class, the optional fields both
#: absent and present.
CASES = [
    ("GenericDoIPNegativeAcknowledge", (0x00,)),
    ("GenericDoIPNegativeAcknowledge", (0x04,)),
    ("VehicleIdentificationRequest", ()),
    ("VehicleIdentificationRequestWithEID", (EID,)),
    ("VehicleIdentificationRequestWithVIN", (VIN,)),
    ("VehicleIdentificationResponse", (VIN, 0x4010, EID, GID, 0x00)),
    ("VehicleIdentificationResponse", (VIN, 0x4010, EID, GID, 0x10, 0x00)),
    ("VehicleIdentificationResponse", (VIN, 0x1234, EID, GID, 0x00, 0x10)),
    ("RoutingActivationRequest", (0x0E00, 0x00)),
    ("RoutingActivationRequest", (0x0E80, 0x01, 0)),
    ("RoutingActivationRequest", (0x0E00, 0x00, 0, 0xC0FFEE00)),
    ("RoutingActivationResponse", (0x0E00, 0x4010, 0x10)),
    ("RoutingActivationResponse", (0x0E00, 0x4010, 0x06, 0)),
    ("RoutingActivationResponse", (0x0E00, 0x4010, 0x11, 0, 0xFFFFFFFF)),
    ("AliveCheckRequest", ()),
    ("AliveCheckResponse", (0x0E00,)),
    ("DoipEntityStatusRequest", ()),
    ("EntityStatusResponse", (0x00, 4, 1)),
    ("EntityStatusResponse", (0x01, 255, 0, 0x00010000)),
    ("DiagnosticPowerModeRequest", ()),
    ("DiagnosticPowerModeResponse", (0x00,)),
    ("DiagnosticPowerModeResponse", (0x01,)),
    ("DiagnosticPowerModeResponse", (0x02,)),
    ("DiagnosticMessage", (0x0E00, 0x4011, b"\x22\xf1\x90")),
    ("DiagnosticMessage", (0x4011, 0x0E00, bytearray(b"\x62\xf1\x90" + VIN.encode()))),
    ("DiagnosticMessagePositiveAcknowledgement", (0x4011, 0x0E00, 0x00, bytearray())),
    ("DiagnosticMessagePositiveAcknowledgement", (0x4011, 0x0E00, 0x00, b"\x22\xf1\x90")),
    ("DiagnosticMessageNegativeAcknowledgement", (0x4999, 0x0E00, 0x03, bytearray())),
    ("DiagnosticMessageNegativeAcknowledgement", (0x4011, 0x0E00, 0x04, b"\x2e\xf1")),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


def _pair(name, args):
    return getattr(theirs, name)(*args), getattr(ours, name)(*args)


def _same_value(mine, reference):
    """Equal, and an enum wherever doipclient returns one (same name, own class)."""
    if isinstance(reference, IntEnum):
        return isinstance(mine, IntEnum) and mine.name == reference.name and mine == reference
    if isinstance(reference, (bytes, bytearray)):
        return isinstance(mine, (bytes, bytearray)) and bytes(mine) == bytes(reference)
    return type(mine) is type(reference) and mine == reference


@pytest.mark.parametrize("name,args", CASES, ids=IDS)
def test_pack_equals_doipclients_bytes(name, args):
    reference, mine = _pair(name, args)
    assert isinstance(mine.pack(), bytes)
    assert mine.pack() == bytes(reference.pack())


@pytest.mark.parametrize("name,args", CASES, ids=IDS)
def test_attributes_equal_doipclients(name, args):
    reference, mine = _pair(name, args)
    assert mine.payload_type == reference.payload_type
    assert mine._fields == reference._fields
    for field in reference._fields:
        assert _same_value(getattr(mine, field), getattr(reference, field)), field


@pytest.mark.parametrize("name,args", CASES, ids=IDS)
def test_repr_and_str_equal_doipclients(name, args):
    reference, mine = _pair(name, args)
    assert repr(mine) == repr(reference)
    assert str(mine) == str(reference)


@pytest.mark.parametrize("name,args", CASES, ids=IDS)
def test_unpack_round_trips_and_agrees_with_doipclients_unpack(name, args):
    _, mine = _pair(name, args)
    payload = mine.pack()
    back = getattr(ours, name).unpack(payload)
    assert type(back) is type(mine)
    assert back == mine and back.pack() == payload
    # With doipclient's (payload, length) signature, and against its own decoding.
    reference = getattr(theirs, name).unpack(bytearray(payload), len(payload))
    back = getattr(ours, name).unpack(bytearray(payload), len(payload))
    for field in reference._fields:
        assert _same_value(getattr(back, field), getattr(reference, field)), field


def test_unpack_honours_the_payload_length():
    message = ours.DiagnosticMessage.unpack(b"\x0e\x00\x40\x11\x3e\x00\xff\xff", 6)
    assert (message.source_address, message.target_address, bytes(message.user_data)) == (0x0E00, 0x4011, b"\x3e\x00")


@pytest.mark.parametrize(
    "name,payload",
    [
        ("AliveCheckResponse", b"\x0e"),
        ("RoutingActivationResponse", b"\x0e\x00\x40\x10"),
        ("VehicleIdentificationResponse", b"\x00" * 20),
        ("EntityStatusResponse", b"\x00\x01"),
        ("DiagnosticMessage", b"\x0e\x00\x40"),
        ("VehicleIdentificationRequestWithEID", b"\x01\x02"),
    ],
)
def test_unpack_of_a_malformed_payload_is_a_value_error(name, payload):
    with pytest.raises(ValueError):
        getattr(ours, name).unpack(payload)


def test_equality_compares_class_and_bytes():
    assert ours.AliveCheckResponse(0x0E00) == ours.AliveCheckResponse(0x0E00)
    assert ours.AliveCheckResponse(0x0E00) != ours.AliveCheckResponse(0x0E01)
    # The same (empty) payload, different messages.
    assert ours.AliveCheckRequest() != ours.DoipEntityStatusRequest()
    assert ours.DiagnosticMessage(1, 2, b"\x3e") == ours.DiagnosticMessage(1, 2, bytearray(b"\x3e"))
    assert ours.RoutingActivationResponse(0x0E00, 0x4010, 0x10) != ours.RoutingActivationResponse(0x0E00, 0x4010, 0x10, 0, 0)
    assert ours.AliveCheckRequest() != "AliveCheckRequest"
    with pytest.raises(TypeError):  # mutable-looking, compared by value: not hashable
        hash(ours.AliveCheckRequest())


def test_optional_fields_read_as_doipclient_reads_them():
    ack = ours.DiagnosticMessagePositiveAcknowledgement(0x4011, 0x0E00, 0)
    assert ack.previous_message_data is None  # doipclient: None when not echoed
    nack = ours.DiagnosticMessageNegativeAcknowledgement(0x4011, 0x0E00, 3, b"\x3e\x00")
    assert nack.previous_message_data == b"\x3e\x00"
    assert ours.RoutingActivationResponse(0x0E00, 0x4010, 0x10).vm_specific is None
    assert ours.EntityStatusResponse(0, 4, 1).max_data_size is None
    assert ours.VehicleIdentificationResponse(VIN, 1, EID, GID, 0).vin_sync_status is None


def test_vin_given_as_bytes_reads_as_text():
    announcement = ours.VehicleIdentificationResponse(VIN.encode(), 0x4010, EID, GID, 0)
    assert announcement.vin == VIN
    assert ours.VehicleIdentificationRequestWithVIN(VIN.encode()).vin == VIN


def test_codes_a_real_entity_may_send_beyond_the_enums_read_as_ints():
    # doipclient raises ValueError reading these; a reserved code must not break a tester.
    assert ours.RoutingActivationResponse(0x0E00, 0x4010, 0xE0).response_code == 0xE0
    assert ours.RoutingActivationRequest(0x0E00, 0xE0).activation_type == 0xE0
    assert ours.DiagnosticPowerModeResponse(0x7F).diagnostic_power_mode == 0x7F
    assert ours.DiagnosticMessageNegativeAcknowledgement(1, 2, 0x99).nack_code == 0x99


def test_out_of_range_fields_do_not_pack():
    with pytest.raises(ValueError):
        ours.AliveCheckResponse(0x10000).pack()
    with pytest.raises(ValueError):
        ours.VehicleIdentificationRequestWithEID(b"\x01\x02\x03").pack()
    with pytest.raises(ValueError):
        ours.RoutingActivationRequest(0x0E00, 0, 0, 0x1_0000_0000).pack()


def test_reserved_message_keeps_its_raw_payload():
    message = ours.ReservedMessage.unpack(0x1234, b"\x01\x02\x03", 2)
    assert (message.payload_type, bytes(message.payload)) == (0x1234, b"\x01\x02")
    assert message.pack() == b"\x01\x02"  # doipclient's ReservedMessage.pack returns None
    reference = theirs.ReservedMessage(0x1234, b"\x01\x02")
    assert repr(message) == repr(reference) and str(message) == str(reference)


def _enums(cls):
    return {n: v for n, v in vars(cls).items() if isinstance(v, type) and issubclass(v, IntEnum)}


@pytest.mark.parametrize("cls", list(theirs.payload_type_to_message.values()), ids=lambda c: c.__name__)
def test_enums_equal_doipclients(cls):
    reference = _enums(cls)
    mine = _enums(getattr(ours, cls.__name__))
    assert set(mine) == set(reference)
    for name, enum in reference.items():
        assert {e.name: e.value for e in mine[name]} == {e.name: e.value for e in enum}


def test_some_enum_values():
    assert ours.RoutingActivationResponse.ResponseCode.Success == 0x10
    assert ours.RoutingActivationResponse.ResponseCode.DeniedUnknownSourceAddress == 0x00
    assert ours.RoutingActivationResponse.ResponseCode.SuccessConfirmationRequired == 0x11
    assert ours.RoutingActivationRequest.ActivationType.Default == 0x00
    assert ours.RoutingActivationRequest.ActivationType.DiagnosticRequiredByRegulation == 0x01
    assert ours.DiagnosticMessageNegativeAcknowledgement.NackCodes.UnknownTargetAddress == 0x03
    assert ours.GenericDoIPNegativeAcknowledge.NackCodes.InvalidPayloadLength == 0x04
    assert ours.DiagnosticPowerModeResponse.DiagnosticPowerMode.Ready == 0x01
    assert ours.VehicleIdentificationResponse.FurtherActionCodes.RoutingActivationRequired == 0x10
    assert ours.VehicleIdentificationResponse.SynchronizationStatusCodes.Incomplete == 0x10


def test_payload_type_tables_equal_doipclients():
    assert set(ours.payload_type_to_message) == set(theirs.payload_type_to_message)
    for payload_type, cls in theirs.payload_type_to_message.items():
        mine = ours.payload_type_to_message[payload_type]
        assert mine.__name__ == cls.__name__
        assert mine.payload_type == payload_type
        assert ours.payload_message_to_type[mine] == payload_type


def test_every_doipclient_message_class_exists():
    names = {n for n, v in vars(theirs).items() if isinstance(v, type) and issubclass(v, theirs.DoIPMessage)}
    assert names <= set(ours.__all__)
