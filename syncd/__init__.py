"""ogo-syncd: keeps online stores in step with the OGOship (myOGO) fulfilment warehouse."""

__version__ = "0.1.0"
