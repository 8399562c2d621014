"""The repository documents itself: no pointer to the engineers' private design notes, and every docs/
link or docs page named in code, configs or help text exists (anchors included)."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
PRIVATE_NOTES = "DES" + "IGN"  # spelled in two parts so this file does not match itself
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ""}
SKIP_DIRS = {".git", ".venv", "outputs", "multirun", "wandb", "__pycache__", ".pytest_cache", ".ruff_cache"}
DOCS_PAGES = ("README", "architecture", "training", "degradation", "evaluation", "knobs",
              "photo_restoration", "sweeps")


def tracked_text_files() -> list[Path]:
    """Files git tracks (or, outside a git checkout, every file but the ignored folders) that are text."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                               text=True).stdout.split("\0")
        paths = [ROOT / name for name in names if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in ROOT.rglob("*")
                 if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts) and "egg-info" not in str(p)]
    return [p for p in paths if p.is_file() and p.suffix in TEXT_SUFFIXES]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    return {github_slug(h) for h in re.findall(r"^#+\s+(.*)$", read(markdown), flags=re.MULTILINE)}


def test_no_pointer_to_private_design_notes():
    pattern = re.compile(PRIVATE_NOTES + r"(\.md|\s*§)")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in tracked_text_files()
            for n, line in enumerate(read(p).splitlines(), 1) if pattern.search(line)]
    assert not hits, f"point to a docs/ page or the paper instead: {hits}"


def test_docs_pages_exist():
    missing = [name for name in DOCS_PAGES if not (ROOT / "docs" / f"{name}.md").is_file()]
    assert not missing


def test_markdown_links_resolve():
    """Relative links in every markdown file (README, docs/, data/, experiments/) reach a file and heading."""
    broken = []
    for page in [p for p in tracked_text_files() if p.suffix == ".md"]:
        for target in re.findall(r"\]\(([^)\s]+)\)", read(page)):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.relative_to(ROOT)} -> {target} (no such heading)")
    assert not broken, broken


def test_docs_pages_named_in_code_configs_and_help_exist():
    named = {(p.relative_to(ROOT), m) for p in tracked_text_files()
             for m in re.findall(r"docs/([A-Za-z0-9_]+\.md)", read(p))}
    missing = sorted(f"{path}: docs/{name}" for path, name in named if not (ROOT / "docs" / name).is_file())
    assert not missing, missing


def documented_commands(script: str) -> list[tuple[str, str]]:
    """(file, command) for every `python <script> ...` line in the README, docs/, the --help pages and the
    entry points' docstrings (continuations joined)."""
    found = []
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "configs" / "hydra" / "help").glob("*.yaml")), ROOT / "train.py", ROOT / "evaluate.py"]
    for page in pages:
        text = read(page).replace("\\\n", " ")
        for line in text.splitlines():
            match = re.search(rf'python {re.escape(script)}( [^`|#"\n]*)?', line)
            if match:
                found.append((page.name, match.group(0)))
    return found


def overrides_of(command: str) -> list[str]:
    """The command's overrides, made composable: sweeps keep their first value, placeholders get one."""
    overrides = []
    for token in shlex.split(command)[2:]:
        if token.startswith(("-", "[", "(", "hydra.")) or token == "job" or "=" not in token:
            continue
        key, value = token.split("=", 1)
        if any(mark in value for mark in ("<", "...", "$")) or value in {"PATH", "FILE", "FOLDER"}:
            value = "placeholder"
        overrides.append(f"{key}={value.split(',')[0]}")
    return overrides


@pytest.mark.parametrize("script", ["train.py", "evaluate.py"])
def test_documented_commands_compose(script):
    """Every documented train.py / evaluate.py command names config groups, options and keys that exist."""
    commands = documented_commands(script)
    assert commands
    failures = []
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        for page, command in commands:
            try:
                compose(script.removesuffix(".py"), overrides=overrides_of(command))
            except Exception as error:  # noqa: BLE001 - report every broken command at once
                failures.append(f"{page}: {command}: {type(error).__name__}: {str(error).splitlines()[0]}")
    assert not failures, "\n".join(failures)
