"""Inline SVG icons: they draw the same everywhere, where emoji (👍 👎) show as empty boxes on systems
without an emoji font. Paths from Feather icons (MIT licence, feathericons.com)."""

from __future__ import annotations

from markupsafe import Markup

_PATHS = {
    "thumb-up": "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 "
                "1-2-2v-7a2 2 0 0 1 2-2h3",
    "thumb-down": "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 "
                  "2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17",
}


def icon(name: str) -> Markup:
    """An inline SVG icon (decorative: the control that holds it carries the label)."""
    return Markup(
        '<svg class="icon" width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" '
        'focusable="false">'
        f'<path d="{_PATHS[name]}"/></svg>')
