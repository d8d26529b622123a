"""pytest plugin entry point of the conformance kit (filled in by the kit)."""
