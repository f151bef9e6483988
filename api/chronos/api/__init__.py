"""Chronos api."""
