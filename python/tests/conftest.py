"""Shared fixtures: simulated DoIP entities (``doip_rs.Simulator``, 127.0.0.1, ports picked
by the OS) and clients connected to them. Nothing here is mocked: every test talks to a real
entity over real loopback sockets."""

import socket
import threading
import time
from typing import Any, Callable, List

import pytest

import doip_rs

#: The simulator's default entity: the gateway answers UDS too, two ECUs behind it.
GATEWAY = 0x4010
ENGINE = 0x4011
BRAKES = 0x4012
FUNCTIONAL = 0xE400
#: SecurityAccess: key = seed XOR this (ecu.toml's security_key).
XOR_KEY = 0x5A5AA5A5
VIN = "WDOIPRS0000000001"
EID = bytes.fromhex("020000004010")
GID = bytes.fromhex("020000000001")


def xor_key(seed: bytes) -> bytes:
    """The simulator's key for ``seed`` (4 bytes, big-endian)."""
    return (int.from_bytes(seed, "big") ^ XOR_KEY).to_bytes(4, "big")


def free_udp_port() -> int:
    """A UDP port free a moment ago (bound to 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port() -> int:
    """A TCP port nobody listens on (bound to 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(sim: "doip_rs.Simulator", ecu: int = ENGINE, **kwargs: Any) -> doip_rs.DoIPClient:
    """A ``DoIPClient`` to ``sim`` (its TCP and UDP ports), addressing ``ecu``."""
    return doip_rs.DoIPClient(sim.ip, ecu, tcp_port=sim.tcp_port, udp_port=sim.udp_port, **kwargs)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` passes (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Background:
    """Runs a function on a daemon thread; ``result(timeout)`` joins it (bounded) and returns
    its value or re-raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: Any = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as e:  # handed to the test thread
                self._error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, timeout: float) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the call did not finish within {timeout} s"
        if self._error is not None:
            raise self._error
        return self._value


@pytest.fixture
def sim():
    """The default simulated entity (gateway 0x4010, ECUs 0x4011 and 0x4012)."""
    with doip_rs.Simulator() as s:
        yield s


@pytest.fixture
def make_sim():
    """A factory of simulators with overrides (``make_sim(ecus=[...])``), all stopped after."""
    made: List[doip_rs.Simulator] = []

    def make(*args: Any, **overrides: Any) -> doip_rs.Simulator:
        s = doip_rs.Simulator(*args, **overrides)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def client(sim):
    """A client of ``sim`` addressing the engine ECU (0x4011), routing activated."""
    with connect(sim) as c:
        yield c
