"""Server-rendered SVG charts (pygal), drawn without scripts so the page's strict CSP holds."""

from __future__ import annotations

from datetime import date

import base64
import hashlib
import html
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
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _svg(chart: pygal.graph.graph.Graph) -> str:
    """The chart without pygal's config script (the page allows no scripts); its stylesheet stays,
    allowed by hash in the page's Content-Security-Policy (see allow_inline_styles)."""
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    svg = svg.replace('style="opacity: 0"', 'opacity="0"')
    allow_inline_styles(_STYLE.findall(svg))
    return svg


def allow_inline_styles(blocks: list[str]) -> None:
    from flask import g

    hashes = getattr(g, "csp_style_hashes", [])
    for block in blocks:
        text = html.unescape(block)  # inline SVG's <style> is parsed as text: the browser hashes it decoded
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        hashes.append(f"'sha256-{digest}'")
    g.csp_style_hashes = hashes


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
