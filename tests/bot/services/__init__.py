"""Tests for bot.services (pure Python, no discord)."""
