"""``Simulator``: doip-rs's simulated DoIP entity (a gateway whose ECUs answer UDS, with
sessions, security access, DTCs, routines, memory and flashing), run on a Rust thread from
Python, e.g. as a pytest fixture::

    @pytest.fixture
    def sim():
        with doip_rs.Simulator() as s:
            yield s

    def test_vin(sim):
        with doip_rs.DoIPClient(sim.ip, sim.logical_address, tcp_port=sim.tcp_port,
                                udp_port=sim.udp_port) as client:
            client.send_diagnostic(b"\\x22\\xf1\\x90")
            assert client.receive_diagnostic(2)[3:] == sim.vin.encode()
"""

import json
import os
from typing import Any, Dict, List, Optional, Union

from . import _native


class Simulator:
    """A simulated DoIP entity on 127.0.0.1, every port picked by the OS unless configured.

    :param config: a TOML document in ``doip sim``'s format (``ecu.toml``), a path to one,
        or a dict of the same fields; written over the test defaults (free ports, no
        announcement delay, 200 ms resets of the built-in ECUs; ECUs you list get doip-sim's
        defaults, e.g. ``reset_ms`` 1000, unless you set them).
    :param overrides: top-level fields as keywords, e.g. ``tcp_port=13400``,
        ``announce={"to": "127.0.0.1:13401", "count": 1}``.
    """

    def __init__(self, config: Union[str, "os.PathLike[str]", Dict[str, Any], None] = None, **overrides: Any) -> None:
        toml_text: Optional[str] = None
        layers: Dict[str, Any] = {}
        if isinstance(config, dict):
            layers.update(config)
        elif isinstance(config, os.PathLike) or (isinstance(config, str) and "\n" not in config and os.path.exists(config)):
            with open(config, encoding="utf-8") as f:
                toml_text = f.read()
        elif isinstance(config, str):
            toml_text = config
        layers.update(overrides)
        self._native = _native.Simulator(toml_text, json.dumps(layers) if layers else None)

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"tcp_port={self.tcp_port}" if self.running else "stopped"
        return f"Simulator({self.ip}, {state})"

    @property
    def ip(self) -> str:
        """The address it is bound to."""
        return self._native.ip

    @property
    def tcp_port(self) -> int:
        """TCP_DATA port."""
        return self._native.tcp_port

    @property
    def udp_port(self) -> int:
        """UDP_DISCOVERY port."""
        return self._native.udp_port

    @property
    def tls_port(self) -> Optional[int]:
        """TLS port, when configured (``tls={"cert": ..., "key": ..., "port": 0}``)."""
        return self._native.tls_port

    @property
    def logical_address(self) -> int:
        """The entity's (gateway's) logical address; it answers UDS too."""
        return self._native.logical_address

    @property
    def ecus(self) -> List[int]:
        """Logical addresses of every ECU answering UDS."""
        return self._native.ecus

    @property
    def functional_address(self) -> int:
        """The functional address every ECU answers."""
        return self._native.functional_address

    @property
    def vin(self) -> str:
        """The VIN it reports."""
        return self._native.vin

    @property
    def running(self) -> bool:
        """Whether it runs."""
        return self._native.is_running

    def set_faults(self, tester: Optional[int] = None, **faults: Any) -> None:
        """Misbehaves from now on, for one tester address or (``None``) every connection:
        ``ack_delay_ms``, ``drop_ack``, ``response_delay_ms``, ``drop_response``,
        ``close_after_messages``, ``one_byte_segments``, ``alive_check_interval_ms``,
        ``malformed_header``, ``hostile_length``, ``reset_after_messages``,
        ``abrupt_close``, ``stop_reading`` (unnamed ones: off)."""
        self._native.set_faults(json.dumps(faults), tester)

    def stop(self) -> None:
        """Stops it (stopping twice is fine)."""
        self._native.stop()
