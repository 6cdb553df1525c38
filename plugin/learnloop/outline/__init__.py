"""Outline: inbound deliveries and the API client (see learnloop/wikis.py for the contract)."""

from learnloop.outline.host import OutlineHost

__all__ = ["OutlineHost"]
