"""Mediawiki: inbound deliveries and the API client (see learnloop/wikis.py for the contract)."""

from learnloop.mediawiki import host as host  # noqa: F401  (registers the "mediawiki" host)
