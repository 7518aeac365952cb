"""``DoIPClient``: doipclient's tester class, same constructor, methods and exceptions, on the
doip-rs tester session (a Rust thread answers alive checks and reads the socket at all
times; every wait releases the GIL)."""

import os
import socket
import ssl
from enum import IntEnum
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _native
from .constants import A_DOIP_CTRL, A_PROCESSING_TIME, TCP_DATA_UNSECURED, UDP_DISCOVERY
from .messages import *  # noqa: F401,F403 - doipclient's client module re-exports them
from .messages import (
    DoIPMessage,
    DiagnosticPowerModeResponse,
    EntityStatusResponse,
    AliveCheckResponse,
    RoutingActivationRequest,
    RoutingActivationResponse,
    VehicleIdentificationResponse,
)

BytesLike = Union[bytes, bytearray, memoryview]
Address = Tuple[Any, ...]

#: The functional address most vehicles use for OBD-style "all ECUs" requests.
DEFAULT_FUNCTIONAL_ADDRESS = 0xE400


def _tls_spec(use_secure: Union[bool, ssl.SSLContext], server_hostname: str) -> Optional[tuple]:
    """What the Rust side needs from ``use_secure``: verify or not, the context's CA
    certificates (DER; none: the platform's roots), its key-log file, the name to check."""
    if not use_secure:
        return None
    if isinstance(use_secure, ssl.SSLContext):
        context = use_secure
        verify = context.verify_mode != ssl.CERT_NONE
        cas = [bytes(der) for der in context.get_ca_certs(binary_form=True)] if verify else []
        keylog = getattr(context, "keylog_filename", None) or os.environ.get("SSLKEYLOGFILE")
    else:
        verify, cas, keylog = True, [], os.environ.get("SSLKEYLOGFILE")
    return (verify, cas, os.fspath(keylog) if keylog else None, server_hostname)


