"""The exceptions ``doip_rs`` raises beyond Python's own.

Each subclasses the built-in exception doipclient raises in the same situation, so code
written for doipclient (``except ConnectionRefusedError``, ``except IOError``,
``except TimeoutError``) keeps working, and adds the codes as attributes.
"""

from typing import Optional


class ActivationDeniedError(ConnectionRefusedError):
    """The entity refused routing activation; ``response_code`` is its answer's code."""

    def __init__(self, message: str, response_code: int) -> None:
        super().__init__(message)
        self.response_code = response_code


class DiagnosticNackError(OSError):
    """The entity refused a diagnostic message with a diagnostic message NACK."""

    def __init__(self, message: str, nack_code: int, target_address: int) -> None:
        super().__init__(message)
        self.nack_code = nack_code
        self.target_address = target_address


class GenericNackError(OSError):
    """The entity answered with a generic DoIP header negative acknowledge."""

    def __init__(self, message: str, nack_code: int) -> None:
        super().__init__(message)
        self.nack_code = nack_code


class PendingLimitError(TimeoutError):
    """The ECU kept answering "response pending" (7F SID 78) beyond the cap."""

    def __init__(self, message: str, service: int) -> None:
        super().__init__(message)
        self.service = service


class MaybeDeliveredError(ConnectionError):
    """The connection was lost after the request was sent: the ECU may have executed it,
    so it was not sent again. Check the ECU's state before repeating it."""

    def __init__(self, message: str, target_address: int) -> None:
        super().__init__(message)
        self.target_address = target_address


class UdsError(OSError):
    """A UDS exchange failed (an unexpected or malformed answer, a failed check)."""


class NegativeResponseError(UdsError):
    """The ECU answered ``7F SID NRC``."""

    def __init__(self, message: str, service: int, nrc: Optional[int]) -> None:
        super().__init__(message)
        self.service = service
        self.nrc = nrc


class FlashError(UdsError):
    """A flash stopped: ``step`` failed, in ``segment`` (0-based) at TransferData ``block``
    (1-based) where those apply; ``nrc`` is the ECU's refusal, if it refused. Nothing was
    sent again after the failure; the cause is chained (``__cause__``)."""

    def __init__(
        self,
        message: str,
        step: str,
        segment: Optional[int],
        block: Optional[int],
        nrc: Optional[int],
    ) -> None:
        super().__init__(message)
        self.step = step
        self.segment = segment
        self.block = block
        self.nrc = nrc
