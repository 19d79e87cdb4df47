"""Screens of the rcx TUI."""