def _check_int(name: str, value: Any, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} {value:#x} is out of range (0..{(1 << bits) - 1:#x})")
    return value


def _timeout(value: Optional[float]) -> Optional[float]:
    """doipclient's convention: ``None`` or ``0`` waits ``A_PROCESSING_TIME`` (2 s), the
    default of the ``read_doip`` it falls back to; ``math.inf`` waits forever."""
    return float(A_PROCESSING_TIME) if not value else float(value)


class DoIPClient:
    """A Diagnostic over IP (ISO 13400-2) tester connection to one DoIP entity.

    The constructor connects (TCP, or TLS with ``use_secure``) and activates routing with
    ``activation_type`` (``None``: no activation). Unlike doipclient, alive checks are
    answered while your code does anything else, every answer is matched to its request,
    and instances may be shared between threads (calls on one client run one at a time).

    :param ecu_ip_address: the entity's IPv4 or IPv6 address, as text.
    :param ecu_logical_address: the ECU addressed by ``send_diagnostic``/``request``.
    :param tcp_port: TCP_DATA port (13400; use 3496 with TLS, as with doipclient).
    :param udp_port: the entity's UDP port for entity status, power mode and identification.
    :param activation_type: activation type sent on connect and reconnect, or ``None``.
    :param protocol_version: DoIP header version (0x02; 0x01 and 0x03 also spoken).
    :param client_logical_address: this tester's address (0x0E00–0x0FFF).
    :param client_ip_address: local address to connect from (TCP and UDP).
    :param use_secure: ``True`` for TLS verified against the platform's roots, or an
        ``ssl.SSLContext`` whose verification mode, CA certificates (``cafile``/``cadata``;
        none listed: the platform's roots) and key-log file (``keylog_filename``, else
        ``SSLKEYLOGFILE``) are used by rustls. The certificate must name
        ``server_hostname`` (default: ``ecu_ip_address``) unless verification is off
        (``CERT_NONE``); ``check_hostname=False`` alone, client certificates, cipher and
        version settings of the context are not read.
    :param auto_reconnect_tcp: reconnect when a request finds the connection closed; a
        request already written when it dropped is never re-sent (``MaybeDeliveredError``).
    :param vm_specific: OEM-specific 4 bytes (an int) for routing activation.
    :param server_hostname: the name the TLS certificate must carry (doip_rs only).
    :param busy_poll: while waiting for an answer, poll without sleeping for up to this many
        seconds first (1 ms; 0: never), and only while that is measured to be faster than
        sleeping on this machine: the scheduler's wake-up latency is most of a round trip
        (doip_rs only).
    :raises ConnectionRefusedError: activation refused (``ActivationDeniedError``) or the
        connection refused.
    :raises ValueError: not an IP address, or an address out of range.
    """

    class TransportType(IntEnum):
        """Which socket a message travels on."""

        TRANSPORT_UDP = 1
        TRANSPORT_TCP = 2

    def __init__(
        self,
        ecu_ip_address: str,
        ecu_logical_address: int,
        tcp_port: int = TCP_DATA_UNSECURED,
        udp_port: int = UDP_DISCOVERY,
        activation_type: Optional[int] = RoutingActivationRequest.ActivationType.Default,
        protocol_version: int = 0x02,
        client_logical_address: int = 0x0E00,
        client_ip_address: Optional[str] = None,
        use_secure: Union[bool, ssl.SSLContext] = False,
        auto_reconnect_tcp: bool = False,
        vm_specific: Optional[int] = None,
        *,
        server_hostname: Optional[str] = None,
        busy_poll: float = 0.001,
    ) -> None:
        self._ecu_ip_address = str(ecu_ip_address)
        self._ecu_logical_address = _check_int("ecu_logical_address", ecu_logical_address, 16)
        self._client_logical_address = _check_int("client_logical_address", client_logical_address, 16)
        self._tcp_port = _check_int("tcp_port", tcp_port, 16)
        self._udp_port = _check_int("udp_port", udp_port, 16)
        self._protocol_version = _check_int("protocol_version", protocol_version, 8)
        self._activation_type = activation_type
        self._client_ip_address = client_ip_address
        self._use_secure = use_secure
        self._auto_reconnect_tcp = bool(auto_reconnect_tcp)
        self.vm_specific = vm_specific
        tls = _tls_spec(use_secure, server_hostname or self._ecu_ip_address)
        self._native = _native.Client(
            self._ecu_ip_address,
            self._ecu_logical_address,
            self._tcp_port,
            self._udp_port,
            None if activation_type is None else _check_int("activation_type", int(activation_type), 8),
            self._protocol_version,
            self._client_logical_address,
            client_ip_address,
            tls,
            self._auto_reconnect_tcp,
            self._vm_specific,
            float(busy_poll),
        )

    def __enter__(self) -> "DoIPClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DoIPClient({self._ecu_ip_address!r}, {self._ecu_logical_address:#06x}, "
            f"tcp_port={self._tcp_port}, client_logical_address={self._client_logical_address:#06x})"
        )

    # --- discovery (classmethods, as doipclient) -----------------------------------------

    @classmethod
    def await_vehicle_announcement(
        cls,
        udp_port: int = UDP_DISCOVERY,
        timeout: Optional[float] = None,
        ipv6: bool = False,
        source_interface: Optional[str] = None,
        sock: Any = None,
    ) -> Tuple[Address, VehicleIdentificationResponse]:
        """The next vehicle announcement on ``udp_port`` (IPv4 broadcast; with ``ipv6``,
        ``FF02::1`` joined on ``source_interface``), waiting up to ``timeout`` seconds
        (forever when ``None``): ``(address, VehicleIdentificationResponse)``.

        :raises TimeoutError: none arrived in time.
        """
        if sock is not None:
            return _announcement_from_socket(sock, timeout)
        return _native.await_vehicle_announcement(_check_int("udp_port", udp_port, 16), _timeout(timeout), bool(ipv6), source_interface)

    @classmethod
    def get_entity(
        cls,
        ecu_ip_address: str = "255.255.255.255",
        protocol_version: int = 0x02,
        eid: Optional[bytes] = None,
        vin: Optional[str] = None,
        *,
        udp_port: int = UDP_DISCOVERY,
        timeout: float = A_DOIP_CTRL,
    ) -> Tuple[Address, VehicleIdentificationResponse]:
        """Sends a vehicle identification request (by EID, VIN, or neither) to
        ``ecu_ip_address`` (broadcast by default) and returns the first answer:
        ``(address, VehicleIdentificationResponse)``.

        :raises TimeoutError: nobody answered within ``timeout`` (2 s).
        """
        return _native.get_entity(str(ecu_ip_address), _check_int("protocol_version", protocol_version, 8), eid or None, vin or None, udp_port, float(timeout))

    @classmethod
    def discover(
        cls,
        ecu_ip_address: str = "255.255.255.255",
        protocol_version: int = 0x02,
        eid: Optional[bytes] = None,
        vin: Optional[str] = None,
        *,
        udp_port: int = UDP_DISCOVERY,
        timeout: float = A_DOIP_CTRL,
    ) -> List[Tuple[Address, VehicleIdentificationResponse]]:
        """Like ``get_entity``, but collects every entity answering within ``timeout``
        (one per EID, sorted by address); an empty list when none does."""
        return _native.discover(str(ecu_ip_address), _check_int("protocol_version", protocol_version, 8), eid or None, vin or None, udp_port, float(timeout))

    # --- doipclient's methods ------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (closing twice is fine)."""
        self._native.close()

    def reconnect(self, close_delay: float = A_PROCESSING_TIME) -> None:
        """Closes, waits ``close_delay`` seconds (e.g. for an ECU reset), connects again
        (retrying for 2 s) and activates routing again."""
        self._native.reconnect(float(close_delay))

    def empty_rxqueue(self) -> int:
        """Drops every received message not read yet; returns how many (doipclient: None)."""
        return self._native.empty_rxqueue()

    def empty_txqueue(self) -> int:
        """Drops every request not sent yet; returns how many (between calls: 0)."""
        return self._native.empty_txqueue()

    def read_doip(self, timeout: Optional[float] = A_PROCESSING_TIME, transport: int = TransportType.TRANSPORT_TCP) -> Optional[DoIPMessage]:
        """The next DoIP message that answered no request on ``transport`` (a generic NACK
        included), waiting up to ``timeout`` seconds (``0``: only what is queued; ``None``:
        forever).

        :raises IOError: a generic DoIP NACK (``GenericNackError``).
        :raises TimeoutError: nothing arrived in time.
        """
        return self._native.read_doip(None if timeout is None else float(timeout), int(transport))

    def send_doip(self, payload_type: int, payload_data: BytesLike, transport: int = TransportType.TRANSPORT_TCP, disable_retry: bool = False) -> None:
        """Sends a message of any payload type with these payload bytes (header added)."""
        self._native.send_doip(_check_int("payload_type", payload_type, 16), payload_data, int(transport), bool(disable_retry))

    def send_doip_message(self, doip_message: DoIPMessage, transport: int = TransportType.TRANSPORT_TCP, disable_retry: bool = False) -> None:
        """Sends a message object from ``doip_rs.messages`` (or a compatible one)."""
        fields = tuple(getattr(doip_message, "_" + f) for f in doip_message._fields)
        payload_type = doip_message.payload_type
        self._native.send_doip_message(payload_type, fields, int(transport), bool(disable_retry))

    def request_activation(self, activation_type: int, vm_specific: Optional[int] = None, disable_retry: bool = False) -> RoutingActivationResponse:
        """Routing activation of ``activation_type``; the entity's answer (also a refusal:
        check ``response_code``). Without ``vm_specific``, the client's is sent."""
        vm = self._validate_vm_specific_value(vm_specific) if vm_specific else self._vm_specific
        return self._native.request_activation(_check_int("activation_type", int(activation_type), 8), vm, bool(disable_retry))

    def request_vehicle_identification(self, eid: Optional[bytes] = None, vin: Optional[str] = None) -> VehicleIdentificationResponse:
        """Vehicle identification, unicast to the entity over UDP."""
        return self._native.request_vehicle_identification(eid or None, vin or None)

    def request_alive_check(self) -> AliveCheckResponse:
        """Asks the entity for an alive check response (over TCP)."""
        return self._native.request_alive_check()

    def request_diagnostic_power_mode(self) -> DiagnosticPowerModeResponse:
        """The entity's diagnostic power mode (over UDP)."""
        return self._native.request_diagnostic_power_mode()

    def request_entity_status(self) -> EntityStatusResponse:
        """The entity's status: node type, sockets, max data size (over UDP)."""
        return self._native.request_entity_status()

    def send_diagnostic(self, diagnostic_payload: BytesLike, timeout: Optional[float] = A_PROCESSING_TIME, *, target: Optional[int] = None) -> None:
        """Sends a UDS payload to the ECU (or to ``target``) and waits up to ``timeout`` for
        the entity's diagnostic ACK (``None`` or ``0``: 2 s, as doipclient); read the answer
        with ``receive_diagnostic``.

        :raises IOError: diagnostic NACK (``DiagnosticNackError``, with ``nack_code``).
        :raises TimeoutError: no ACK in time.
        """
        self._native.send_diagnostic(diagnostic_payload, target, _timeout(timeout))

    def send_diagnostic_to_address(self, address: int, diagnostic_payload: BytesLike, timeout: Optional[float] = A_PROCESSING_TIME) -> None:
        """``send_diagnostic`` to any logical address (physical or functional)."""
        self._native.send_diagnostic(diagnostic_payload, address, _timeout(timeout))

    def receive_diagnostic(self, timeout: Optional[float] = None) -> bytearray:
        """The next UDS payload from the ECU to this tester, waiting up to ``timeout``
        seconds (``None`` or ``0``: 2 s, as doipclient; ``math.inf``: forever). Messages of
        other ECUs stay queued (``receive_diagnostic_from_any``).

        :raises TimeoutError: nothing arrived in time.
        """
        return self._native.receive_diagnostic(_timeout(timeout), None)[1]

    # --- beyond doipclient ---------------------------------------------------------------

    def receive_diagnostic_from_any(self, timeout: Optional[float] = None) -> Tuple[int, bytearray]:
        """The next UDS payload from any ECU: ``(source_address, payload)``."""
        return self._native.receive_diagnostic(_timeout(timeout), -1)

    def request(self, payload: BytesLike, target: Optional[int] = None, timeout: Optional[float] = None) -> bytes:
        """A whole UDS exchange with the ECU (or ``target``): sends, waits for the ACK, then
        for this request's own answer (SID + 0x40, or ``7F SID NRC``), waiting through
        "response pending" with P2/P2*. Negative answers are returned as received; with the
        suppress-positive-response bit the result is ``b""``. ``timeout`` caps the whole
        exchange (default: the UDS timing alone)."""
        return self._native.request(payload, target, timeout)

    def functional_request(self, payload: BytesLike, target: int = DEFAULT_FUNCTIONAL_ADDRESS, timeout: float = A_PROCESSING_TIME) -> List[Tuple[int, bytes]]:
        """Sends one functional request and collects every ECU's final answer until
        ``timeout`` after the ACK: ``[(source_address, answer), ...]``."""
        return self._native.functional_request(payload, target, float(timeout))

    def keep_alive(self, every: Optional[float] = 2.0, target: Optional[int] = None) -> None:
        """Sends TesterPresent (``3E 80``) to the ECU (or ``target``) whenever nothing was
        sent to it for ``every`` seconds, from the Rust thread (``None`` stops)."""
        if every is not None and not every > 0:
            raise ValueError(f"every must be > 0 seconds, not {every}")
        self._native.keep_alive(self._ecu_logical_address if target is None else target, every)

    def flash(
        self,
        image: Union[str, "os.PathLike[str]", bytes],
        *,
        format: Optional[str] = None,
        address: Optional[int] = None,
        target: Optional[int] = None,
        session: int = 0x02,
        security_level: Optional[int] = None,
        security_key: Union[int, Callable[[int, bytes], bytes], None] = None,
        erase_routine: Optional[int] = 0xFF00,
        check_routine: Optional[int] = 0xFF01,
        reset: bool = True,
        progress: Optional[Callable[[Dict[str, Any]], None]] = None,
    ) -> Dict[str, Any]:
        """Programs an image into the ECU (or ``target``) with the Rust flasher: session
        ``session`` (0: none), SecurityAccess at ``security_level`` with ``security_key``
        (an XOR constant, or ``f(level, seed) -> key``), the erase routine per segment,
        RequestDownload/TransferData/RequestTransferExit per segment (block size from the
        ECU), the check routine with the image's CRC-32, and a hard reset.

        ``image`` is a path (Intel HEX, S-record or binary, by ``format`` or the file name)
        or bytes (binary needs ``address``). ``progress(dict)`` is called per step and
        block; an exception it raises is reported (``sys.unraisablehook``) and the flash goes
        on, and neither callback may use this client. Returns ``{"bytes", "blocks", "segments", "max_block_length", "elapsed"}``.

        :raises FlashError: the step, segment and block that failed, and the NRC.
        """
        if isinstance(security_key, int) and not 0 <= security_key <= 0xFFFFFFFF:
            raise ValueError("an int security_key is a 4-byte XOR constant (0..0xFFFFFFFF)")
        if security_key is not None and not isinstance(security_key, int) and not callable(security_key):
            raise TypeError("security_key must be an int or a callable (level, seed) -> key")
        options: Dict[str, Any] = {
            "path": None, "data": None, "format": format, "address": address, "target": target,
            "session": session, "security_level": security_level, "key": security_key,
            "erase_routine": erase_routine, "check_routine": check_routine, "reset": bool(reset),
        }
        if isinstance(image, (bytes, bytearray, memoryview)):
            options["data"] = bytes(image)
        else:
            options["path"] = os.fspath(image)
        return self._native.flash(options, progress)

    def counters(self) -> Dict[str, int]:
        """Frames, bytes, NACKs, reconnects and unsolicited messages counted so far."""
        return self._native.counters()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._native.closed

    # --- vm_specific, as doipclient ------------------------------------------------------

    @staticmethod
    def _validate_vm_specific_value(value: Optional[int]) -> Optional[int]:
        if not isinstance(value, int) and value is not None:
            raise ValueError("Invalid vm_specific type must be int or None")
        if isinstance(value, int) and (value < 0 or value > 0xFFFFFFFF):
            raise ValueError("Invalid vm_specific value must be > 0 and <= 0xffffffff")
        return value

    @property
    def vm_specific(self) -> Optional[int]:
        """The OEM-specific value sent with routing activation (an int), or ``None``."""
        return self._vm_specific

    @vm_specific.setter
    def vm_specific(self, value: Optional[int]) -> None:
        self._vm_specific = self._validate_vm_specific_value(value)
        native = getattr(self, "_native", None)
        if native is not None:  # reconnects activate with the new value, as doipclient's
            native.set_vm_specific(self._vm_specific)


def _announcement_from_socket(sock: Any, timeout: Optional[float]) -> Tuple[Address, VehicleIdentificationResponse]:
    """doipclient's ``sock=`` form: reads announcements from the caller's own socket."""
    import time

    deadline = None if not timeout else time.monotonic() + timeout
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Timed out waiting for Vehicle Announcement broadcast")
            sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(4096)
        except socket.timeout as e:
            raise TimeoutError("Timed out waiting for Vehicle Announcement broadcast") from e
        try:
            _, message = _native.frame(data)
        except ValueError:
            continue
        if isinstance(message, VehicleIdentificationResponse):
            return addr, message

