"""A form generated from declared :class:`~rcx.api.options.Option` lists.

Every option becomes one row: its name, a field chosen by its type (a checkbox for booleans, a
select for string choices, a text input otherwise, showing the default and the allowed range)
and an error line that shows the plan validator's message for that key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from rcx.api.options import Option
from rcx.tui.forms import UNSET, parse_text, to_text


def field_id(key: str) -> str:
    """A DOM id for the dotted key ``evaluators.ridge_rfm.trials``."""
    return "f-" + key.replace(".", "--")


class OptionRow(Horizontal):
    """One option: label, field, and (below) its error message.

    A value its field cannot show (``kind = "grid"`` for a choice, ``"yes"`` for a checkbox) gets a
    text field instead, so it is kept as written and the validator names it."""

    def __init__(self, key: str, option: Option, value: Any = UNSET) -> None:
        super().__init__(classes="option-row")
        self.key = key
        self.option = option
        self.initial = value

    def compose(self) -> ComposeResult:
        opt, value = self.option, self.initial
        yield Label(opt.name, classes="option-label")
        with Vertical(classes="option-field"):
            fid = field_id(self.key)
            if opt.type is bool and (value is UNSET or isinstance(value, bool)):
                checked = bool(opt.default if value is UNSET else value)
                yield Checkbox(opt.describe(), checked, id=fid, compact=True)
            elif opt.type is str and opt.choices and (value is UNSET or value in opt.choices):
                current = opt.default if value is UNSET else value
                optional = opt.default is None  # unset until chosen: the blank entry means "not given"
                yield Select([(str(c), c) for c in opt.choices], value=Select.NULL if current is None else current,
                             allow_blank=optional, prompt="none", id=fid, compact=True)
            else:
                default = "none" if opt.default is None else to_text(opt.default)
                yield Input(to_text(value), placeholder=f"{default}   ({opt.describe()})", id=fid, compact=True)
            yield Static("", classes="option-error")

    def on_mount(self) -> None:
        self.query_one(f"#{field_id(self.key)}").tooltip = self.option.help

    def value(self) -> Any:
        """The value set in the field, or :data:`UNSET` when it is the default / empty."""
        widget = self.query_one(f"#{field_id(self.key)}")
        if isinstance(widget, Input):
            return parse_text(self.option, widget.value)
        assert isinstance(widget, (Checkbox, Select))  # the fields compose() makes
        v = widget.value
        if self.initial is not UNSET and v == self.initial:  # a value the plan spelled out stays in it
            return self.initial
        return UNSET if v == self.option.default or v is Select.NULL else v

    def set_error(self, message: str) -> None:
        self.query_one(".option-error", Static).update(message)
        self.set_class(bool(message), "-invalid")


class OptionForm(Vertical):
    """Rows for ``options`` under the key prefix ``prefix`` (``dataset``, ``evaluators.x``)."""

    def __init__(self, prefix: str, options: Sequence[Option], values: dict[str, Any] | None = None,
                 id: str | None = None) -> None:
        super().__init__(classes="option-form", id=id)
        self.prefix = prefix
        self.options = list(options)
        self.values_in = dict(values or {})

    def compose(self) -> ComposeResult:
        known = {o.name for o in self.options}
        for opt in self.options:
            yield OptionRow(self._key(opt.name), opt, self.values_in.get(opt.name, UNSET))
        for name, value in self.values_in.items():  # keys no option declares: kept as they are for the validator
            if name not in known:
                typ = type(value) if isinstance(value, (bool, int, float, list)) else str
                yield OptionRow(self._key(name), Option(name, typ, None, "not an option of this plugin"), value)

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def values(self) -> dict[str, Any]:
        """The values set (empty fields left out, so they take their defaults)."""
        out = {}
        for row in self.query(OptionRow):
            v = row.value()
            if v is not UNSET:
                out[row.option.name] = v
        return out

    def set_errors(self, errors: dict[str, str]) -> set[str]:
        """Show ``errors`` (dotted key -> message) on the matching rows; returns the keys shown."""
        shown = set()
        for row in self.query(OptionRow):
            message = errors.get(row.key, "")
            row.set_error(message)
            if message:
                shown.add(row.key)
        return shown
