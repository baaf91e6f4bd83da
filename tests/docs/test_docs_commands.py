"""The documentation's commands still work as printed.

Runnable offline commands are marked in README.md and docs/*.md by an HTML comment on the
line before their fenced block (invisible on GitHub and in the built site, and kept by
``mkdocs build --strict``)::

    <!-- offline -->
    ```bash
    safebench rules voting
    ```

``<!-- offline exit=N -->`` documents a command block whose commands exit with N, and
``<!-- file: NAME -->`` before a block (a config the text says to save) writes the block to
NAME in the working directory before the commands after it run. Each
marked command runs with no key and no network (``LITELLM_LOCAL_MODEL_COST_MAP=True``, the
usual key variables removed), through this interpreter (``python -m safebench``).

The README's marked block is the shared start: it runs first, in a fresh directory holding a
copy of ``examples/``, and writes the starter run (``runs/starter-offline.sqlite``) that the
pages' commands then read. Each page runs its marked blocks in order in its own copy of
that directory, leaving out the command lines the start already ran (the same text is the
same command). Every other ``safebench`` command the docs print (a real model's run, a
study) is checked without running it: its subcommand must exist and take every ``--option``
the line names. The Extending page's worked example (a voting rule) is run, and the
voting-rule contract tests are run over it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("**/*.md"))
MAX_README_LINES = 200

_FENCE = re.compile(
    r"(?:<!--\s*(?P<marker>[^>]*?)\s*-->[ \t]*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```",
    re.DOTALL | re.MULTILINE,
)
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_KEY_VARIABLES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "HOSTED_VLLM_API_KEY",
    "AZURE_API_KEY", "TOGETHERAI_API_KEY", "HF_TOKEN",
)


@dataclass(frozen=True)
class Block:
    page: Path
    marker: str
    lang: str
    body: str

    @property
    def offline(self) -> bool:
        return self.marker.split()[:1] == ["offline"]

    @property
    def expected_exit(self) -> int:
        found = re.search(r"\bexit=(\d+)", self.marker)
        return int(found.group(1)) if found else 0

    @property
    def file_name(self) -> str | None:
        found = re.fullmatch(r"file:\s*([\w.-]+)", self.marker)
        return found.group(1) if found else None

    @property
    def python_name(self) -> str | None:
        found = re.fullmatch(r"python:\s*(\w+)", self.marker)
        return found.group(1) if found else None


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, (m.group("marker") or "").strip(), m.group("lang"), m.group("body"))
        for m in _FENCE.finditer(text)
    ]


def command_lines(body: str) -> list[str]:
    """The shell lines of a block: continuations joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def normalised(line: str) -> str:
    return " ".join(shlex.split(line, comments=True))


def offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _KEY_VARIABLES}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "160"
    return env


def run_line(line: str, cwd: Path, expected: int) -> None:
    words = shlex.split(line, comments=True)
    assert words and words[0] == "safebench", f"only safebench commands may be marked: {line}"
    done = subprocess.run(
        [sys.executable, "-m", "safebench", *words[1:]],
        cwd=cwd, env=offline_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == expected, (
        f"`{line}` exited {done.returncode}, the docs say {expected}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def readme_start() -> list[Block]:
    return [b for b in blocks(README) if b.offline or b.file_name]


def run_blocks(page_blocks: list[Block], cwd: Path, skip: set[str]) -> None:
    """The marked blocks in order: files written, commands run (but those in ``skip``)."""
    for block in page_blocks:
        if block.file_name:
            (cwd / block.file_name).write_text(block.body, encoding="utf-8")
        elif block.offline:
            for line in command_lines(block.body):
                if normalised(line) not in skip:
                    run_line(line, cwd, block.expected_exit)


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the README's offline commands ran: the starter run is in it."""
    where = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", where / "examples")
    start = readme_start()
    assert any(b.offline for b in start), "README.md has no <!-- offline --> block"
    run_blocks(start, where, skip=set())
    return where


def test_readme_is_short_and_its_first_run_works(started: Path) -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"
    assert (started / "runs" / "starter-offline.sqlite").is_file()
    assert (started / "report" / "report.html").is_file()


def test_every_docs_page_the_readme_links_exists() -> None:
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|bench)/[^)#\s]+)(?:#[^)]*)?\)", text)
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (ROOT / t).is_file()]
    assert not missing, f"README.md links to missing files: {missing}"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for target in targets:
        if target.startswith("docs/"):
            assert target.removeprefix("docs/") in nav, f"{target} is not in mkdocs.yml's nav"


def test_the_make_targets_do_what_the_readme_says() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")

    def recipe(target: str) -> str:
        found = re.search(rf"^{target}:[^\n]*\n((?:\t[^\n]*\n)*)", make, re.MULTILINE)
        assert found, f"no {target} target in the Makefile"
        return found.group(1)

    readme = README.read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "safebench run examples/offline.yaml" in recipe("demo")
    assert "pytest" in recipe("test") and re.search(r"^test: *lint", make, re.MULTILINE)
    lint = recipe("lint")
    for tool in ("ruff check", "lint-imports", "mkdocs build --strict"):
        assert tool in lint, f"make lint does not run {tool}"


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert page.relative_to(DOCS).as_posix() in nav, f"{page.name} is not in the nav"


