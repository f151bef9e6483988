"""Chronos runner."""
