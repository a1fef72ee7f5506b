from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# make tests/_helpers.py importable as `_helpers`
sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("MPLBACKEND", "Agg")

#: ``../shared/data`` beside the checkout, as in CI; tests that need it skip without it.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The folder of small real data sets beside the checkout (skips when it is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent: the real-data tests need ../shared/data")
    return SHARED_DATA
