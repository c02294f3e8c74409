"""Edge tests that deliver to the real hub reuse the hub's fixtures (tests/ioc/conftest.py)."""

from __future__ import annotations

import pytest

from tests.ioc.conftest import database_url, db, hub, hub_settings, make  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def db_area() -> str:
    """Test databases of this folder are named ioc_t_edge_<hex>."""
    return "edge"
