"""The API's one error shape: ``{"error": "<one line>", "details": [{"loc": [...], "msg": "..."}]}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ApiError(Exception):
    """An error answered with ``status`` and the one error shape; ``loc`` names the bad field."""

    def __init__(self, status: int, message: str, *, loc: Sequence[str | int] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.loc = list(loc) if loc is not None else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        details = [{"loc": self.loc, "msg": self.message}] if self.loc is not None else []
        return {"error": self.message, "details": details}


def field_path(loc: Sequence[str | int]) -> str:
    """``['body', 'instances', 0, 'x']`` as ``instances[0].x``."""
    text = ""
    for part in loc:
        if part == "body" and not text:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"
