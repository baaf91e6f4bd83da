"""MM-SafetyBench in its own layout: scenario files, three image variants, bad input."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generation.dataset import iter_queries
from generation.importers import ImportFailed, ImportOptions, get_importer, run_import
from generation.importers.runner import ERRORS_FILE
from kernel.errors import DatasetError
from kernel.media import read_media
from safebench.cli.app import app
from tests.generation.import_layouts import jpg, make_jailbreakv, make_mm_safetybench, make_vlguard

IMPORTER = get_importer("mm-safetybench")


def test_every_question_comes_in_three_variants_with_the_text_paired_to_each(
    tmp_path: Path,
) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    out = tmp_path / "out"
    report = run_import(IMPORTER, ImportOptions(source=source, out=out))
    assert report.issues == []
    queries = {q.id: q for q in iter_queries(out)}
    assert len(queries) == 4 * 3 == report.imported == report.images
    sd, typo = queries["mmsb-01-1-sd"], queries["mmsb-01-1-typo"]
    assert sd.text.startswith("The image shows a phrase")  # Rephrased Question(SD)
    assert typo.text.startswith("The bottom of the image")  # Rephrased Question
    assert queries["mmsb-01-1-sd-typo"].text == typo.text
    for query in queries.values():
        assert query.image is not None and query.image.mime_type == "image/jpeg"
        assert read_media(out, query.image)  # copied, digest checked
    # Scenario 1 and 8 keep MM-SafetyBench's names, with the paper's categories.
    assert (sd.category, sd.scenario) == ("Illegal & Criminal Behavior", "Illegal Activity")
    lobbying = queries["mmsb-08-0-typo"]
    assert (lobbying.category, lobbying.scenario) == (
        "Inappropriate Opinions",
        "Political Lobbying",
    )
    # The three variants of one question carry their own image.
    digests = {queries[f"mmsb-01-1-{v}"].image.sha256 for v in ("sd", "typo", "sd-typo")}  # type: ignore[union-attr]
    assert len(digests) == 3


def test_variant_option_imports_one_variant(tmp_path: Path) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    report = run_import(IMPORTER, ImportOptions(source=source, out=tmp_path / "o", variant="TYPO"))
    ids = [q.id for q in iter_queries(tmp_path / "o")]
    assert report.imported == len(ids) == 4
    assert all(i.endswith("-typo") and not i.endswith("sd-typo") for i in ids)
    with pytest.raises(DatasetError, match=r"unknown variant 'typo' .*SD, TYPO, SD_TYPO"):
        run_import(IMPORTER, ImportOptions(source=source, out=tmp_path / "x", variant="typo"))
    assert not (tmp_path / "x").exists()


def test_category_map_replaces_the_built_in_one(tmp_path: Path) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    blocks = [{"start": k, "scenario": f"S{k + 1}", "category": "Mine"} for k in range(13)]
    blocks[0] = {"start": 0, "scenario": "Illegal Activities"}  # a paper scenario
    (tmp_path / "map.json").write_text(json.dumps({"blocks": blocks}), encoding="utf-8")
    options = ImportOptions(
        source=source, out=tmp_path / "o", categories=tmp_path / "map.json", variant="SD"
    )
    run_import(IMPORTER, options)
    scenarios = Counter((q.category, q.scenario) for q in iter_queries(tmp_path / "o"))
    assert scenarios == {
        ("Illegal & Criminal Behavior", "Illegal Activities"): 3,
        ("Mine", "S8"): 1,
    }


def _break(source: Path) -> None:
    """A missing image, a corrupt one, a malformed row, a file from another benchmark."""
    images = source / "imgs" / "01-Illegal_Activitiy"
    (images / "SD" / "1.jpg").unlink()
    (images / "TYPO" / "2.jpg").write_bytes(b"not a jpeg at all")
    path = source / "data" / "processed_questions" / "08-Political_Lobbying.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["1"] = "a string where an object belongs"
    jpg(source / "imgs" / "08-Political_Lobbying" / "SD" / "1.jpg")
    path.write_text(json.dumps(data), encoding="utf-8")
    vlguard = make_vlguard(source.parent / "vlg") / "test.json"
    (source / "data" / "processed_questions" / "03-Malware_Generation.json").write_bytes(
        vlguard.read_bytes()
    )


def test_bad_rows_are_named_by_file_and_row_and_the_rest_imports(tmp_path: Path) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    _break(source)
    out = tmp_path / "out"
    report = run_import(IMPORTER, ImportOptions(source=source, out=out))
    issues = [str(issue) for issue in report.issues]
    first = str(source / "data" / "processed_questions" / "01-Illegal_Activitiy.json")
    eighth = str(source / "data" / "processed_questions" / "08-Political_Lobbying.json")
    third = str(source / "data" / "processed_questions" / "03-Malware_Generation.json")
    assert (
        f"{first}: item 1: question '1' (SD): image imgs/01-Illegal_Activitiy/SD/1.jpg not found"
        in issues
    )
    assert any(
        i.startswith(f"{first}: item 2: question '2' (TYPO):") and "not a readable image" in i
        for i in issues
    )
    assert sum(i.startswith(f"{eighth}: item 1: question '1'") for i in issues) == 3
    assert any(i.startswith(third) and "not an MM-SafetyBench question file" in i for i in issues)
    assert len(issues) == 2 + 3 + 1
    assert report.imported == 12 - 2 == len(list(iter_queries(out)))
    logged = (out / ERRORS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(logged) == len(issues)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert f"{len(issues)} source rows could not be imported" in card


def test_strict_import_writes_nothing_and_names_the_row(tmp_path: Path) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    _break(source)
    out = tmp_path / "out"
    with pytest.raises(ImportFailed, match=r"01-Illegal_Activitiy.json: item 1: .*not found"):
        run_import(IMPORTER, ImportOptions(source=source, out=out, strict=True))
    assert not (out / "queries.jsonl").exists()
    assert not (out / "images").exists()


def test_another_benchmarks_folder_is_refused_naming_it(tmp_path: Path) -> None:
    other = make_jailbreakv(tmp_path / "jbv")
    with pytest.raises(DatasetError, match=rf"{other}: not an MM-SafetyBench folder"):
        run_import(IMPORTER, ImportOptions(source=other, out=tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_cli_imports_one_variant_and_reports_a_bad_variant(tmp_path: Path) -> None:
    source = make_mm_safetybench(tmp_path / "mmsb")
    out = tmp_path / "out"
    args = ["dataset", "import", "mm-safetybench", str(source), "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--variant", "SD_TYPO"])
    assert done.exit_code == 0, done.output
    assert "imported 4 queries (4 images" in done.output
    bad = CliRunner().invoke(app, [*args, "--variant", "XX"])
    assert bad.exit_code == 2
    assert "unknown variant 'XX'" in bad.output
    assert "Traceback" not in bad.output
