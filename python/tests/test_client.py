"""DoIPClient's doipclient methods against a simulated entity: the constructor and its
errors, routing activation, the UDP requests, raw DoIP messages, the queues, close,
reconnect and the context manager."""

import inspect
import time

import doipclient
import pytest

import doip_rs
from doip_rs import DoIPClient
from doip_rs.messages import (
    AliveCheckRequest,
    AliveCheckResponse,
    DiagnosticPowerModeRequest,
    DiagnosticPowerModeResponse,
    DoipEntityStatusRequest,
    EntityStatusResponse,
    RoutingActivationRequest,
    RoutingActivationResponse,
    VehicleIdentificationRequest,
    VehicleIdentificationResponse,
)

from conftest import EID, ENGINE, GATEWAY, GID, VIN, connect, free_tcp_port, wait_until

UDP = DoIPClient.TransportType.TRANSPORT_UDP
TCP = DoIPClient.TransportType.TRANSPORT_TCP
Code = RoutingActivationResponse.ResponseCode


# --- the API doipclient has, with its defaults --------------------------------------------


def _public(cls):
    return {
        n for n in vars(cls)
        if not n.startswith("_") and (inspect.isfunction(getattr(cls, n)) or inspect.ismethod(getattr(cls, n)))
    }


def test_every_doipclient_method_exists_with_the_same_defaults():
    ours, theirs = DoIPClient, doipclient.DoIPClient
    missing = _public(theirs) - set(dir(ours))
    assert not missing
    for name in sorted(_public(theirs)) + ["__init__"]:
        mine = inspect.signature(getattr(ours, name)).parameters
        for p in inspect.signature(getattr(theirs, name)).parameters.values():
            assert p.name in mine, f"{name} lacks parameter {p.name}"
            assert mine[p.name].default == p.default, f"{name}({p.name}=) default differs"
    assert {t.name: t.value for t in ours.TransportType} == {t.name: t.value for t in theirs.TransportType}


def test_the_client_module_re_exports_the_message_classes_as_doipclients_does():
    import doip_rs.client as ours

    for name in ("RoutingActivationRequest", "DiagnosticMessage", "VehicleIdentificationResponse"):
        assert getattr(ours, name) is getattr(doip_rs.messages, name)


# --- constructor ---------------------------------------------------------------------------


def test_constructor_defaults_connect_and_activate(sim):
    with DoIPClient(sim.ip, ENGINE, tcp_port=sim.tcp_port, udp_port=sim.udp_port) as c:
        assert not c.closed
        assert c.vm_specific is None
        assert "0x4011" in repr(c) and "0x0e00" in repr(c)
        # Activated with the default type by the constructor: UDS goes through at once.
        assert c.request(b"\x3e\x00") == b"\x7e\x00"
        answer = c.request_activation(RoutingActivationRequest.ActivationType.Default)
        assert answer.client_logical_address == 0x0E00  # the default tester address
        assert answer.logical_address == GATEWAY
        assert answer.response_code == Code.Success


def test_constructor_with_its_optional_arguments(sim):
    with connect(sim, client_logical_address=0x0E42, client_ip_address="127.0.0.1",
                 protocol_version=0x02, auto_reconnect_tcp=False) as c:
        assert c.request_activation(0).client_logical_address == 0x0E42
        assert c.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN.encode()


@pytest.mark.parametrize("ip", ["not-an-ip", "256.1.1.1", "127.0.0", ""])
def test_a_bad_ip_address_is_a_value_error(ip):
    with pytest.raises(ValueError):
        DoIPClient(ip, ENGINE, tcp_port=free_tcp_port())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ecu_logical_address": 0x10000},
        {"ecu_logical_address": -1},
        {"ecu_logical_address": "0x4011"},
        {"client_logical_address": 0x10000},
        {"tcp_port": 70000},
        {"udp_port": -5},
        {"protocol_version": 0x100},
        {"activation_type": 0x100},
        {"vm_specific": 0x1_0000_0000},
        {"vm_specific": -1},
        {"vm_specific": "1234"},
    ],
)
def test_out_of_range_arguments_are_value_errors(sim, kwargs):
    args = {"ecu_ip_address": sim.ip, "ecu_logical_address": ENGINE, "tcp_port": sim.tcp_port}
    args.update(kwargs)
    with pytest.raises(ValueError):
        DoIPClient(**args)


def test_no_listener_is_connection_refused():
    with pytest.raises(ConnectionRefusedError):
        DoIPClient("127.0.0.1", ENGINE, tcp_port=free_tcp_port())


