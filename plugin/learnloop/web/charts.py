"""Server-rendered SVG charts (pygal), drawn without scripts so the page's strict CSP holds."""

from __future__ import annotations

from datetime import date

import re

import pygal
from pygal.style import Style

STYLE = Style(background="white", plot_background="white", foreground="#1f2328", foreground_strong="#1f2328",
              foreground_subtle="#57606a", colors=("#1f6feb", "#bf3989", "#1a7f37", "#9a6700"), font_family="sans-serif")


def _config(title: str) -> dict[str, object]:
    return {"title": title, "style": STYLE, "js": [], "disable_xml_declaration": True, "width": 720, "height": 300,
            "explicit_size": False, "show_legend": True, "legend_at_bottom": True, "x_label_rotation": 0,
            "print_values": False, "allow_interruptions": True, "no_data_text": "Not enough to show yet"}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)


def _svg(chart: pygal.graph.graph.Graph) -> str:
    """pygal always embeds a config script; the page's CSP would block it, so it is not sent at all."""
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def trend_chart(title: str, weeks: list[date], series: dict[str, list[float | None]]) -> str:
    """Weekly lines; a suppressed week is a gap, never a number."""
    chart = pygal.Line(**_config(title))
    chart.x_labels = [f"{week:%d %b}" for week in weeks]
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def split_chart(title: str, weeks: list[date], shares: list[float | None]) -> str:
    chart = pygal.StackedBar(**_config(title), range=(0, 100))
    chart.x_labels = [f"{week:%d %b}" for week in weeks]
    chart.add("from each other (%)", shares)
    chart.add("from content (%)", [None if s is None else 100 - s for s in shares])
    return _svg(chart)
