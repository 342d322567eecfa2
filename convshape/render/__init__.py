"""Renderers: each turns a Report (or findings) into one output format; none computes."""
