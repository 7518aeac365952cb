"""doip_rs: Diagnostics over IP (ISO 13400-2) on a Rust core, with doipclient's API.

Switching from doipclient is one import line::

    from doip_rs import DoIPClient                  # was: from doipclient import DoIPClient
    from doip_rs.connectors import DoIPClientUDSConnector

Beyond doipclient: alive checks answered while Python is busy, every answer matched to
its request, ``DoIPClient.discover`` (every responder), ``request`` (through "response
pending"), ``functional_request``, a target per call, ``flash``, and ``Simulator``.
"""

from . import constants, exceptions, messages
from ._native import __version__
from .client import DoIPClient
from .exceptions import (
    ActivationDeniedError,
    DiagnosticNackError,
    FlashError,
    GenericNackError,
    MaybeDeliveredError,
    NegativeResponseError,
    PendingLimitError,
    UdsError,
)
from .simulator import Simulator

__all__ = [
    "DoIPClient",
    "Simulator",
    "ActivationDeniedError",
    "DiagnosticNackError",
    "FlashError",
    "GenericNackError",
    "MaybeDeliveredError",
    "NegativeResponseError",
    "PendingLimitError",
    "UdsError",
    "constants",
    "exceptions",
    "messages",
    "__version__",
]
