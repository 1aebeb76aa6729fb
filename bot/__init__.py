"""Canvasbot: image models behind slash commands."""
