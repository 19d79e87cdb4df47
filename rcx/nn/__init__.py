"""Reusable torch pieces: seeded initialisation, layer specs, ridge solver, feature extraction."""
