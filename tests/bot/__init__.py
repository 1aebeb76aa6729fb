"""Tests for the bot package."""
