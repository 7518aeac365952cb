"""UDS through DoIPClient: send_diagnostic / receive_diagnostic (doipclient's pair),
send_diagnostic_to_address, a target per call, and doip_rs's request, functional_request
and keep_alive, against the simulator's ECUs."""

import time

import pytest

import doip_rs
from doip_rs.messages import DiagnosticMessageNegativeAcknowledgement

from conftest import BRAKES, ENGINE, FUNCTIONAL, GATEWAY, VIN, Background, connect

VIN_ANSWER = b"\x62\xf1\x90" + VIN.encode()


# --- send_diagnostic / receive_diagnostic -------------------------------------------------


def test_send_then_receive_diagnostic(client):
    assert client.send_diagnostic(b"\x22\xf1\x90") is None
    answer = client.receive_diagnostic(timeout=2)
    assert isinstance(answer, bytearray)  # as doipclient's user_data
    assert answer == VIN_ANSWER


@pytest.mark.parametrize("payload", [bytearray(b"\x22\xf1\x87"), memoryview(b"\x22\xf1\x87"), [0x22, 0xF1, 0x87]])
def test_any_bytes_like_payload(client, payload):
    client.send_diagnostic(payload)
    assert client.receive_diagnostic(timeout=2) == b"\x62\xf1\x87ENGINE-0001"


def test_a_str_payload_is_a_type_error(client):
    with pytest.raises(TypeError):
        client.send_diagnostic("\x22\xf1\x90")


def test_receive_diagnostic_waits_two_seconds_by_default_as_doipclient(sim, client):
    sim.set_faults(response_delay_ms=700)
    client.send_diagnostic(b"\x3e\x00")
    start = time.monotonic()
    answer = Background(client.receive_diagnostic).result(timeout=10)  # timeout=None
    assert answer == b"\x7e\x00"
    assert time.monotonic() - start >= 0.5
    # Nothing more comes: doipclient's read_doip gives up after A_PROCESSING_TIME (2 s).
    for timeout in (None, 0):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            client.receive_diagnostic(timeout=timeout)
        assert 1.9 <= time.monotonic() - start < 10


def test_read_doip_zero_takes_only_what_is_queued(client):
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.read_doip(timeout=0)
    assert time.monotonic() - start < 1


def test_receive_diagnostic_times_out(sim, client):
    sim.set_faults(drop_response=True)
    client.send_diagnostic(b"\x3e\x00")  # acknowledged, never answered
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.receive_diagnostic(timeout=0.4)
    assert 0.35 <= time.monotonic() - start < 3


def test_send_diagnostic_times_out_without_an_ack(sim, client):
    sim.set_faults(drop_ack=True, drop_response=True)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.send_diagnostic(b"\x3e\x00", timeout=0.3)
    assert 0.25 <= time.monotonic() - start < 3


def test_send_diagnostic_waits_for_a_late_ack(sim, client):
    sim.set_faults(ack_delay_ms=300)
    start = time.monotonic()
    client.send_diagnostic(b"\x3e\x00", timeout=3)
    assert time.monotonic() - start >= 0.25
    assert client.receive_diagnostic(timeout=3) == b"\x7e\x00"


def test_an_unknown_target_is_a_diagnostic_nack(client):
    with pytest.raises(OSError) as refused:  # doipclient raises IOError (= OSError)
        client.send_diagnostic(b"\x3e\x00", target=0x4999)
    assert isinstance(refused.value, doip_rs.DiagnosticNackError)
    assert refused.value.nack_code == 3
    assert refused.value.nack_code == DiagnosticMessageNegativeAcknowledgement.NackCodes.UnknownTargetAddress
    assert refused.value.target_address == 0x4999
    # The client's own ECU is still reachable.
    client.send_diagnostic(b"\x3e\x00")
    assert client.receive_diagnostic(timeout=2) == b"\x7e\x00"


def test_a_message_beyond_max_data_size_is_nacked(make_sim):
    sim = make_sim(identity={"max_data_size": 64})
    with connect(sim) as c:
        with pytest.raises(doip_rs.DiagnosticNackError) as refused:
            c.send_diagnostic(b"\x2e\xf1\x98" + b"\x00" * 100)
    assert refused.value.nack_code == DiagnosticMessageNegativeAcknowledgement.NackCodes.DiagnosticMessageTooLarge


def test_send_diagnostic_with_a_target(client):
    client.send_diagnostic(b"\x22\xf1\x87", target=BRAKES)
    # receive_diagnostic reads the client's ECU only; the brakes' answer stays queued.
    with pytest.raises(TimeoutError):
        client.receive_diagnostic(timeout=0.3)
    assert client.receive_diagnostic_from_any(timeout=2) == (BRAKES, b"\x62\xf1\x87BRAKES-0001")


def test_send_diagnostic_to_address(client):
    client.send_diagnostic_to_address(GATEWAY, b"\x22\xf1\x90")
    source, answer = client.receive_diagnostic_from_any(timeout=2)
    assert (source, answer) == (GATEWAY, VIN_ANSWER)
    assert isinstance(answer, bytearray)


def test_send_diagnostic_to_the_functional_address(client):
    client.send_diagnostic_to_address(FUNCTIONAL, b"\x3e\x00")
    answers = [client.receive_diagnostic_from_any(timeout=2) for _ in range(3)]
    assert sorted(answers) == [(GATEWAY, b"\x7e\x00"), (ENGINE, b"\x7e\x00"), (BRAKES, b"\x7e\x00")]
    with pytest.raises(TimeoutError):
        client.receive_diagnostic_from_any(timeout=0.2)


# --- request ----------------------------------------------------------------------------


