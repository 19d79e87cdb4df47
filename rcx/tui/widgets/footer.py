"""The footer of every screen: compact, and without the palette key below 100 columns.

At 80 columns every key of a screen and the F-keys must fit; ``ctrl+p`` (the command palette)
is listed by F1 and works everywhere, so it gives up its place first.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

PALETTE_MIN_WIDTH = 100


class KeyFooter(Footer):
    """A compact :class:`Footer` that shows the palette key only from :data:`PALETTE_MIN_WIDTH` columns."""

    def __init__(self) -> None:
        super().__init__(compact=True)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= PALETTE_MIN_WIDTH
        if wide != self.show_command_palette:
            self.show_command_palette = wide
            self.call_after_refresh(self.recompose)
