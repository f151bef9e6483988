"""The Runs page (Cronicle's Completed tab): every run the caller may read."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
