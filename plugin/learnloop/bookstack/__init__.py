"""Bookstack: inbound deliveries and the API client (see learnloop/wikis.py for the contract)."""

from learnloop.bookstack import host as host  # noqa: F401  (registers BookStackHost as "bookstack")
