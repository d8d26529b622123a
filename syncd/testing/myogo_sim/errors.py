"""Exceptions the handlers raise; the app turns them into wire answers."""

from __future__ import annotations

import httpx


class ApiFailure(Exception):
    """An API error answer: HTTP ``status`` with an ApiError body carrying ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class OAuthFailure(Exception):
    """A token-endpoint error answer in standard OAuth2 form (``{"error": ...}``)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class ControlError(Exception):
    """A warehouse-control action that the order's state does not allow (e.g. ship a draft)."""


class SimulatedDrop(httpx.RemoteProtocolError):
    """Raised by the app to close the connection without an answer.

    A subclass of ``httpx.RemoteProtocolError`` so that in-process clients (ASGITransport
    re-raises app exceptions) see the same exception class as over real HTTP, where httpx
    reports "Server disconnected without sending a response."
    """

    def __init__(self, message: str = "simulated drop: connection closed without a response"):
        super().__init__(message)
