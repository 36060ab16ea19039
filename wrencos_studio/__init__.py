"""Wrencos Studio: a desktop live-shopping studio with a built-in real-time hub."""

__version__ = "0.1.0"
