"""Settings of the myOGO client (the ``[myogo]`` table of the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_SCOPES = (
    "read:order write:order read:product write:product "
    "read:webhook write:webhook read:metadata write:metadata"
)


class MyogoSettings(BaseModel):
    """How to reach and authenticate to myOGO. Secrets are ``SecretStr``: never logged."""

    model_config = ConfigDict(extra="forbid")

    api_url: str = "https://api.ogoship.com/api/v1"
    token_url: str = "https://my.ogoship.com/OAuth/Token"
    client_id: str = "123456"
    client_secret: SecretStr = SecretStr("abcdef")
    merchant_id: str | None = None          # OAuth username
    secret_token: SecretStr | None = None   # OAuth password
    api_key: SecretStr | None = None        # X-OgoKey header instead of OAuth
    webhook_key: SecretStr | None = None    # signs myOGO webhooks to this daemon (HMAC key)
    scopes: str = DEFAULT_SCOPES
    timeout: float = Field(30.0, gt=0)      # seconds per request
    concurrency: int = Field(8, ge=1, le=64)            # requests in flight at once
    rate_limit: float = Field(20.0, gt=0)               # requests per second, sustained
    retry_attempts: int = Field(5, ge=1, le=20)
    retry_max_seconds: float = Field(120.0, gt=0)       # total time spent retrying one call
    page_size: int = Field(250, ge=1, le=250)
