"""Small modal screens: confirm, save-as, pick a column (or several), help.

Each composes its own footer: the screen behind stays in view around a dialog, and its footer
listed that screen's keys, which do nothing while the dialog is open."""

from __future__ import annotations

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static

from rcx.tui.widgets.footer import KeyFooter


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y``/``n``, enter or escape answer it."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, prompt: str) -> None:
        super().__init__()
        self.prompt = prompt

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt, classes="dialog-prompt")
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no", compact=True)
                yield Button("Yes", id="yes", variant="error", compact=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PathScreen(ModalScreen[str | None]):
    """Ask for a file path (enter accepts, escape cancels)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, prompt: str, value: str) -> None:
        super().__init__()
        self.prompt, self.value = prompt, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.prompt, classes="dialog-prompt")
            yield Input(self.value, id="path")
        yield KeyFooter()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PickScreen(ModalScreen[str | None]):
    """Pick one of ``choices`` (label, value); escape cancels."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, prompt: str, choices: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.prompt, self.choices, self.current = prompt, choices, current

    def compose(self) -> ComposeResult:
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog pick"):
            yield Label(self.prompt, classes="dialog-prompt")
            yield OptionList(*(Option(label, id=value) for label, value in self.choices), id="pick")
        yield KeyFooter()

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        values = [v for _, v in self.choices]
        if self.current in values:
            picker.highlighted = values.index(self.current)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class MultiPickScreen(ModalScreen[list[str] | None]):
    """Pick several of ``choices`` (label, value): space toggles one, ``s`` accepts (at least
    ``least`` of them), escape cancels."""

    BINDINGS = [Binding("s", "accept", "Accept"), Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, prompt: str, choices: list[tuple[str, str]], least: int = 1) -> None:
        super().__init__()
        self.prompt, self.choices, self.least = prompt, choices, least

    def compose(self) -> ComposeResult:
        from textual.widgets import SelectionList

        with Vertical(classes="dialog pick"):
            yield Label(self.prompt, classes="dialog-prompt")
            yield SelectionList[str](*self.choices, id="pick")
            yield Label("", id="pick-hint", classes="dialog-hint")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._hint()

    def _picked(self) -> list[str]:
        from textual.widgets import SelectionList

        return list(self.query_one(SelectionList).selected)

    def _hint(self) -> None:
        self.query_one("#pick-hint", Label).update(
            f"space picks, s accepts, escape cancels   {len(self._picked())} picked (at least {self.least})")

    def on_selection_list_selected_changed(self) -> None:
        self._hint()

    def action_accept(self) -> None:
        picked = self._picked()
        if len(picked) >= self.least:
            self.dismiss(picked)
        else:
            self.notify(f"pick at least {self.least}", severity="warning")

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key binding, grouped by screen."""

    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def __init__(self, groups: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for title, rows in self.groups:
            table.add_row(f"[reverse] {title} [/]", "")
            for key, what in rows:
                table.add_row(key, what)
            table.add_row("", "")
        table.add_row("ctrl+p", "command palette: every screen and action")
        with Vertical(classes="dialog help"):
            yield Label("rcx keys (escape closes)", classes="dialog-prompt")
            with VerticalScroll():
                yield Static(table)
        yield KeyFooter()
