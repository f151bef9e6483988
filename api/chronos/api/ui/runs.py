"""The Runs page (Cronicle's Completed tab): every run the caller may read, filtered, paged, exported."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
