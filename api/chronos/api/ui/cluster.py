"""The Cluster page (Cronicle's Admin > Servers): operator and facade replicas, the leader, nodes, live figures."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
