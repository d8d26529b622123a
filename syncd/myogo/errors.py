"""Typed myOGO errors, each also a ``syncd.errors`` class so callers classify them once.

Mapping (each error is classified once, here):

* 400 and other 4xx (not 401/403/404/429) -> ``MyogoValidationError`` (``DataError``)
* 404                                    -> ``MyogoNotFoundError``   (``DataError``)
* 401/403 after one re-auth              -> ``MyogoAuthError``       (``AuthError``)
* 5xx/429/network after bounded retries  -> ``MyogoTransientError``  (``TransientError``)
* a POST sent whose answer never came    -> ``MyogoUnknownOutcomeError`` (``UnknownOutcomeError``)

Messages carry the HTTP method, path, status and the API's own ``message``; never a token,
secret or request header.
"""

from __future__ import annotations

from syncd.errors import (
    AuthError,
    DataError,
    SyncdError,
    TransientError,
    UnknownOutcomeError,
)


class MyogoError(SyncdError):
    """Root of the myOGO client's errors.

    ``status`` is the HTTP status (None when no response arrived); ``api_message`` is the
    API's ``message`` (or a short excerpt of an unstructured body).
    """

    #: short name used as the ``errors_by_kind`` key in ``ClientStats``
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        api_message: str | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.api_message = api_message
        self.method = method
        self.path = path
        self.message = message
        self.key: str | None = None  # ConfigError compatibility (no config path known here)
        Exception.__init__(self, message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class MyogoValidationError(MyogoError, DataError):
    """The API refused the payload (400 and other plain 4xx); ``api_message`` says why."""

    kind = "validation"


class MyogoNotFoundError(MyogoError, DataError):
    """The addressed object (order reference, product code, webhook id…) does not exist."""

    kind = "not_found"


class MyogoAuthError(MyogoError, AuthError):
    """Credentials or scopes were refused even after one fresh token."""

    kind = "auth"


class MyogoTransientError(MyogoError, TransientError):
    """Network trouble, 5xx or 429 that outlasted the bounded retries."""

    kind = "transient"


class MyogoUnknownOutcomeError(MyogoError, UnknownOutcomeError):
    """A POST was sent but no answer came back: the write may exist. Resolve by reference."""

    kind = "unknown_outcome"


class MyogoPagingError(MyogoError, TransientError):
    """The server kept returning the same page (or too many pages): stop, keep the cursor."""

    kind = "paging"
