"""``DoIPClientUDSConnector``: a udsoncan connection over a ``doip_rs.DoIPClient``, as
doipclient's (needs ``udsoncan``)."""

from typing import Any, Optional

from udsoncan.connections import BaseConnection
from udsoncan.exceptions import TimeoutException


class DoIPClientUDSConnector(BaseConnection):
    """A udsoncan connector using a DoIP client as its transport (instead of ISO-TP).

    :param doip_layer: the ``doip_rs.DoIPClient`` (or a doipclient one).
    :param name: included in the logger name, ``Connection[<name>]``.
    :param close_connection: whether ``close()`` also closes the DoIP client (default no).
    """

    def __init__(self, doip_layer: Any, name: Optional[str] = None, close_connection: bool = False) -> None:
        BaseConnection.__init__(self, name)
        self._connection = doip_layer
        self._close_connection = close_connection
        self.opened = False

    def open(self) -> "DoIPClientUDSConnector":
        self.opened = True
        return self

    def __enter__(self) -> "DoIPClientUDSConnector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._close_connection:
            self._connection.close()
        self.opened = False

    def is_open(self) -> bool:
        return self.opened

    def specific_send(self, payload: bytes, timeout: Optional[float] = None) -> None:
        self._connection.send_diagnostic(payload)

    def specific_wait_frame(self, timeout: Optional[float] = 2) -> Optional[bytes]:
        try:
            return bytes(self._connection.receive_diagnostic(timeout=timeout))
        except TimeoutError as e:
            raise TimeoutException(str(e)) from e

    def empty_rxqueue(self) -> None:
        # Stale answers of this connector's ECU only: other ECUs' messages (another thread
        # sharing the client) stay queued.
        source = getattr(self._connection, "_ecu_logical_address", None)
        native = getattr(self._connection, "_native", None)
        if native is not None and source is not None:
            native.empty_rxqueue(source)
        else:
            self._connection.empty_rxqueue()

    def empty_txqueue(self) -> None:
        self._connection.empty_txqueue()
