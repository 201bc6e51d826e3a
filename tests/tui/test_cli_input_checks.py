"""Issue 12's CLI points: --version, the models table in pipes, features that skip a bad image,
and recipe values of the wrong kind that exit 2 naming the key instead of a raw Python error."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import models

from tui.cli.main import main


def _cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run `ptm-tui ARGS...` in a fresh process, its stdout a pipe; return the result."""
    return subprocess.run([sys.executable, "-m", "tui.cli.main", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})}, **kwargs)


def test_version_names_the_installed_distribution_and_torch():
    done = _cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ptm-tui {version('ptm-tui')} (")
    assert f"torch {version('torch')}" in done.stdout and f"textual {version('textual')}" in done.stdout


@pytest.fixture(scope="module")
def catalog_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A catalog cache and torch.hub cache of this module's own (nothing is cached)."""
    folder = tmp_path_factory.mktemp("catalog")
    return {"PTM_CACHE_DIR": str(folder / "cache"), "TORCH_HOME": str(folder / "torch")}


def test_one_model_is_one_model_not_one_models(catalog_env):
    done = _cli("models", "--filter", "regnet_y_128gf", env=catalog_env)
    assert done.returncode == 0, done.stderr
    assert "1 model (" in done.stdout and "1 models" not in done.stdout
    several = _cli("models", "--filter", "resnet1*", env=catalog_env)
    expected = len(fnmatch.filter(models.list_models(), "resnet1*"))
    assert expected > 1 and re.search(rf"\b{expected} models \(", several.stdout), several.stdout


def test_models_piped_keeps_one_model_a_line_with_every_column(catalog_env):
    names = [n for n in models.list_models() if "mobilenet" in n]
    assert max(map(len, names)) > 30  # fasterrcnn_mobilenet_v3_large_320_fpn: longer than a cut
    done = _cli("models", "--filter", "mobilenet", env={**catalog_env, "COLUMNS": "50"})
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in names}
    assert sorted(rows) == sorted(names)
    v2 = models.get_model_weights("mobilenet_v2").DEFAULT.meta
    assert rows["mobilenet_v2"][1:] == [
        "classify", f"{v2['num_params'] / 1e6:.1f}M", f"{v2['_metrics']['ImageNet-1K']['acc@1']:.2f}",
        f"{v2['_ops']:.2f}", f"{v2['_file_size']:.1f}", "-/2"]


def _images(folder: Path, bad: bool) -> Path:
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (48, 40), (index * 70, 20, 200 - index * 50)).save(folder / f"{index}.png")
    if bad:
        (folder / "1b_broken.png").write_bytes(b"\x89PNG but not really")
    return folder


