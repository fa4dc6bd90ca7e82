"""Fixtures of the ingest tests."""

from __future__ import annotations

import pytest

from omnicx.core.database import Database
from tests.factories import make_source


@pytest.fixture
def source(db: Database) -> tuple[int, str]:
    return make_source(db)
