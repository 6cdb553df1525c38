"""MediaWiki: inbound deliveries, the API client and publishing (see learnloop/wikis.py for the contract)."""
