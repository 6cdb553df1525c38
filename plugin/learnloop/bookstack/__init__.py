"""Bookstack: inbound deliveries and the API client (see learnloop/wikis.py for the contract)."""
