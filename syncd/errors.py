"""One exception hierarchy: each error is classified once, where it is raised.

* ``ConfigError``   -> the operator must act (bad config, refused credentials, missing scope):
                       stop the flow, alert, exit 78 at start-up.
* ``TransientError`` -> back off and retry later (network, 5xx, 429): the run fails, the
                        cursor stays where it was, the next run resumes.
* ``DataError``     -> one item is bad (no SKU, unknown country, 400 validation): park the item
                       with its reason, carry on with the others.
"""

from __future__ import annotations


class SyncdError(Exception):
    """Root of every error ogo-syncd raises on purpose."""


class ConfigError(SyncdError):
    """Configuration or credentials are wrong; a person must fix them.

    ``key`` is the dotted config path (``stores[0].options.url``) when one is known.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


class AuthError(ConfigError):
    """Credentials were refused (401/403 after re-authentication)."""


class TransientError(SyncdError):
    """Worth retrying later: network trouble, 5xx, 429, timeouts."""


class UnknownOutcomeError(TransientError):
    """A write was sent but its answer never arrived: it may or may not have happened.

    Never retried blindly; the caller resolves it by asking the remote side.
    """


class DataError(SyncdError):
    """One item cannot be synced as it is; recorded with this message, others go on."""


class ConnectorError(SyncdError):
    """A store connector failed in a way it could not classify further."""
