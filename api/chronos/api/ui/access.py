"""The Your-access page: what the signed-in identity may do in each namespace it can see."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