def test_features_skips_an_unreadable_image_and_names_it(tmp_path, capsys):
    base = ["features", "resnet18", "--weights", "none", "--layers", "avgpool,fc", "--batch-size", "2"]
    assert main([*base, "--images", str(_images(tmp_path / "good", bad=False)),
                 "--out", str(tmp_path / "good.pt")]) == 0
    capsys.readouterr()
    folder = _images(tmp_path / "mixed", bad=True)
    assert main([*base, "--images", str(folder), "--out", str(tmp_path / "mixed.pt")]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {folder / '1b_broken.png'}" in err
    assert "saved 3 images' features" in out and "skipped 1 unreadable" in out
    good = torch.load(tmp_path / "good.pt", weights_only=True)
    mixed = torch.load(tmp_path / "mixed.pt", weights_only=True)
    assert mixed["fc"].shape == (3, 1000)  # the bad file's row is left out, the others keep order
    assert all(torch.equal(good[layer], mixed[layer]) for layer in good)
    assert main([*base, "--images", str(folder), "--out", str(tmp_path / "j.pt"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 3
    assert [s["path"] for s in report["skipped"]] == [str(folder / "1b_broken.png")]


def test_features_with_no_readable_image_exits_2_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"nope")
    code = main(["features", "resnet18", "--weights", "none", "--layers", "fc",
                 "--images", str(tmp_path / "a.png"), "--out", str(tmp_path / "f.pt")])
    assert code == 2 and "none of the 1 images could be read" in capsys.readouterr().err
    assert not (tmp_path / "f.pt").exists()


MODEL = '[model]\nname = "resnet18"\n'


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        ('op = "init"\ntarget = "fc"\nmethod = "normal"\nparams = 5', "params must be a table"),
        ('op = "init"\ntarget = ""\nmethod = "normal"\nlayer_type = 5', "layer_type must be text"),
        ('op = "init"\ntarget = "fc"\nmethod = "constant"\nparams = { val = 1e39 }',
         "val=1e+39 does not fit fc.weight (float32)"),
        ('op = "init"\ntarget = "fc"\nmethod = "normal"\nparams = { std = inf }',
         "'std' got inf: it must be a finite number"),
        ('op = "init"\ntarget = "fc"\nmethod = "normal"\nparams = { mean = 1' + "0" * 400 + " }",
         "'mean' got 1000"),
        ('op = "freeze"\ntarget = ["layer1"]', "target must be text"),
        ('op = "load_partial"\nsource = "x.pth"\nby_order = "yes"', "by_order must be true or false"),
        ('op = "replace_head"\nnum_classes = 10\ninit = 0', "init must be text"),
    ],
)
def test_recipe_value_of_the_wrong_kind_exits_2_naming_the_key(tmp_path, capsys, edit, said):
    (tmp_path / "r.toml").write_text(f"{MODEL}\n[[edit]]\n{edit}\n")
    code = main(["replay", str(tmp_path / "r.toml")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "edit 1 (" in err and said in err and "object" not in err


def test_a_5000_deep_array_is_a_message_not_a_recursion_error(tmp_path, capsys):
    (tmp_path / "deep.toml").write_text(MODEL + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["replay", str(tmp_path / "deep.toml")]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_a_module_expression_too_big_to_build_is_refused_in_seconds(tmp_path, capsys):
    (tmp_path / "r.toml").write_text(
        MODEL + '\n[[edit]]\nop = "replace"\ntarget = "fc"\nmodule = "LSTM(1, 1, num_layers=200000000)"\n')
    start = time.perf_counter()
    assert main(["replay", str(tmp_path / "r.toml")]) == 2
    assert time.perf_counter() - start < 60
    err = capsys.readouterr().err
    assert "edit 1 (replace)" in err and "would take too long" in err
    (tmp_path / "r.toml").write_text(
        MODEL + '\n[[edit]]\nop = "replace"\ntarget = "fc"\nmodule = "Linear(512, 10000000)"\n')
    assert main(["replay", str(tmp_path / "r.toml")]) == 2
    count = sum(p.numel() for p in torch.nn.Linear(512, 10_000_000, device="meta").parameters())
    assert f"{count:,} parameters" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sys:exit", "os:getcwd"])
def test_a_user_factory_that_returns_no_module_fails_replay_with_exit_2(tmp_path, name):
    (tmp_path / "r.toml").write_text(f'[model]\nname = "{name}"\n')
    done = _cli("replay", str(tmp_path / "r.toml"))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "nn.Module" in done.stderr and "Traceback" not in done.stderr


def _address_space(extra: int) -> int:
    """Return the bytes a fresh `ptm-tui init-lab` maps before it allocates, plus `extra`."""
    probe = subprocess.run(
        [sys.executable, "-c", "import re, torch, tui.cli.cmd_init_lab, engine.use.init_lab; "
         "print(re.search(r'VmSize:\\s+(\\d+)', open('/proc/self/status').read())[1])"],
        capture_output=True, text=True, timeout=300, check=True)
    return int(probe.stdout) * 1024 + extra


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_init_lab_that_cannot_allocate_says_so(tmp_path):
    import resource

    limit = _address_space(1 << 30)  # 1 GiB of room; the run needs 4 GiB

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "init-lab", "--width", "16384", "--batch", "16384",
         "--depth", "2"], capture_output=True, text=True, timeout=300, preexec_fn=limited)
    needed = 4 * (16384 * 16384 + 16384 + 3 * 16384 * 16384) / 2**30
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"needs {needed:.2f} GiB on cpu" in done.stderr and "GiB is free" in done.stderr
    assert "smaller --width or --batch" in done.stderr


def test_parameters_are_checked_before_the_model_is_opened(tmp_path, capsys):
    recipe = textwrap.dedent("""\
        [model]
        name = "resnet18"
        weights = "http://127.0.0.1:9/never-fetched.pth"

        [[edit]]
        op = "init"
        target = "fc"
        method = "kaiming_normal"
        params = { mode = 5 }
    """)
    (tmp_path / "r.toml").write_text(recipe)
    assert main(["replay", str(tmp_path / "r.toml")]) == 2
    err = capsys.readouterr().err
    assert "'mode' got 5" in err and "fan_in, fan_out" in err