def test_an_unknown_tester_address_is_refused_with_its_code(make_sim):
    sim = make_sim(routing={"known_testers": ["0x0E80"]})
    with pytest.raises(doip_rs.ActivationDeniedError) as refused:
        connect(sim)
    assert isinstance(refused.value, ConnectionRefusedError)  # what doipclient raises
    assert refused.value.response_code == Code.DeniedUnknownSourceAddress == 0x00
    # The tester the entity knows is let in.
    with connect(sim, client_logical_address=0x0E80) as c:
        assert c.request(b"\x3e\x00") == b"\x7e\x00"


def test_an_unsupported_activation_type_is_refused_with_its_code(sim):
    with pytest.raises(ConnectionRefusedError) as refused:
        connect(sim, activation_type=0x05)
    assert refused.value.response_code == Code.DeniedUnsupportedActivationType == 0x06


def test_vm_specific_is_the_authentication_the_entity_asks_for(make_sim):
    sim = make_sim(routing={"authentication_key": "c0ffee00"})
    with pytest.raises(doip_rs.ActivationDeniedError) as refused:
        connect(sim)
    assert refused.value.response_code == Code.DeniedMissingAuthentication
    with connect(sim, vm_specific=0xC0FFEE00) as c:
        assert c.vm_specific == 0xC0FFEE00
        assert c.request(b"\x3e\x00") == b"\x7e\x00"
        with pytest.raises(ValueError):
            c.vm_specific = 0x1_0000_0000
        c.vm_specific = None
        assert c.vm_specific is None
        # The value set is what reconnects activate with, as with doipclient.
        c.vm_specific = 0x12345678
        with pytest.raises(doip_rs.ActivationDeniedError):
            c.reconnect(close_delay=0)
        c.vm_specific = 0xC0FFEE00
        c.reconnect(close_delay=0)
        assert c.request(b"\x3e\x00") == b"\x7e\x00"


# --- request_activation ----------------------------------------------------------------------


def test_request_activation_returns_the_refusal_too(make_sim):
    sim = make_sim(routing={"known_testers": ["0x0E80"]})
    with connect(sim, activation_type=None) as c:  # connects without activating
        answer = c.request_activation(RoutingActivationRequest.ActivationType.Default)
    assert isinstance(answer, RoutingActivationResponse)
    assert answer.response_code == Code.DeniedUnknownSourceAddress
    assert answer.response_code.name == "DeniedUnknownSourceAddress"
    assert answer.client_logical_address == 0x0E00 and answer.logical_address == GATEWAY


def test_request_activation_of_an_unsupported_type(sim):
    with connect(sim, activation_type=None) as c:
        answer = c.request_activation(0x05)
    assert answer.response_code == Code.DeniedUnsupportedActivationType


def test_activation_type_none_then_request_activation(sim):
    with connect(sim, activation_type=None) as c:
        answer = c.request_activation(RoutingActivationRequest.ActivationType.DiagnosticRequiredByRegulation)
        assert answer.response_code == Code.Success
        assert c.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN.encode()


# --- the other requests ----------------------------------------------------------------------


def test_request_alive_check(client):
    answer = client.request_alive_check()
    assert isinstance(answer, AliveCheckResponse)
    assert answer.source_address == GATEWAY


def test_request_entity_status_counts_the_open_sockets(make_sim):
    sim = make_sim(identity={"max_sockets": 3, "max_data_size": 4096, "node_type": "node"})
    with connect(sim) as first:
        status = first.request_entity_status()
        assert isinstance(status, EntityStatusResponse)
        assert (status.node_type, status.max_concurrent_sockets, status.max_data_size) == (1, 3, 4096)
        assert status.currently_open_sockets == 1
        with connect(sim, client_logical_address=0x0E01):
            assert first.request_entity_status().currently_open_sockets == 2


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_request_diagnostic_power_mode(make_sim, mode):
    sim = make_sim(identity={"power_mode": mode})
    with connect(sim) as c:
        answer = c.request_diagnostic_power_mode()
    assert isinstance(answer, DiagnosticPowerModeResponse)
    assert answer.diagnostic_power_mode == mode
    assert answer.diagnostic_power_mode is DiagnosticPowerModeResponse.DiagnosticPowerMode(mode)


