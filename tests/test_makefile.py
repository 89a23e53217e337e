"""The Makefile's venv: `make test` / `make demo` on a Python older than 3.11 stop with the reason (the pinned av,
pillow, numpy and pandas have no release for it) instead of failing somewhere in pip, and a venv left without pip by
an interrupted `make` is made again."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')


def fake_python(folder: Path, version: tuple, script: Path | None = None) -> Path:
    """An interpreter that reports `version`: it runs `-c` code with that sys.version_info (and the arguments after
    it as sys.argv, as python does), answers `-m pip --version` as a working pip, and records `-m venv DIR` instead
    of making a venv (the install after it then fails: no pip in DIR)."""
    script = script or folder / f'python{version[0]}.{version[1]}'
    code = folder / f'fake_python{version[0]}.{version[1]}.py'
    # a /bin/sh wrapper: a shebang cannot name an interpreter whose path has a space (a checkout in `My Projects`)
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(code))} "$@"\n')
    code.write_text(
        'import sys\n'
        'if sys.argv[1] == "-c":\n'
        f'    sys.version_info, sys.version = {version + ("final", 0)!r}, "{".".join(map(str, version))} (fake)"\n'
        '    code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]\n'
        '    exec(code)\n'
        'elif sys.argv[1:3] == ["-m", "pip"]:\n'
        '    sys.exit(0)\n'
        'elif sys.argv[1:3] == ["-m", "venv"]:\n'
        f'    open({str(folder / "venv_made")!r}, "w").write(sys.argv[3])\n'
    )
    script.chmod(0o755)
    return script


def make_venv(tmp_path: Path, python: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ['make', '-C', str(REPO), 'venv', f'VENV={tmp_path / "venv"}', f'PYTHON={python}'],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_older_python_is_refused_with_the_reason(tmp_path):
    python = fake_python(tmp_path, (3, 10, 13))
    result = make_venv(tmp_path, python)
    assert result.returncode != 0
    assert 'this bundle needs Python 3.11 or newer' in result.stderr
    assert f'{python} is Python 3.10.13: run make with PYTHON=python3.11 (or newer)' in result.stderr
    assert not (tmp_path / 'venv_made').exists()
    assert not (tmp_path / 'venv').exists()


def test_python_3_11_passes_the_check_and_makes_the_venv(tmp_path):
    result = make_venv(tmp_path, fake_python(tmp_path, (3, 11, 0)))
    assert 'needs Python 3.11' not in result.stderr
    assert (tmp_path / 'venv_made').read_text() == str(tmp_path / 'venv')
    assert result.returncode != 0  # the fake made no venv, so the install after it fails


def test_a_venv_interrupted_before_pip_is_made_again(tmp_path):
    """Killed while `python -m venv` ran: bin/python is there, pip is not. The next make must not take it as done."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(tmp_path / 'venv')], check=True)
    result = make_venv(tmp_path, fake_python(tmp_path, (3, 11, 0)))
    assert (tmp_path / 'venv_made').read_text() == str(tmp_path / 'venv')
    assert result.returncode != 0  # as above: the fake made nothing


def test_a_venv_made_by_hand_from_an_older_python_is_refused_with_the_reason(tmp_path):
    """`python3.10 -m venv .venv; make test`: the check ran only when the venv had no pip, so pip failed on the first
    pin it found no wheel for, the failure the check exists to replace."""
    (tmp_path / 'venv' / 'bin').mkdir(parents=True)
    venv_python = fake_python(tmp_path, (3, 10, 13), script=tmp_path / 'venv' / 'bin' / 'python')
    result = make_venv(tmp_path, fake_python(tmp_path, (3, 11, 0)))
    assert result.returncode != 0
    assert (
        f'{venv_python} is Python 3.10.13: remove {tmp_path / "venv"} and run make with PYTHON=python3.11 (or newer)'
    ) in result.stderr
    assert not (tmp_path / 'venv_made').exists()  # it had pip: not made again


def test_clean_removes_a_demo_folder_whose_name_has_a_space_and_nothing_else(tmp_path):
    """`make clean DEMO_DIR="my demo"` ran `rm -rf my demo ...`: the repository's demo/ sources went."""
    result = subprocess.run(
        ['make', '-C', str(REPO), '-n', 'clean', 'DEMO_DIR=my demo'], capture_output=True, text=True, timeout=60
    )
    (command,) = [line for line in result.stdout.splitlines() if line.startswith('rm ')]
    assert shlex.split(command) == ['rm', '-rf', '--', 'my demo', '.pytest_cache', '.ruff_cache']
