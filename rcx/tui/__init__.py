"""The rcx terminal UI (Textual). Imported only by ``rcx`` with no sub-command; the headless
paths never import it."""

from __future__ import annotations

import sys
from pathlib import Path


def main(target: Path | None = None, execution=None) -> int:
    """Open the app: empty, with a plan file (``.toml``), or on a results file (anything else).

    A plan with a TOML syntax error, or a results file that is not one, is refused with one
    message (exit code 2); a plan with other problems opens with them shown in the form.
    ``execution`` (:class:`~rcx.exec.ExecutionSettings`, from ``rcx run PLAN --executor ...``)
    fills the Plan screen's execution section.
    """
    import tomli

    from rcx.core.store import Store, StoreError
    from rcx.plugins import get_registry
    from rcx.tui.app import RcxApp
    from rcx.tui.forms import PlanDraft

    registry = get_registry()
    draft = plan_text = db_path = None
    if target is not None and target.suffix == ".toml":
        try:
            plan_text = target.read_text(encoding="utf-8")
            draft = PlanDraft.from_toml(plan_text, target)
        except OSError as exc:
            print(f"rcx: error: {target}: cannot read the plan: {exc.strerror}", file=sys.stderr)
            return 2
        except tomli.TOMLDecodeError as exc:
            print(f"rcx: error: {target}: TOML syntax error: {exc}", file=sys.stderr)
            return 2
    elif target is not None:
        try:
            Store.open_readonly(target).close()
        except StoreError as exc:
            print(f"rcx: error: {exc}", file=sys.stderr)
            return 2
        db_path = target
    app = RcxApp(registry, draft, plan_text, db_path, execution)
    app.run()
    return app.return_code or 0
