"""learnloop: social learning inside the chat and wikis a company already runs."""

__version__ = "0.1.0"
