"""Server-rendered SVG charts (pygal), drawn without scripts so the page's strict CSP holds."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import date

import pygal
from flask import g
from pygal.style import Style

STYLE = Style(background="white", plot_background="white", foreground="#1f2328", foreground_strong="#1f2328",
              foreground_subtle="#57606a", colors=("#0b57d0", "#bf3989", "#1a7f37", "#9a6700"),
              font_family="sans-serif",
              title_font_size=20, label_font_size=15, major_label_font_size=15, legend_font_size=16,
              value_font_size=15, tooltip_font_size=15, no_data_font_size=20)
"""Text drawn large for a small chart: an SVG scales with its width, so at a phone's 390 px the labels
still read at about 12 px."""


def _config(title: str) -> dict[str, object]:
    return {"title": title, "style": STYLE, "js": [], "disable_xml_declaration": True, "width": 480, "height": 320,
            "explicit_size": False, "show_legend": True, "legend_at_bottom": True, "x_label_rotation": 0,
            "print_values": False, "allow_interruptions": True, "no_data_text": "Not enough to show yet",
            "truncate_label": -1, "truncate_legend": -1}


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _svg(chart: pygal.graph.graph.Graph) -> str:
    """The chart without pygal's config script (the page allows no scripts); its stylesheet stays,
    allowed by hash in the page's Content-Security-Policy (see allow_inline_styles)."""
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    svg = svg.replace('style="opacity: 0"', 'opacity="0"')
    allow_inline_styles(_STYLE.findall(svg))
    return svg


def allow_inline_styles(blocks: list[str]) -> None:

    hashes = getattr(g, "csp_style_hashes", [])
    for block in blocks:
        text = html.unescape(block)  # inline SVG's <style> is parsed as text: the browser hashes it decoded
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    g.csp_style_hashes = hashes


def _week_labels(chart: pygal.graph.graph.Graph, weeks: list[date]) -> None:
    """A label for each week, about six of them written out (more would run into each other on a phone)."""
    chart.x_labels = [f"{week:%d %b}" for week in weeks]
    chart.x_labels_major_every = max(1, -(-len(weeks) // 6))
    chart.show_minor_x_labels = False


def trend_chart(title: str, weeks: list[date], series: dict[str, list[float | None]]) -> str:
    """Weekly lines; a withheld week is a gap, never a number."""
    chart = pygal.Line(**_config(title))
    _week_labels(chart, weeks)
    for name, values in series.items():
        chart.add(name, values)
    return _svg(chart)


def split_chart(title: str, weeks: list[date], shares: list[float | None]) -> str:
    chart = pygal.StackedBar(**_config(title), range=(0, 100))
    _week_labels(chart, weeks)
    chart.add("from each other (%)", shares)
    chart.add("from content (%)", [None if s is None else 100 - s for s in shares])
    return _svg(chart)
