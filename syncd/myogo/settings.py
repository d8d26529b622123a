"""Settings of the myOGO client (the ``[myogo]`` table of the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

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
    rate_limit: float = Field(20.0, gt=0)               # requests per second to start at
    rate_limit_floor: float | None = Field(None, gt=0)  # adaptive: never below (rate_limit / 4)
    rate_limit_ceiling: float | None = Field(None, gt=0)  # adaptive: never above (5 x rate_limit)
    retry_attempts: int = Field(5, ge=1, le=20)
    retry_max_seconds: float = Field(120.0, gt=0)       # total time spent retrying one call
    page_size: int = Field(250, ge=1, le=250)

    @field_validator("rate_limit_floor")
    @classmethod
    def _floor_at_most_rate(cls, value: float | None, info: ValidationInfo) -> float | None:
        rate = info.data.get("rate_limit")
        if value is not None and rate is not None and value > rate:
            raise ValueError(f"must be at most rate_limit ({rate:g}): the adaptive limit "
                             "starts at rate_limit and never goes below the floor")
        return value

    @field_validator("rate_limit_ceiling")
    @classmethod
    def _ceiling_at_least_rate(cls, value: float | None, info: ValidationInfo) -> float | None:
        rate = info.data.get("rate_limit")
        if value is not None and rate is not None and value < rate:
            raise ValueError(f"must be at least rate_limit ({rate:g}): the adaptive limit "
                             "starts at rate_limit and never goes above the ceiling")
        return value

    @property
    def rate_bounds(self) -> tuple[float, float]:
        """(floor, ceiling) of the adaptive rate limit; equal to rate_limit = a fixed limit."""
        floor = self.rate_limit_floor if self.rate_limit_floor is not None else \
            self.rate_limit / 4
        ceiling = self.rate_limit_ceiling if self.rate_limit_ceiling is not None else \
            self.rate_limit * 5
        return floor, ceiling
