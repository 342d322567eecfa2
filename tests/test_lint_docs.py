"""docs/rules.md is generated from the registry and must be current; `convshape rules` prints the
same text; docs/lint.md's example outputs are real."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from convshape.cli import main
from convshape.lint.docs import markdown
from convshape.lint.registry import rules

DOCS = Path(__file__).resolve().parent.parent / "docs"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_rules_md_is_current():
    assert (DOCS / "rules.md").read_text(encoding="utf-8") == markdown(), \
        "docs/rules.md is out of date: run `convshape rules --format markdown > docs/rules.md`"


def test_rules_md_documents_every_rule_with_every_section():
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    for code, r in rules().items():
        section = text.split(f"### {code} {r.name}\n")[1].split("\n### CS")[0]
        for heading in ("What it does", "Why is this bad?", "Example", "Use instead"):
            assert f"#### {heading}" in section, (code, heading)


def test_rules_command_text_json_and_prefix():
    one = run("rules", "CS201")
    assert one.exit_code == 0 and one.stdout == f"CS201 stride-does-not-tile (warning)\n\n{rules()['CS201'].doc}\n"
    data = json.loads(run("rules", "cs201", "--format", "json").stdout)
    assert list(data) == ["code", "name", "severity", "summary", "why", "example", "fix"]
    assert data["code"] == "CS201" and data["example"].startswith("```yaml\ninput: [1, 3, 7, 7]")
    listing = json.loads(run("rules", "--format", "json").stdout)
    assert [d["code"] for d in listing] == list(rules())
    family = run("rules", "CS2").stdout.splitlines()
    assert family and all(line.startswith("CS2") for line in family)


def test_unknown_rule_exits_2_with_a_suggestion():
    result = run("rules", "CS2O1")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert "no rule 'CS2O1'; did you mean 'CS201'?" in result.stderr


def test_lint_md_github_example_is_real_output():
    text = (DOCS / "lint.md").read_text(encoding="utf-8")
    out = run("lint", "zoo:resnet50", "--max-params", "1000000", "--format", "github", "--select", "CS6").stdout
    assert out.strip() in text


def test_readme_lint_example_is_real_output(monkeypatch):
    root = DOCS.parent
    monkeypatch.chdir(root)
    text = (root / "README.md").read_text(encoding="utf-8")
    out = CliRunner().invoke(main, ["lint", "tests/lint_fixtures/CS201.yaml", "--config", "pyproject.toml"]).stdout
    assert f"$ convshape lint tests/lint_fixtures/CS201.yaml\n{out}```" in text
