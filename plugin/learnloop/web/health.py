"""Liveness (the process answers) and readiness (the database answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import Engine, text


def blueprint(engine: Engine) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @bp.get("/readyz")
    def readyz() -> tuple[Response, int]:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"
            return jsonify({"status": "unavailable", "database": type(exc).__name__}), 503
        return jsonify({"status": "ok", "database": "ok"}), 200

    return bp
