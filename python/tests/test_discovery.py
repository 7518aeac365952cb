"""Finding entities: get_entity and await_vehicle_announcement (doipclient's classmethods,
also their sock= form) and discover, over UDP on 127.0.0.1."""

import socket
import time

import pytest

import doip_rs
from doip_rs import DoIPClient
from doip_rs.messages import VehicleIdentificationResponse

from conftest import EID, GATEWAY, GID, VIN, Background, free_udp_port


def _is_the_simulator(announcement, sim):
    assert isinstance(announcement, VehicleIdentificationResponse)
    assert (announcement.vin, announcement.logical_address) == (VIN, GATEWAY)
    assert (announcement.eid, announcement.gid) == (EID, GID)


# --- get_entity ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"eid": EID}, {"vin": VIN}])
def test_get_entity(sim, kwargs):
    address, announcement = DoIPClient.get_entity(ecu_ip_address="127.0.0.1", udp_port=sim.udp_port, **kwargs)
    assert address == ("127.0.0.1", sim.udp_port)
    _is_the_simulator(announcement, sim)


@pytest.mark.parametrize("kwargs", [{"eid": b"\x01" * 6}, {"vin": "X" * 17}])
def test_get_entity_of_another_vehicle_times_out(sim, kwargs):
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        DoIPClient.get_entity("127.0.0.1", udp_port=sim.udp_port, timeout=0.4, **kwargs)
    assert 0.35 <= time.monotonic() - start < 3


def test_get_entity_then_connect_to_what_it_found(sim):
    (ip, _), announcement = DoIPClient.get_entity("127.0.0.1", udp_port=sim.udp_port)
    with DoIPClient(ip, announcement.logical_address, tcp_port=sim.tcp_port, udp_port=sim.udp_port) as c:
        assert c.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN.encode()


# --- discover ------------------------------------------------------------------------------


def test_discover_lists_the_entity(sim):
    found = DoIPClient.discover("127.0.0.1", udp_port=sim.udp_port, timeout=0.5)
    assert isinstance(found, list) and len(found) == 1
    address, announcement = found[0]
    assert address == ("127.0.0.1", sim.udp_port)
    _is_the_simulator(announcement, sim)


def test_discover_collects_for_the_whole_window(sim):
    start = time.monotonic()
    DoIPClient.discover("127.0.0.1", udp_port=sim.udp_port, timeout=0.4)
    assert time.monotonic() - start >= 0.35


def test_discover_filters_by_eid_and_vin(sim):
    assert len(DoIPClient.discover("127.0.0.1", eid=EID, udp_port=sim.udp_port, timeout=0.3)) == 1
    assert len(DoIPClient.discover("127.0.0.1", vin=VIN, udp_port=sim.udp_port, timeout=0.3)) == 1
    assert DoIPClient.discover("127.0.0.1", vin="Y" * 17, udp_port=sim.udp_port, timeout=0.3) == []


def test_discover_with_nobody_there_is_an_empty_list():
    assert DoIPClient.discover("127.0.0.1", udp_port=free_udp_port(), timeout=0.3) == []


def test_each_simulator_answers_on_its_own_port(make_sim):
    a = make_sim(identity={"logical_address": "0x1001", "eid": "02:00:00:00:10:01"})
    b = make_sim(identity={"logical_address": "0x1002", "eid": "02:00:00:00:10:02"})
    found = [DoIPClient.discover("127.0.0.1", udp_port=s.udp_port, timeout=0.3) for s in (a, b)]
    assert [[r.logical_address for _, r in f] for f in found] == [[0x1001], [0x1002]]
    assert [f[0][0] for f in found] == [("127.0.0.1", a.udp_port), ("127.0.0.1", b.udp_port)]


# --- await_vehicle_announcement ----------------------------------------------------------


def test_await_vehicle_announcement_of_an_entity_starting_up():
    port = free_udp_port()
    waiting = Background(lambda: DoIPClient.await_vehicle_announcement(udp_port=port, timeout=10))
    time.sleep(0.3)  # the listener is bound by now; then the "ECU" powers up
    with doip_rs.Simulator(announce={"to": f"127.0.0.1:{port}", "count": 3, "interval_ms": 100}) as sim:
        address, announcement = waiting.result(timeout=12)
        assert address == ("127.0.0.1", sim.udp_port)
        _is_the_simulator(announcement, sim)


def test_await_vehicle_announcement_on_the_callers_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with doip_rs.Simulator(announce={"to": f"127.0.0.1:{port}", "count": 3, "interval_ms": 100}) as sim:
            start = time.monotonic()
            announcements = [DoIPClient.await_vehicle_announcement(sock=sock, timeout=5) for _ in range(3)]
            assert time.monotonic() - start >= 0.15  # three, 100 ms apart
            for address, announcement in announcements:
                assert address == ("127.0.0.1", sim.udp_port)
                _is_the_simulator(announcement, sim)
            # Only three were sent.
            with pytest.raises(TimeoutError):
                DoIPClient.await_vehicle_announcement(sock=sock, timeout=0.4)


def test_await_vehicle_announcement_skips_datagrams_that_are_not_announcements():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sock.bind(("127.0.0.1", 0))
        target = sock.getsockname()
        sender.sendto(b"garbage", target)
        sender.sendto(bytes.fromhex("02fd000700000000"), target)  # an alive check request
        with doip_rs.Simulator(announce={"to": f"127.0.0.1:{target[1]}", "count": 1, "interval_ms": 100}) as sim:
            address, announcement = DoIPClient.await_vehicle_announcement(sock=sock, timeout=5)
            assert address == ("127.0.0.1", sim.udp_port)
            _is_the_simulator(announcement, sim)


def test_await_vehicle_announcement_times_out():
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        DoIPClient.await_vehicle_announcement(udp_port=free_udp_port(), timeout=0.3)
    assert 0.25 <= time.monotonic() - start < 3
