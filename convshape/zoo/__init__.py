"""Bundled network specs (`zoo:NAME`)."""
