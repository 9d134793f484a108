"""bedboard: psychiatric bed-availability coordination service."""

__version__ = "0.1.0"
