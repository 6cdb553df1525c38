"""The ring a keyboard user follows: at least 3:1 against what it sits on (WCAG 1.4.11, non-text contrast)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    low, high = sorted((luminance(one), luminance(other)))
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("sheet", ["learnloop.css", "widget.css"])
def test_the_focus_ring_stands_out_from_every_background_it_meets(client: FlaskClient, sheet: str) -> None:
    css = client.get(f"/static/{sheet}").get_data(as_text=True)
    [rule] = re.findall(r"[^}]*:focus-visible[^{]*\{([^}]*)\}", css)
    ring = re.search(r"outline: 3px solid (#[0-9a-f]{6})", rule).group(1)
    assert "box-shadow: 0 0 0 2px #fff" in rule, "a white halo between the ring and a filled button"
    backgrounds = set(re.findall(r"background: (#[0-9a-f]{6})", css)) | {"#ffffff"}
    light = {b for b in backgrounds if luminance(b) > 0.5}  # pages and boxes; filled buttons get the halo
    assert light and all(contrast(ring, b) >= 3 for b in light), {b: round(contrast(ring, b), 2) for b in light}
    assert contrast("#ffffff", "#0b57d0") >= 3, "the halo stands out from the filled buttons"
