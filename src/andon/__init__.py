"""Andon: self-hosted continuous delivery, from a commit on trunk to customers, safely."""

__all__ = ["__version__"]

__version__ = "0.1.0"
