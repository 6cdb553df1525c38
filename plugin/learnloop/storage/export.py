"""A full JSON export of every stored record, for the admin's backups. It holds feedback comments as written
and reflections sealed (not readable without the service's key); the signing key itself is redacted."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, select

from learnloop import __version__
from learnloop.files import write_atomically
from learnloop.storage.tables import Base

EXPORT_FORMAT = "learnloop-export"
EXPORT_VERSION = 1
REDACTED_COLUMNS = {("instance_secrets", "value")}


def jsonable(value: Any) -> Any:
    """JSON's `default` for what a database hands back: times and dates as ISO text, decimals as numbers,
    bytes as base64; anything else as its text, so a backup never fails on a value."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def export_records(engine: Engine, out: TextIO, *, now: datetime) -> dict[str, int]:
    """Writes every table, row by row in key order; returns the number of rows per table."""
    counts: dict[str, int] = {}
    out.write(json.dumps({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "learnloop": __version__,
                          "exported_at": now.isoformat()})[:-1])
    out.write(', "tables": {')
    with engine.connect() as connection:
        for index, table in enumerate(Base.metadata.sorted_tables):
            out.write(("" if index == 0 else ", ") + json.dumps(table.name) + ": [")
            count = 0
            ordering = list(table.primary_key.columns)
            for row in connection.execute(select(table).order_by(*ordering)).mappings():
                record = {
                    name: "<redacted>" if (table.name, name) in REDACTED_COLUMNS else value
                    for name, value in row.items()
                }
                out.write(("" if count == 0 else ", ") + json.dumps(record, ensure_ascii=False, default=jsonable))
                count += 1
            out.write("]")
            counts[table.name] = count
    out.write("}}\n")
    return counts


def export_to_file(engine: Engine, path: Path, *, now: datetime) -> dict[str, int]:
    return write_atomically(path, lambda handle: export_records(engine, handle, now=now))
