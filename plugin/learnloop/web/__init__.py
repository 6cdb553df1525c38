"""The web process: the Flask app, health checks, and (later) the pages people open."""
