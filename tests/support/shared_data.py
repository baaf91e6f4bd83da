"""Where the tests find the public reference data (``../shared/data`` beside the clone).

It is not part of the repository: a test that reads it skips when it is absent, so the
README's test command passes on any fresh clone. ``SAFEBENCH_SHARED_DATA`` points the tests
elsewhere (``tests/test_without_shared_data.py`` points it at nothing to prove the skips).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("SAFEBENCH_SHARED_DATA")
    or Path(__file__).resolve().parents[2].parent / "shared" / "data"
)


def needs_shared_data(*parts: str) -> pytest.MarkDecorator:
    """Skip unless ``SHARED_DATA/<parts>`` exists."""
    path = SHARED_DATA.joinpath(*parts)
    return pytest.mark.skipif(
        not path.exists(), reason=f"{path} is absent (shared reference data is not in the repo)"
    )
