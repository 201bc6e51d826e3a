"""`ptm-tui doctor [--json]`: one line per check, a fix under each that is not fine, exit 0 (issue 24)."""

from __future__ import annotations

import json

import torch

from tui.cli.main import main


def test_json_lines_carry_state_and_fix_and_a_problem_still_exits_0(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "a-file"))  # a problem: the report still runs
    assert main(["doctor", "--json", "--offline"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {row["name"]: row for row in rows}
    assert {
        "torch",
        "torchvision",
        "timm",
        "textual",
        "ptm-tui",
        "CUDA",
        "PTM_HOME",
        "Slurm",
        "tmux",
        "dot",
        "torch.hub cache",
        "Hugging Face cache",
    } <= set(names)
    assert names["PTM_HOME"]["state"] == "fail" and names["PTM_HOME"]["fix"].startswith("export PTM_HOME=")
    assert names["torch"]["details"]["version"] in (torch.__version__, torch.__version__.split("+")[0])
    assert all(row["fix"] for row in rows if row["state"] in ("warn", "fail"))
    assert names["servers"]["value"] == "not asked (--offline)"


def test_the_human_report_says_no_gpu_plainly_and_prints_fixes(capsys, monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # captured output is no terminal: one line per value
    assert main(["doctor", "--offline"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    if not torch.cuda.is_available():  # this machine
        gpu = next(i for i, line in enumerate(lines) if line.startswith("  [warn] GPU "))
        assert "no GPU: " in lines[gpu] and lines[gpu + 1].strip().startswith("fix: to train on a GPU")
    assert lines[0] == "software" and any(line.startswith("  [ok]   torch ") for line in lines)
    warns = sum(line.startswith("  [warn]") for line in lines)
    fails = sum(line.startswith("  [FAIL]") for line in lines)
    said = (
        f"{fails} problem(s), {warns} warning(s): each has its fix above"
        if warns + fails
        else "no problems found"
    )
    assert captured.err.strip() == said


def test_at_80_columns_values_and_fixes_wrap_under_their_start(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "a-file"))  # a failing row: its value and a fix
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["doctor", "--offline", "--json"]) == 0
    row = next(r for r in map(json.loads, capsys.readouterr().out.splitlines()) if r["name"] == "PTM_HOME")
    assert main(["doctor", "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(len(line) <= 80 for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("  [FAIL] PTM_HOME "))
    start = len(lines[first]) - len(lines[first].split("PTM_HOME", 1)[1].lstrip())
    fix = next(i for i in range(first + 1, len(lines)) if lines[i][start:].startswith("fix: "))
    rest = next((i for i in range(fix + 1, len(lines)) if not lines[i][: start + 5].isspace()), len(lines))
    assert all(line[:start].isspace() for line in lines[first + 1 : rest])  # nothing left of the value
    assert all(line[: start + 5].isspace() for line in lines[fix + 1 : rest])  # nor of the fix's text
    value = "".join(
        lines[first][start:].split() + [w for line in lines[first + 1 : fix] for w in line.split()]
    )
    assert value == "".join(row["value"].split())
    said = "".join(w for line in lines[fix:rest] for w in line.split())
    assert said == "fix:" + "".join(row["fix"].split())
