"""udsoncan 1.26 over doip_rs.connectors.DoIPClientUDSConnector against the simulator:
session control (P2/P2* parsed by udsoncan), ReadDataByIdentifier with a DID codec,
SecurityAccess, ECU reset, and a 64 KiB RequestDownload / TransferData /
RequestTransferExit read back by ReadMemoryByAddress and RequestUpload."""

import os
import time

import pytest
import udsoncan
from udsoncan import MemoryLocation
from udsoncan.client import Client
from udsoncan.exceptions import NegativeResponseException, TimeoutException
from udsoncan.services import DiagnosticSessionControl, ECUReset

from doip_rs.connectors import DoIPClientUDSConnector

from conftest import VIN, connect, xor_key

DOWNLOAD_ADDRESS = 0x00200000


def _config(**extra):
    config = dict(udsoncan.configs.default_client_config)
    config["data_identifiers"] = {
        0xF190: udsoncan.AsciiCodec(17),
        0xF187: udsoncan.AsciiCodec(11),
        0xF186: udsoncan.DidCodec("B"),
    }
    config["security_algo"] = lambda level, seed, params=None: xor_key(seed)
    config["request_timeout"] = 3
    config.update(extra)
    return config


@pytest.fixture
def gated_sim(make_sim):
    """The engine ECU writing memory only in the programming session, unlocked at level 1."""
    engine = {
        "name": "engine", "logical_address": "0x4011", "p2_ms": 120, "p2_star_ms": 3000,
        "dids": {"0xF187": "ascii:ENGINE-0001"},
        "download_requires_session": 2, "download_requires_security": 1,
    }
    return make_sim(ecus=[engine])


@pytest.fixture
def uds(gated_sim):
    doip = connect(gated_sim)
    with Client(DoIPClientUDSConnector(doip), config=_config()) as client:
        yield client
    doip.close()


def test_session_control_timing_is_parsed_by_udsoncan(uds):
    response = uds.change_session(DiagnosticSessionControl.Session.extendedDiagnosticSession)
    assert response.positive
    assert response.service_data.session_echo == 0x03
    assert response.service_data.p2_server_max == pytest.approx(0.120)
    assert response.service_data.p2_star_server_max == pytest.approx(3.0)
    assert uds.read_data_by_identifier(0xF186).service_data.values[0xF186] == (0x03,)


def test_read_data_by_identifier_with_a_did_codec(uds):
    response = uds.read_data_by_identifier(0xF190)
    assert response.service_data.values[0xF190] == VIN
    values = uds.read_data_by_identifier([0xF190, 0xF187]).service_data.values
    assert values == {0xF190: VIN, 0xF187: "ENGINE-0001"}


def test_a_negative_response_raises_in_udsoncan(uds):
    with pytest.raises(NegativeResponseException) as refused:
        uds.request_seed(1)  # SecurityAccess is refused in the default session
    assert refused.value.response.code == 0x7F
    uds.change_session(DiagnosticSessionControl.Session.extendedDiagnosticSession)
    with pytest.raises(NegativeResponseException) as refused:
        uds.send_key(2, b"\x00\x00\x00\x00")  # a key before any seed
    assert refused.value.response.code == 0x24  # requestSequenceError


def test_ecu_reset_then_reconnect(gated_sim):
    doip = connect(gated_sim)
    with Client(DoIPClientUDSConnector(doip), config=_config()) as client:
        response = client.ecu_reset(ECUReset.ResetType.hardReset)
        assert response.positive and response.service_data.reset_type_echo == 0x01
        doip.reconnect(close_delay=0.5)
        assert client.tester_present().positive
    doip.close()


def test_a_silent_ecu_is_a_udsoncan_timeout(gated_sim):
    gated_sim.set_faults(drop_response=True)
    doip = connect(gated_sim)
    with Client(DoIPClientUDSConnector(doip), config=_config(request_timeout=0.5)) as client:
        with pytest.raises(TimeoutException):
            client.tester_present()
    doip.close()


def test_download_64_kib_then_read_it_back(uds):
    data = os.urandom(64 * 1024)
    location = MemoryLocation(DOWNLOAD_ADDRESS, len(data), address_format=32, memorysize_format=32)
    # Gated: not in the default session, not while locked.
    with pytest.raises(NegativeResponseException) as refused:
        uds.request_download(location)
    assert refused.value.response.code == 0x7F  # serviceNotSupportedInActiveSession
    uds.change_session(DiagnosticSessionControl.Session.programmingSession)
    with pytest.raises(NegativeResponseException) as refused:
        uds.request_download(location)
    assert refused.value.response.code == 0x33  # securityAccessDenied
    assert uds.unlock_security_access(1).positive

    response = uds.request_download(location)
    block = response.service_data.max_length - 2  # SID and counter
    assert block == 4093
    counter = 1
    for offset in range(0, len(data), block):
        response = uds.transfer_data(counter & 0xFF, data[offset:offset + block])
        assert response.service_data.sequence_number_echo == counter & 0xFF
        counter += 1
    assert counter - 1 == -(-len(data) // block)
    assert uds.request_transfer_exit().positive

    # ReadMemoryByAddress, in pieces the ECU accepts.
    read = bytearray()
    for offset in range(0, len(data), 4000):
        n = min(4000, len(data) - offset)
        piece = MemoryLocation(DOWNLOAD_ADDRESS + offset, n, address_format=32, memorysize_format=32)
        read += uds.read_memory_by_address(piece).service_data.memory_block
    assert bytes(read) == data

    # RequestUpload of the whole image.
    assert uds.request_upload(location).positive
    uploaded = bytearray()
    counter = 1
    for _ in range(len(data) // 1000 + 2):  # bounded
        if len(uploaded) >= len(data):
            break
        uploaded += uds.transfer_data(counter & 0xFF).service_data.parameter_records
        counter += 1
    assert uds.request_transfer_exit().positive
    assert bytes(uploaded) == data


def test_the_connector(gated_sim):
    doip = connect(gated_sim)
    conn = DoIPClientUDSConnector(doip, name="engine")
    assert not conn.is_open()
    with conn.open():
        assert conn.is_open()
        conn.send(b"\x3e\x00")
        assert conn.wait_frame(timeout=2) == b"\x7e\x00"
        conn.send(b"\x22\xf1\x90")
        assert conn.wait_frame(timeout=2, exception=True)[3:] == VIN.encode()
        with pytest.raises(TimeoutException):
            conn.wait_frame(timeout=0.2, exception=True)
        conn.send(b"\x3e\x00")
        assert doip.receive_diagnostic(timeout=2) == b"\x7e\x00"  # the same client underneath
        conn.empty_rxqueue()
        conn.empty_txqueue()
    assert not conn.is_open()
    assert not doip.closed  # close_connection=False by default
    closing = DoIPClientUDSConnector(doip, close_connection=True).open()
    closing.close()
    assert doip.closed


def test_the_connectors_empty_rxqueue_drops_only_its_ecus_messages(client):
    conn = DoIPClientUDSConnector(client)
    client.send_diagnostic(b"\x3e\x00")  # the connector's ECU: a stale answer
    client.send_diagnostic(b"\x3e\x00", target=0x4012)  # another ECU's, for someone else
    deadline = time.monotonic() + 5
    while client.counters()["unsolicited"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    conn.empty_rxqueue()
    with pytest.raises(TimeoutError):
        client.receive_diagnostic(timeout=0.2)
    assert client.receive_diagnostic_from_any(timeout=2) == (0x4012, b"\x7e\x00")
