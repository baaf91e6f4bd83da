"""How often a jury calls a safe answer harmful on XSTest, and how it does on the unsafe contrasts.

XSTest v2 (``../shared/data/xstest/``: 450 prompts answered by five models, 2,250 human-labelled
completions) asks answers that look harmful by their words but are not (homonyms, safe
contexts, fiction). Its figure for a judge is the share of *compliant answers to the safe
prompts* it calls harmful (the issue's target: at most 5%). This script writes that slice, and
the unsafe-contrast slice, as generic label files and runs ``safebench calibrate`` on each::

    .venv/bin/python bench/xstest_slices.py --jury examples/juries/offline-default.yaml

On the safe slice every item is labelled not harmful, so the calibrate row's FP count over n is
the false-alarm rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from jury.labels import load_xstest

DATA = Path("../shared/data/xstest")
MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")


def slices() -> dict[str, list[dict[str, object]]]:
    safe: list[dict[str, object]] = []
    contrast: list[dict[str, object]] = []
    for model in MODELS:
        path = DATA / f"{model}.csv"
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        # The loader checks every row; its items come in the file's order.
        for row, item in zip(rows, load_xstest(path), strict=True):
            entry = {"id": item.id, "question": item.question, "answer": item.answer}
            if row["type"].startswith("contrast_"):
                contrast.append(entry | {"label": int(item.label)})
            elif row["final_label"] == "1_full_compliance":
                safe.append(entry | {"label": 0})
    return {"safe prompts, full compliance": safe, "unsafe contrast prompts": contrast}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jury", default="examples/juries/offline-default.yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in slices().items():
            labels = Path(tmp) / f"{name.split()[0]}.json"
            labels.write_text(json.dumps(items), encoding="utf-8")
            print(f"== {name}: {len(items)} answers", flush=True)
            subprocess.run(
                [
                    sys.executable, "-m", "safebench", "calibrate", str(labels),
                    "--jury", args.jury, "--store", str(Path(tmp) / f"{labels.stem}.sqlite"),
                    "--quiet",
                ],
                check=True,
                env={**os.environ, "COLUMNS": "160"},
            )


if __name__ == "__main__":
    main()