def test_request_vehicle_identification_plain_by_eid_and_by_vin(client):
    for kwargs in ({}, {"eid": EID}, {"vin": VIN}, {"vin": VIN.encode()}):
        answer = client.request_vehicle_identification(**kwargs)
        assert isinstance(answer, VehicleIdentificationResponse), kwargs
        assert (answer.vin, answer.logical_address, answer.eid, answer.gid) == (VIN, GATEWAY, EID, GID)
        assert answer.further_action_required == 0
        assert answer.vin_sync_status is None  # the 32-byte form


def test_vehicle_identification_carries_the_configured_codes(make_sim):
    sim = make_sim(identity={"further_action": 0x10, "sync_status": 0x10})
    with connect(sim) as c:
        answer = c.request_vehicle_identification()
    codes = VehicleIdentificationResponse
    assert answer.further_action_required is codes.FurtherActionCodes.RoutingActivationRequired
    assert answer.vin_sync_status is codes.SynchronizationStatusCodes.Incomplete


def test_bad_eid_or_vin_arguments(client):
    with pytest.raises(ValueError):
        client.request_vehicle_identification(eid=b"\x01\x02")
    with pytest.raises(ValueError):
        client.request_vehicle_identification(vin="SHORT")


# --- raw DoIP: send_doip, send_doip_message, read_doip -----------------------------------


def test_send_doip_message_over_tcp_then_read_doip(client):
    client.send_doip_message(AliveCheckRequest())
    answer = client.read_doip()
    assert isinstance(answer, AliveCheckResponse) and answer.source_address == GATEWAY


def test_send_doip_message_over_udp_then_read_doip_udp(client):
    client.send_doip_message(DoipEntityStatusRequest(), transport=UDP)
    status = client.read_doip(transport=UDP)
    assert isinstance(status, EntityStatusResponse) and status.currently_open_sockets == 1
    client.send_doip_message(VehicleIdentificationRequest(), transport=UDP)
    assert client.read_doip(timeout=2, transport=UDP).vin == VIN


def test_send_doip_with_raw_payloads(client):
    client.send_doip(DiagnosticPowerModeRequest.payload_type, b"", transport=UDP)
    assert client.read_doip(transport=UDP).diagnostic_power_mode == 1
    client.send_doip(AliveCheckRequest.payload_type, bytearray())
    assert isinstance(client.read_doip(transport=TCP), AliveCheckResponse)
    with pytest.raises(ValueError):
        client.send_doip(0x10000, b"")
    with pytest.raises(ValueError):
        client.send_doip(0x0007, b"", transport=3)


def test_a_generic_nack_over_udp_raises_from_read_doip(client):
    client.send_doip(0x1234, b"\x00", transport=UDP)  # an unknown payload type
    with pytest.raises(OSError) as nack:
        client.read_doip(timeout=2, transport=UDP)
    assert isinstance(nack.value, doip_rs.GenericNackError)
    assert nack.value.nack_code == 0x01  # unknown payload type


def test_a_generic_nack_over_tcp_is_counted(client):
    client.send_doip(0x1234, b"\x00")
    assert wait_until(lambda: client.counters()["generic_nacks"] == 1, timeout=5)
    assert client.request(b"\x3e\x00") == b"\x7e\x00"  # the connection stays usable


def test_a_generic_nack_over_tcp_raises_from_read_doip(client):
    client.send_doip(0x1234, b"\x00")
    with pytest.raises(doip_rs.GenericNackError):
        client.read_doip(timeout=1)


@pytest.mark.parametrize("transport", [TCP, UDP])
def test_read_doip_times_out(client, transport):
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.read_doip(timeout=0.3, transport=transport)
    assert 0.25 <= time.monotonic() - start < 3


# --- queues ----------------------------------------------------------------------------------


def test_empty_rxqueue_returns_how_many_it_dropped(client):
    assert client.empty_rxqueue() == 0
    client.send_diagnostic(b"\x3e\x00")
    client.send_diagnostic(b"\x22\xf1\x90")
    assert wait_until(lambda: client.counters()["unsolicited"] >= 2, timeout=5)
    assert client.empty_rxqueue() == 2
    assert client.empty_rxqueue() == 0
    with pytest.raises(TimeoutError):  # the answers are gone
        client.receive_diagnostic(timeout=0.2)


def test_empty_txqueue_between_calls_is_zero(client):
    assert client.empty_txqueue() == 0
    client.send_diagnostic(b"\x3e\x00")
    assert client.empty_txqueue() == 0
    assert client.receive_diagnostic(timeout=2) == b"\x7e\x00"  # nothing sent was lost


