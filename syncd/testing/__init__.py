"""Shipped test kit: the myOGO simulator, store simulators and the connector conformance kit."""
