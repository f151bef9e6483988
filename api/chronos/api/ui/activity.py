"""The Activity page (Cronicle's Activity Log): who did what to which job."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
