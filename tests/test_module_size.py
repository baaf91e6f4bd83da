"""No product module grows past 500 lines: a module that does that holds more than one
subject, and the next change to it is harder to review (the gateway and the store crossed
the line twice before anything guarded it)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["kernel", "safebench", "agents", "generation", "jury", "targets", "transcripts"]
LIMIT = 500


def test_no_product_module_is_over_500_lines() -> None:
    over = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert over == {}, f"split these modules (lines over {LIMIT}): {over}"