def test_request_returns_the_answer(client):
    assert client.request(b"\x22\xf1\x90") == VIN_ANSWER
    assert client.request(b"\x22\xf1\x87", target=BRAKES) == b"\x62\xf1\x87BRAKES-0001"
    assert client.request(b"\x10\x03") == b"\x50\x03\x00\x32\x01\xf4"
    assert client.request(b"\x22\xf1\x86") == b"\x62\xf1\x86\x03"  # the session it opened


def test_request_returns_negative_answers_as_received(client):
    assert client.request(b"\x22\x12\x34") == b"\x7f\x22\x31"  # requestOutOfRange
    assert client.request(b"\x27\x01") == b"\x7f\x27\x7f"  # not in the default session


def test_request_with_suppressed_positive_response_is_empty(client):
    assert client.request(b"\x3e\x80") == b""
    assert client.request(b"\x3e\x00") == b"\x7e\x00"


def test_request_waits_through_response_pending(make_sim):
    engine = {
        "name": "engine", "logical_address": "0x4011", "routines": {"0x0203": "00"},
        "pending": [{"service": 0x31, "count": 3, "interval_ms": 50}],
    }
    sim = make_sim(ecus=[engine])
    with connect(sim) as c:
        start = time.monotonic()
        assert c.request(b"\x31\x01\x02\x03") == b"\x71\x01\x02\x03\x00"
        assert time.monotonic() - start >= 0.12  # three "pending", 50 ms apart
        # doipclient's way shows what request() waited through.
        c.send_diagnostic(b"\x31\x01\x02\x03")
        seen = []
        for _ in range(10):
            seen.append(bytes(c.receive_diagnostic(timeout=2)))
            if seen[-1][0] != 0x7F:
                break
        assert seen == [b"\x7f\x31\x78"] * 3 + [b"\x71\x01\x02\x03\x00"]


def test_request_timeout_caps_the_exchange(sim, client):
    sim.set_faults(drop_response=True)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        client.request(b"\x3e\x00", timeout=0.5)
    assert 0.45 <= time.monotonic() - start < 3


def test_request_to_an_unknown_target(client):
    with pytest.raises(doip_rs.DiagnosticNackError) as refused:
        client.request(b"\x3e\x00", target=0x4999)
    assert refused.value.nack_code == 3


def test_a_request_on_a_connection_the_entity_dropped_is_a_connection_error(client):
    assert client.request(b"\x11\x01") == b"\x51\x01"
    with pytest.raises(ConnectionError):
        client.request(b"\x3e\x00")


def test_auto_reconnect_tcp_reconnects_after_an_ecu_reset(sim):
    with connect(sim, auto_reconnect_tcp=True) as c:
        assert c.request(b"\x11\x01") == b"\x51\x01"
        # Give the entity time to drop the connection: a request written before it does is
        # (rightly) MaybeDeliveredError, never re-sent; one sent after finds it closed and
        # reconnects first.
        time.sleep(0.5)
        assert c.request(b"\x3e\x00") == b"\x7e\x00"
        assert c.counters()["reconnects"] == 1


# --- functional_request -----------------------------------------------------------------


def test_functional_request_collects_every_ecus_answer(client):
    start = time.monotonic()
    answers = client.functional_request(b"\x3e\x00", timeout=0.5)
    assert time.monotonic() - start >= 0.45  # it listens for the whole window
    assert sorted(answers) == [(GATEWAY, b"\x7e\x00"), (ENGINE, b"\x7e\x00"), (BRAKES, b"\x7e\x00")]
    # Answers differ per ECU: the gateway has no part number, and its requestOutOfRange
    # is not sent to a functional request (ISO 14229-1 suppresses NRC 0x31 there).
    answers = dict(client.functional_request(b"\x22\xf1\x87", target=FUNCTIONAL, timeout=0.5))
    assert answers == {ENGINE: b"\x62\xf1\x87ENGINE-0001", BRAKES: b"\x62\xf1\x87BRAKES-0001"}
    # Other negative answers do come back, one per ECU.
    answers = client.functional_request(b"\x22\xf1", timeout=0.5)
    assert sorted(answers) == [(a, b"\x7f\x22\x13") for a in (GATEWAY, ENGINE, BRAKES)]


def test_functional_request_with_silent_ecus_is_empty(sim, client):
    sim.set_faults(drop_response=True)
    assert client.functional_request(b"\x3e\x00", timeout=0.3) == []


# --- keep_alive ---------------------------------------------------------------------------


def test_keep_alive_holds_the_session_while_python_sleeps(make_sim):
    sim = make_sim(ecus=[{"name": "engine", "logical_address": "0x4011", "s3_ms": 400}])
    with connect(sim) as c:
        # Without it, the ECU falls back to the default session after S3.
        assert c.request(b"\x10\x03")[:2] == b"\x50\x03"
        time.sleep(1.0)
        assert c.request(b"\x22\xf1\x86") == b"\x62\xf1\x86\x01"
        # With it, TesterPresent from the Rust thread keeps the extended session.
        assert c.request(b"\x10\x03")[:2] == b"\x50\x03"
        c.keep_alive(0.1)
        sent = c.counters()["frames_sent"]
        time.sleep(1.0)
        assert c.counters()["frames_sent"] - sent >= 3
        assert c.request(b"\x22\xf1\x86") == b"\x62\xf1\x86\x03"
        # None stops it.
        c.keep_alive(None)
        time.sleep(1.0)
        assert c.request(b"\x22\xf1\x86") == b"\x62\xf1\x86\x01"
        assert c.empty_rxqueue() == 0  # the TesterPresent answers (suppressed) queued nothing


def test_a_huge_sequence_is_refused_without_allocating_it(client):
    with pytest.raises(TypeError):
        client.send_diagnostic(range(2**40))
    with pytest.raises(ValueError):
        client.send_diagnostic([0] * (17 << 20))
