"""The Cluster page (Cronicle's Admin > Servers): replicas, leader, nodes."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
