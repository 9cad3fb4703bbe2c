"""The import layers of pyproject.toml hold, and the contract catches an upward import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def lint(cwd: Path, src: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT, "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_package_keeps_its_layers():
    res = lint(ROOT, ROOT / "src")
    assert res.returncode == 0, res.stdout + res.stderr


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(
        ROOT / "src" / "bindclip", tmp_path / "src" / "bindclip", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    world = tmp_path / "src" / "bindclip" / "world" / "concepts.py"
    world.write_text(world.read_text() + "\nfrom ..train import config  # noqa: E402  (upward: world -> train)\n")
    res = lint(tmp_path, tmp_path / "src")
    assert res.returncode == 1 and "BROKEN" in res.stdout and "bindclip.world.concepts -> bindclip.train" in res.stdout