OFFLINE_PAGES = [p for p in PAGES if any(b.offline for b in blocks(p))]


@pytest.mark.parametrize("page", OFFLINE_PAGES, ids=lambda p: p.name)
def test_the_pages_offline_commands_run(page: Path, started: Path, tmp_path: Path) -> None:
    where = tmp_path / "work"
    shutil.copytree(started, where, symlinks=True)
    already = {
        normalised(line) for b in readme_start() if b.offline for line in command_lines(b.body)
    }
    run_blocks(blocks(page), where, skip=already)


# ---------------------------------------------------------------- commands not run


_INLINE_COMMAND = re.compile(r"(?<!`)`(safebench [^`\n]+)`(?!`)")


def _quoted_commands() -> list[tuple[str, str]]:
    """Every ``safebench …`` command the pages print: in command blocks and inline."""
    found = []
    for page in [README, *PAGES]:
        prose = _FENCE.sub("", page.read_text(encoding="utf-8"))
        found += [(page.name, span) for span in _INLINE_COMMAND.findall(prose)]
        for block in blocks(page):
            if block.lang not in ("bash", "sh", "console", ""):
                continue
            for line in command_lines(block.body):
                for part in re.split(r"\s;\s|\s&&\s", line):
                    words = part.split()
                    if "safebench" in words:
                        at = words.index("safebench")
                        found.append((page.name, " ".join(words[at:])))
    return found


def test_every_quoted_safebench_command_names_real_subcommands_and_options() -> None:
    from safebench.cli.reference import command

    problems = []
    for page, line in _quoted_commands():
        node = command
        words = line.split()[1:]
        if words and not re.match(r"[a-z-]", words[0]):
            continue  # not a command: a label such as `safebench (unrecorded)`
        for word in words:
            if not hasattr(node, "commands") or not re.fullmatch(r"[a-z][a-z-]*", word):
                break  # an option, an argument, or a placeholder such as COMMAND
            if word not in node.commands:
                problems.append(f"{page}: `{line}`: {node.name} has no subcommand {word!r}")
                break
            node = node.commands[word]
        known = {opt for param in node.params for opt in getattr(param, "opts", [])}
        known |= {opt for param in node.params for opt in getattr(param, "secondary_opts", [])}
        known |= {"--help"}
        for option in _OPTION.findall(line):
            if option not in known:
                problems.append(f"{page}: `{line}`: {node.name} takes no {option}")
    assert not problems, "\n".join(problems)


def test_every_file_a_quoted_command_names_exists() -> None:
    missing = []
    for page in [README, *PAGES]:
        for block in blocks(page):
            for line in command_lines(block.body):
                for path in re.findall(r"(?<![\w/.])((?:examples|bench)/[\w./-]+\.(?:py|yaml|csv))",
                                       line):
                    if not (ROOT / path).is_file():
                        missing.append(f"{page.name}: {path}")
    assert not missing, missing


_REPO_PATH = re.compile(
    r"`((?:kernel|safebench|agents|generation|targets|jury|transcripts|tests|bench|examples)"
    r"/[\w./-]*(?:\.(?:py|yaml|json|safetensors|csv|md)|/))`"
)
NAMED_AS_ABSENT = {"safebench/core/"}
"""Folders the architecture page names as what the layout does not have (the design card's)."""


def test_every_repository_path_the_docs_name_exists() -> None:
    missing = []
    for page in [README, *PAGES, ROOT / "bench" / "RESULTS.md"]:
        for path in _REPO_PATH.findall(page.read_text(encoding="utf-8")):
            if path not in NAMED_AS_ABSENT and not (ROOT / path).exists():
                missing.append(f"{page.name}: {path}")
    assert not missing, missing


# ---------------------------------------------------------------- the worked example


def test_the_extending_pages_voting_rule_works_and_passes_the_contract_tests(
    tmp_path: Path,
) -> None:
    named = {b.python_name: b.body for b in blocks(DOCS / "extending.md") if b.python_name}
    assert set(named) == {"example_rule", "try_rule"}
    (tmp_path / "example_rule.py").write_text(named["example_rule"])
    (tmp_path / "try_rule.py").write_text(named["try_rule"])
    env = offline_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    tried = subprocess.run(
        [sys.executable, "-c", "import example_rule, runpy; runpy.run_path('try_rule.py')"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert tried.returncode == 0, tried.stderr
    assert "qualified_majority(share=0.75)" in tried.stdout
    contract = subprocess.run(
        [sys.executable, "-c",
         "import sys, example_rule, pytest; sys.exit(pytest.main(["
         "'-q', '-p', 'no:cacheprovider', '-k', 'qualified_majority', "
         f"{str(ROOT / 'tests' / 'jury' / 'test_voting_rules.py')!r}]))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert contract.returncode == 0, contract.stdout[-3000:]
    assert " passed" in contract.stdout