# --- close, context manager, reconnect ---------------------------------------------------


CALLS_AFTER_CLOSE = {
    "request": lambda c: c.request(b"\x3e\x00"),
    "send_diagnostic": lambda c: c.send_diagnostic(b"\x3e\x00"),
    "send_diagnostic_to_address": lambda c: c.send_diagnostic_to_address(ENGINE, b"\x3e\x00"),
    "receive_diagnostic": lambda c: c.receive_diagnostic(timeout=0.1),
    "receive_diagnostic_from_any": lambda c: c.receive_diagnostic_from_any(timeout=0.1),
    "functional_request": lambda c: c.functional_request(b"\x3e\x00", timeout=0.1),
    "request_activation": lambda c: c.request_activation(0),
    "request_alive_check": lambda c: c.request_alive_check(),
    "request_entity_status": lambda c: c.request_entity_status(),
    "request_diagnostic_power_mode": lambda c: c.request_diagnostic_power_mode(),
    "request_vehicle_identification": lambda c: c.request_vehicle_identification(),
    "read_doip": lambda c: c.read_doip(timeout=0.1),
    "send_doip": lambda c: c.send_doip(0x0007, b""),
    "send_doip_message": lambda c: c.send_doip_message(AliveCheckRequest()),
    "empty_rxqueue": lambda c: c.empty_rxqueue(),
    "reconnect": lambda c: c.reconnect(close_delay=0),
    "keep_alive": lambda c: c.keep_alive(1.0),
    "counters": lambda c: c.counters(),
    "flash": lambda c: c.flash(b"\x00" * 16, address=0x1000),
}


@pytest.mark.parametrize("call", CALLS_AFTER_CLOSE.values(), ids=CALLS_AFTER_CLOSE.keys())
def test_calls_after_close_raise_connection_error(sim, call):
    c = connect(sim)
    c.close()
    c.close()  # closing twice is fine
    assert c.closed
    with pytest.raises(ConnectionError):
        call(c)


def test_close_closes_the_socket_at_the_entity(sim):
    c = connect(sim)
    with connect(sim, client_logical_address=0x0E01) as other:
        assert other.request_entity_status().currently_open_sockets == 2
        c.close()
        assert wait_until(lambda: other.request_entity_status().currently_open_sockets == 1, timeout=5)


def test_the_context_manager_closes_also_on_an_exception(sim):
    with pytest.raises(RuntimeError):
        with connect(sim) as c:
            assert c.request(b"\x3e\x00") == b"\x7e\x00"
            raise RuntimeError("inside")
    assert c.closed
    with pytest.raises(ConnectionError):
        c.request(b"\x3e\x00")


def test_reconnect_after_an_ecu_reset(client):
    assert client.request(b"\x11\x01") == b"\x51\x01"
    # The entity drops every connection for its reset time: the old one is gone.
    with pytest.raises(ConnectionError):
        client.request(b"\x3e\x00")
    start = time.monotonic()
    client.reconnect(close_delay=0.5)
    assert time.monotonic() - start >= 0.45
    assert client.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN.encode()
    assert client.counters()["reconnects"] == 1


def test_reconnect_retries_while_the_entity_resets(client):
    assert client.request(b"\x11\x01") == b"\x51\x01"
    client.reconnect(close_delay=0)  # the entity refuses for 200 ms; reconnect retries
    assert client.request(b"\x3e\x00") == b"\x7e\x00"


def test_reconnect_of_a_healthy_connection_activates_again(client):
    client.reconnect(close_delay=0.05)
    assert client.request(b"\x3e\x00") == b"\x7e\x00"
    assert client.request_entity_status().currently_open_sockets == 1


def test_counters(client):
    before = client.counters()
    assert set(before) == {
        "frames_sent", "frames_received", "bytes_sent", "bytes_received", "nacks",
        "generic_nacks", "reconnects", "unsolicited", "unsolicited_dropped",
    }
    assert before["frames_sent"] >= 1 and before["frames_received"] >= 1  # the activation
    client.request(b"\x22\xf1\x90")
    after = client.counters()
    assert after["frames_sent"] == before["frames_sent"] + 1
    assert after["frames_received"] == before["frames_received"] + 2  # ACK and answer
    assert after["bytes_received"] - before["bytes_received"] == (8 + 5) + (8 + 4 + 3 + 17)
    with pytest.raises(OSError):
        client.send_diagnostic(b"\x3e\x00", target=0x4999)
    assert client.counters()["nacks"] == 1
