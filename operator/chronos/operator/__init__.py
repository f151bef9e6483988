"""Chronos operator."""
