"""What the Rust core adds under Python's feet: one client shared by many threads, alive
checks answered while Python sleeps (where doipclient, answering only when read, loses its
connection), and the GIL released while a call waits."""

import threading
import time

import doipclient
import pytest

import doip_rs

from conftest import ENGINE, VIN, Background, connect

THREADS = 8


def test_one_client_from_eight_threads_each_gets_its_own_answers(make_sim):
    dids = {f"0x{0x0100 + i:04X}": f"ascii:THREAD-{i}-" + "x" * i for i in range(THREADS)}
    sim = make_sim(ecus=[{"name": "engine", "logical_address": "0x4011", "dids": dids}])
    rounds = 25
    with connect(sim) as c:
        barrier = threading.Barrier(THREADS, timeout=10)
        answers = {i: [] for i in range(THREADS)}

        def worker(i):
            did = (0x0100 + i).to_bytes(2, "big")
            barrier.wait()
            for _ in range(rounds):
                answers[i].append(c.request(b"\x22" + did))
            return i

        workers = [Background(lambda i=i: worker(i)) for i in range(THREADS)]
        assert sorted(w.result(timeout=30) for w in workers) == list(range(THREADS))
        for i in range(THREADS):
            expected = b"\x62" + (0x0100 + i).to_bytes(2, "big") + f"THREAD-{i}-".encode() + b"x" * i
            assert answers[i] == [expected] * rounds
        # Nothing was left over or lost.
        assert c.empty_rxqueue() == 0
        assert c.counters()["frames_received"] == 1 + 2 * THREADS * rounds


def test_threads_addressing_different_ecus_at_once(sim):
    with connect(sim) as c:
        targets = [0x4010, 0x4011, 0x4012] * 3
        expected = {0x4010: b"\x62\xf1\x90" + VIN.encode(), 0x4011: b"\x62\xf1\x87ENGINE-0001",
                    0x4012: b"\x62\xf1\x87BRAKES-0001"}

        def ask(target):
            did = b"\xf1\x90" if target == 0x4010 else b"\xf1\x87"
            return [c.request(b"\x22" + did, target=target) for _ in range(10)]

        workers = [(t, Background(lambda t=t: ask(t))) for t in targets]
        for target, w in workers:
            assert w.result(timeout=30) == [expected[target]] * 10


def test_alive_checks_are_answered_while_python_sleeps(sim):
    # The entity sends an alive check request every 200 ms once routing is active.
    sim.set_faults(alive_check_interval_ms=200)
    with connect(sim) as c:
        before = c.counters()
        time.sleep(2)
        assert c.request(b"\x22\xf1\x90") == b"\x62\xf1\x90" + VIN.encode()
        after = c.counters()
        assert after["frames_received"] >= before["frames_received"] + 2
        assert after["reconnects"] == 0
        # The requests from the entity were answered, not queued for the caller.
        assert c.empty_rxqueue() == 0
        # And answered at once: a second tester with the same address is refused (0x03)
        # because this connection answered the entity's alive check.
        with pytest.raises(doip_rs.ActivationDeniedError) as refused:
            connect(sim)
        assert refused.value.response_code == 0x03  # DeniedSARegistered
        assert c.request(b"\x3e\x00") == b"\x7e\x00"


def _contested(make_sim):
    """An entity with one socket and a 300 ms alive check: a second tester gets in only if
    the first does not answer the alive check the entity sends it."""
    return make_sim(identity={"max_sockets": 1}, timing={"alive_check_ms": 300})


def test_our_idle_client_keeps_its_socket(make_sim):
    sim = _contested(make_sim)
    with connect(sim) as first:
        time.sleep(0.5)  # Python busy elsewhere
        start = time.monotonic()
        with pytest.raises(doip_rs.ActivationDeniedError) as refused:
            connect(sim, client_logical_address=0x0E01)
        assert refused.value.response_code == 0x01  # DeniedAllSocketsRegisteredActive
        assert time.monotonic() - start < 3
        assert first.request(b"\x3e\x00") == b"\x7e\x00"


def test_doipclients_idle_client_loses_its_socket(make_sim):
    # The same with doipclient 1.2.2: it answers alive checks only inside read_doip, so an
    # idle client is silent and the entity gives its socket away after 300 ms.
    sim = _contested(make_sim)
    first = doipclient.DoIPClient(sim.ip, ENGINE, tcp_port=sim.tcp_port, udp_port=sim.udp_port)
    try:
        time.sleep(0.5)
        start = time.monotonic()
        with connect(sim, client_logical_address=0x0E01) as second:
            assert time.monotonic() - start >= 0.25  # the entity waited for the alive check
            assert second.request(b"\x3e\x00") == b"\x7e\x00"
        with pytest.raises(OSError):  # closed by the entity: broken pipe, reset or timeout
            first.send_diagnostic(b"\x3e\x00", timeout=1)
            first.receive_diagnostic(timeout=1)
    finally:
        first.close()


def test_the_gil_is_released_while_waiting(client):
    def count_for(wait):
        counted = [0]
        stop = threading.Event()

        def count():
            while not stop.is_set() and counted[0] < 10**9:
                counted[0] += 1

        t = threading.Thread(target=count, daemon=True)
        t.start()
        try:
            wait()
        finally:
            stop.set()
            t.join(5)
        return counted[0]

    def receive():
        with pytest.raises(TimeoutError):
            client.receive_diagnostic(timeout=1)  # nothing was asked: no answer comes

    baseline = count_for(lambda: time.sleep(1))  # time.sleep releases the GIL
    counted = count_for(receive)
    assert baseline > 0
    # Holding the GIL for that second would leave the counter near 0.
    assert counted > baseline * 0.25, (counted, baseline)
