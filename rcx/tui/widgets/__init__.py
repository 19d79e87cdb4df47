"""Widgets of the rcx TUI."""
