"""Helpers shared by test modules (importable, unlike conftest.py)."""
