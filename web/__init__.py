"""Jinja2 templates and static JS/CSS of the hub's pages (no build step)."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
