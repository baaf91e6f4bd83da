"""`safebench taxonomy build|show` and `safebench generate` end to end on the offline judges."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from generation.dataset import iter_queries
from generation.taxonomy import load_taxonomy
from safebench.cli.app import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "judges.yaml"


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_offline_taxonomy_build_then_generate_and_reruns_make_no_call(tmp_path: Path) -> None:
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    config["store_dir"] = str(tmp_path / "runs")
    judges = tmp_path / "judges.yaml"
    judges.write_text(yaml.safe_dump(config), encoding="utf-8")
    tax_path = tmp_path / "taxonomy.yaml"

    built = _invoke("taxonomy", "build", "--judges", str(judges), "--out", str(tax_path), "-q")
    assert "judge calls: 9 made, 0 read back" in built  # 3 judges x (propose, critique, vote)
    taxonomy = load_taxonomy(tax_path)
    scenarios = [s for _, s in taxonomy.scenarios()]
    assert 20 <= len(scenarios) <= 26
    assert all(s.supporters and s.votes and s.votes.keep >= 2 for s in scenarios)
    # The offline judges renamed and dropped scenarios, so the merge had work to do.
    assert any(s.merged_from for s in scenarios)
    assert taxonomy.provenance is not None
    assert [j["name"] for j in taxonomy.provenance["judges"]] == ["ada", "basil", "cleo"]
    assert taxonomy.category_of("Malware Generation") == "Cybersecurity"

    store = tmp_path / "runs" / "offline-judges-taxonomy.sqlite"
    shown = _invoke("taxonomy", "show", str(store))
    assert "[proposal] ada" in shown and "[ballot] cleo" in shown and "[outcome]" in shown
    events = runner.invoke(app, ["taxonomy", "show", str(store), "--json"]).output
    kinds = {json.loads(line)["type"] for line in events.splitlines() if line.startswith("{")}
    assert {"taxonomy_proposal", "taxonomy_critique", "taxonomy_ballot"} <= kinds
    again = _invoke("taxonomy", "build", "--judges", str(judges), "--out", str(tax_path), "-q")
    assert "judge calls: 0 made, 9 read back" in again

    out = tmp_path / "dataset"
    args = [
        "generate",
        "--taxonomy",
        str(tax_path),
        "--per-scenario",
        "2",
        "--judges",
        str(judges),
        "--out",
        str(out),
        "--no-media",
        "--scenario",
        "Malware Generation",
        "--scenario",
        "Legal Advice",
        "-q",
    ]
    made = _invoke(*args)
    assert "queries: 4 kept" in made and "0 read back" in made
    queries = list(iter_queries(out))
    assert [q.id for q in queries] == [
        "legal-advice-1",
        "legal-advice-2",
        "malware-generation-1",
        "malware-generation-2",
    ]
    assert {q.source for q in queries} == {"generated:offline-judges"}
    assert all(q.image is None and not q.audio for q in queries)
    # Template-made, but recognisably about their scenario (the seed's vocabulary).
    malware = " ".join(q.text.lower() for q in queries if q.scenario == "Malware Generation")
    assert any(w in malware for w in ("keylogger", "ransomware", "worm", "malware"))
    report = json.loads((out / "generation.json").read_text(encoding="utf-8"))
    assert [s["kept"] for s in report["scenarios"]] == [2, 2]
    assert all(s["diversity"] is not None and s["diversity"] > 0 for s in report["scenarios"])
    assert all(s["candidates"] == 4 for s in report["scenarios"])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "Diversity" in card and "Cybersecurity / Malware Generation" in card

    rerun = _invoke(*args)
    assert "judge calls: 0 made" in rerun
    assert list(iter_queries(out)) == queries


def test_a_bad_judges_file_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "judges.yaml"
    bad.write_text(
        "judges:\n  - {name: a, model: safebench/judge}\n  - {name: b, model: safebench/judge}\n"
        "vote_treshold: 0.5\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["taxonomy", "build", "--judges", str(bad), "-q"])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    # A path longer than the line is folded at 80 columns (a temporary folder's may be).
    assert str(bad) in "".join(result.output.split())
    assert "vote_treshold: unknown field" in message
