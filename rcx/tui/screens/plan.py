"""The Plan screen: dataset, space, sampler, evaluators, device and seed as generated forms.

Every change is checked by the plan validator after a short pause; its messages appear under
the fields they concern (others above the form, where the status also names those fields).
``ctrl+s`` saves the plan as TOML, ``ctrl+r`` runs it (or, with problems, goes to the first).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Checkbox, Header, Input, Label, Select, SelectionList, Static

from rcx.core.data_prep import COMMON_OPTIONS
from rcx.core.plan import PlanError, parse_plan, top_options
from rcx.core.samplers import SAMPLER_OPTIONS
from rcx.core.stages import STAGE_OPTIONS
from rcx.tui.forms import (
    EXECUTION_FIELDS,
    FORM_TOP,
    UNTITLED,
    Component,
    PlanDraft,
    device_choices,
    errors_by_key,
    execution_settings,
    execution_values,
    space_summary,
)
from rcx.tui.screens.dialogs import PathScreen
from rcx.tui.widgets.footer import KeyFooter
from rcx.tui.widgets.option_form import OptionForm, field_id

if TYPE_CHECKING:
    from textual import getters

    from rcx.tui.app import RcxApp

# The plan's top-level keys as form fields (the device has its own selector); the plan validator
# checks them like any other.
TOP_FIELDS = [o for o in top_options(UNTITLED) if o.name in FORM_TOP and o.name != "device"]
_TOP_DEFAULTS = {o.name: o.default for o in TOP_FIELDS}


class PlanScreen(Screen):
    """Edit and run a plan."""

    if TYPE_CHECKING:  # typed: the screen runs in rcx's app, whose draft and registry it edits
        app = getters.app(RcxApp)

    BINDINGS = [
        Binding("ctrl+r", "start_run", "Run plan"),
        Binding("ctrl+s", "save", "Save plan"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._check_timer: Timer | None = None
        self.problems: list = []
        self.invalid_fields: list[str] = []  # keys of the fields whose rows show a problem
        self._shown_devices: list[tuple[str, str]] | None = None
        self._rest_mounted = False
        self._named: str | None = None  # the name the output's default was made from (set on mount)

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        app = self.app
        draft: PlanDraft = app.draft
        yield Header()
        yield Static("", id="plan-status")
        with VerticalScroll(id="plan-form"):
            yield Label("Plan", classes="section-title")
            top = {"name": draft.name, "seed": draft.seed, "output": draft.output}
            yield OptionForm("", TOP_FIELDS, top, id="form-top")
            with Horizontal(classes="option-row"):
                yield Label("device", classes="option-label")
                self._shown_devices = self._devices(draft.device)
                yield Select(self._shown_devices, value=draft.device, allow_blank=False, id="pick-device", compact=True)
            yield Label("Dataset", classes="section-title")
            yield Select(self._plugin_choices("dataset", draft.dataset.plugin), value=draft.dataset.plugin,
                         allow_blank=False, id="pick-dataset", compact=True)
            yield self._component_form("dataset", draft.dataset)
            yield Label("Search space", classes="section-title")
            yield Select(self._plugin_choices("space", draft.space.plugin), value=draft.space.plugin,
                         allow_blank=False, id="pick-space", compact=True)
            yield Static("", id="space-size")
            yield self._component_form("space", draft.space)
            yield Vertical(id="plan-rest")  # below the first screenful: mounted after the first frame
        yield Static("", id="field-help")
        yield KeyFooter()

    def _plugin_choices(self, kind: str, current: str) -> list[tuple[str, str]]:
        """The installed plugins of ``kind``, and the plan's own one when it is not installed (a
        misspelt name, a plugin missing here): shown as such and named by the validator, where
        a selector without it refused the value and the app ended with a traceback."""
        names = self.app.registry.names(kind)
        return [(n, n) for n in names] + ([] if current in names else [(f"{current}  (not installed)", current)])

    def _component_form(self, kind: str, comp: Component) -> OptionForm:
        registry = self.app.registry
        try:
            declared = list(registry.get(kind, comp.plugin).options)
        except KeyError:
            declared = []
        if kind == "dataset":
            declared = [*COMMON_OPTIONS, *declared]
        return OptionForm(kind, declared, comp.values, id=f"form-{kind}")

    def _evaluator_choices(self) -> list[tuple[str, str, bool]]:
        draft: PlanDraft = self.app.draft
        out = []
        for entry in self.app.registry.all("evaluator"):
            out.append((f"{entry.name}  {entry.obj.help}", entry.name, entry.name in draft.evaluators))
        known = set(self.app.registry.names("evaluator"))
        for inst, comp in draft.evaluators.items():  # instances under their own names, e.g. ridge_loo
            if inst != comp.plugin:
                out.append((f"{inst}  ({comp.plugin})", inst, True))
            elif inst not in known:  # kept (and named by the validator), never dropped from the plan unseen
                out.append((f"{inst}  (no such evaluator installed)", inst, True))
        return out

    def _evaluator_form(self, instance: str, comp: Component) -> Vertical:
        try:
            declared = list(self.app.registry.get("evaluator", comp.plugin).options)
        except KeyError:
            declared = []
        declared += [o for o in STAGE_OPTIONS if o.name in comp.values]  # a stage's top / top_fraction / by
        title = f"[evaluators.{instance}]" + (f"  evaluator = {comp.plugin}" if comp.plugin != instance else "")
        return Vertical(Label(title, classes="subsection-title"),
                        OptionForm(f"evaluators.{instance}", declared, comp.values),
                        id=f"ev-{instance}", classes="evaluator")

    def _rest(self) -> list[Widget]:
        """The sections below the first screenful: sampler, evaluators, execution."""
        app, draft = self.app, self.app.draft
        return [
            Label("Sampler", classes="section-title"),
            OptionForm("sampler", SAMPLER_OPTIONS, draft.sampler, id="form-sampler"),
            Label("Evaluators", classes="section-title"),
            SelectionList[str](*self._evaluator_choices(), id="pick-evaluators", compact=True),
            Vertical(*(self._evaluator_form(i, c) for i, c in draft.evaluators.items()), id="evaluator-forms"),
            Label("Execution (not part of the plan: never a change of results)", classes="section-title"),
            OptionForm("execution", EXECUTION_FIELDS, execution_values(app.execution), id="form-execution"),
        ]

    def on_mount(self) -> None:
        self._named = str(self.app.draft.name)
        self.call_after_refresh(self._mount_rest)

    async def _mount_rest(self) -> None:
        """Mount the sections below the first screenful once the first frame is drawn (a form
        of a few hundred widgets takes Textual a second to style and lay out), then check."""
        await self.query_one("#plan-rest", Vertical).mount_all(self._rest())
        self._rest_mounted = True
        self.check_now()

    def is_settled(self) -> bool:
        """Every section is mounted (snapshots and the App's ``is_settled`` wait for it)."""
        return self._rest_mounted

    def on_screen_resume(self) -> None:
        self.show_devices()

    def _devices(self, current: str) -> list[tuple[str, str]]:
        """The selector's devices: auto, cpu, the CUDA devices the App has listed so far, and the
        plan's own device when it is none of these."""
        devices = device_choices(self.app.cuda_devices)
        if current not in [v for _, v in devices]:
            devices.append((current, current))
        return devices

    def show_devices(self) -> None:
        """Add the CUDA devices the App listed after the first frame, keeping the selection."""
        select = self.query_one("#pick-device", Select)
        current = str(select.value)
        devices = self._devices(current)
        if devices != self._shown_devices:
            self._shown_devices = devices
            select.set_options(devices)
            select.value = current

    # -- reading the form -----------------------------------------------------------------
    def _picked(self, selector: str) -> str:
        """The value of one of the screen's pickers (made with ``allow_blank=False``: never blank)."""
        value = self.query_one(selector, Select).value
        assert isinstance(value, str), f"{selector} has no value"
        return value

    def collect(self) -> PlanDraft:
        """The draft as the form shows it (also stored as the App's draft)."""
        app = self.app
        old: PlanDraft = app.draft
        top = self.query_one("#form-top", OptionForm).values()
        draft = PlanDraft(
            name=top.get("name", _TOP_DEFAULTS["name"]), seed=top.get("seed", _TOP_DEFAULTS["seed"]),
            output=top.get("output", _TOP_DEFAULTS["output"]),
            device=self._picked("#pick-device"),
            dataset=Component(self._picked("#pick-dataset"), self.query_one("#form-dataset", OptionForm).values()),
            space=Component(self._picked("#pick-space"), self.query_one("#form-space", OptionForm).values()),
            sampler=self.query_one("#form-sampler", OptionForm).values() if self._rest_mounted else old.sampler,
            evaluators={} if self._rest_mounted else dict(old.evaluators), path=old.path, extra=old.extra,
            file_ids=old.file_ids,
        )
        for inst in self.query_one("#pick-evaluators", SelectionList).selected if self._rest_mounted else ():
            comp = old.evaluators.get(inst, Component(inst))
            forms = self.query(f"#ev-{inst} OptionForm")
            draft.evaluators[inst] = Component(comp.plugin, forms.first(OptionForm).values() if forms else comp.values,
                                               comp.named)
        app.draft = draft
        return draft

    def check_now(self) -> None:
        """Validate the form and show the validator's messages where they belong."""
        draft = self.collect()
        plan, problems = draft.validate(self.app.registry)
        if self._rest_mounted:
            settings, exec_problems = execution_settings(self.query_one("#form-execution", OptionForm).values())
        else:
            settings, exec_problems = self.app.execution, []
        if settings is not None:
            self.app.execution = settings
        problems = [*problems, *exec_problems]
        self.problems = problems
        errors = errors_by_key(problems)
        shown: set[str] = set()
        for form in self.query(OptionForm):
            shown |= form.set_errors(errors)
        others = [p for p in problems if p.path not in shown]
        status = self.query_one("#plan-status", Static)
        if plan is not None and not exec_problems:
            where = f"   on {settings.describe()}" if settings is not None and settings.executor != "in-process" else ""
            status.update(f"[green]plan ok[/]: {plan.name} -> {plan.output}{where}   ctrl+r runs it, ctrl+s saves it")
        else:
            under = list(dict.fromkeys(p.path for p in problems if p.path in shown))
            head = f"[red]{len(problems)} problem(s)[/]"
            if under:  # shown under their fields, which may be screens below: say which
                head += f": under {', '.join(under)}   ctrl+r goes to the first"
            lines = [head, *(f"  [red]{p.path or 'plan'}[/]: {p.message}" for p in others)]
            status.update("\n".join(lines))
        self.invalid_fields = [p.path for p in problems if p.path in shown]
        self.query_one("#space-size", Static).update(space_summary(self.app.registry, draft))

    def _schedule_check(self) -> None:
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(0.3, self.check_now)

    # -- events ---------------------------------------------------------------------------
    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self) -> None:
        self._schedule_check()

    @on(Input.Changed, f"#{field_id('name')}")
    def _name_changed(self, event: Input.Changed) -> None:
        """The output follows the name while it is the name's default (``runs/NAME.db``): a plan
        renamed in the form otherwise wrote into ``runs/untitled.db`` with every other one."""
        output = self.query_one(f"#{field_id('output')}", Input)
        if self._named is not None and output.value.strip() in ("", f"runs/{self._named}.db"):
            output.value = f"runs/{event.value.strip()}.db" if event.value.strip() else ""
        self._named = event.value.strip()

    @on(Select.Changed)
    async def _select_changed(self, event: Select.Changed) -> None:
        kind = {"pick-dataset": "dataset", "pick-space": "space"}.get(event.select.id or "")
        if kind is not None:
            form = self.query_one(f"#form-{kind}", OptionForm)
            if getattr(self.app.draft, kind).plugin != event.value:
                await form.remove()
                after = self.query_one("#space-size") if kind == "space" else event.select
                form = self._component_form(kind, Component(str(event.value)))
                await self.query_one("#plan-form").mount(form, after=after)
        self._schedule_check()

    @on(SelectionList.SelectedChanged)
    async def _evaluators_changed(self, event: SelectionList.SelectedChanged) -> None:
        selected = list(event.selection_list.selected)
        box = self.query_one("#evaluator-forms", Vertical)
        shown = {w.id.removeprefix("ev-"): w for w in box.query(".evaluator") if w.id}
        for inst, widget in shown.items():
            if inst not in selected:
                await widget.remove()
        draft: PlanDraft = self.app.draft
        for inst in selected:
            if inst not in shown:
                await box.mount(self._evaluator_form(inst, draft.evaluators.get(inst, Component(inst))))
        self._schedule_check()

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        tip = getattr(widget, "tooltip", None)
        self.query_one("#field-help", Static).update(str(tip) if tip else "")

    # -- actions --------------------------------------------------------------------------
    def action_start_run(self) -> None:
        self.check_now()
        draft: PlanDraft = self.app.draft
        plan, problems = draft.validate(self.app.registry)
        if plan is None or self.problems:
            self.notify(f"the plan has {len(self.problems or problems)} problem(s); fix them first", severity="error")
            self.focus_first_problem()
            return
        original = self.app.plan_text
        if original is not None and draft.path is not None:  # run the file's own text when it says the same
            try:
                as_written = parse_plan(original, self.app.registry, source=str(draft.path))
                if as_written.hash == plan.hash and as_written.output == plan.output and as_written.name == plan.name:
                    plan = as_written
            except PlanError:
                pass
        self.app.start_run(plan)

    def focus_first_problem(self) -> None:
        """Focus (and so scroll to) the field of the first problem shown under a field."""
        for key in self.invalid_fields:
            fields = self.query(f"#{field_id(key)}")
            if fields:
                fields.first().focus()
                return

    def action_save(self) -> None:
        draft: PlanDraft = self.collect()
        suggestion = str(draft.path or Path(f"{draft.name}.toml"))

        def save(path: str | None) -> None:
            if not path:
                return
            target = Path(path).expanduser()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                text = self.app.draft.to_toml()
                target.write_text(text, encoding="utf-8")
            except OSError as exc:
                self.notify(f"cannot save {target}: {exc.strerror}", severity="error")
                return
            self.app.draft.path = target
            self.app.plan_text = text
            self.notify(f"saved {target}")

        self.app.push_screen(PathScreen("Save the plan as (TOML):", suggestion), save)
