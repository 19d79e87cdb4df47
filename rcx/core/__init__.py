"""Headless core of rcx: plans, options, seeding, runner, results store and events.

Nothing under ``rcx.core`` imports the TUI (textual, plotext)."""
