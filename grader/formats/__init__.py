"""Renderings of the one result model for the tools users grade with (JUnit, GitHub)."""
