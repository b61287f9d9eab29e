"""The answer of every ``fedml.api`` call: ``code``, ``message`` and ``data``."""

from enum import Enum
from typing import Any, Generic, Optional, TypeVar

T = TypeVar("T")


class ResponseCode(Enum):
    """What happened: ``SUCCESS``; ``FAILURE`` (the request was understood and refused: bad
    input, not found, name taken, no permission); ``ERROR`` (something broke: network, disk,
    server)."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ERROR = "ERROR"


class FedMLResponse(Generic[T]):
    """``code`` (a :class:`ResponseCode`), ``message`` (what happened, in words) and ``data``
    (the result, or ``None`` unless ``code`` is ``SUCCESS``)."""

    __slots__ = ("code", "message", "data")

    def __init__(self, code: ResponseCode, message: str, data: Optional[T] = None) -> None:
        self.code = code
        self.message = message
        self.data = data

    def __repr__(self) -> str:
        return f"FedMLResponse(code={self.code}, message={self.message!r}, data={self.data!r})"

    def __bool__(self) -> bool:
        return self.code == ResponseCode.SUCCESS


def _from_native(answer: Any, convert=lambda data: data) -> "FedMLResponse":
    import json

    code, message, data = answer
    value = json.loads(data)
    return FedMLResponse(ResponseCode(code), message, convert(value) if value is not None else None)
