"""scripts/setup.sh refuses bad environments with a clear message and a non-zero exit, and
--check reports an up-to-date environment (the test suite itself runs inside one)."""

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "scripts" / "setup.sh"


def _fake(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _run(env_extra: dict, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    return subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, env=env, timeout=60)


def test_wrong_python_version_is_refused(tmp_path):
    fake = _fake(tmp_path, "python3.10", 'echo "3.10"')
    out = _run({"PHYSWORLD_PYTHON": str(fake)})
    assert out.returncode != 0
    assert "Python 3.11 is required" in out.stderr and "cp311" in out.stderr


def test_missing_apt_package_without_root_names_the_command(tmp_path):
    _fake(tmp_path, "id", "echo 1000")  # pretend not to be root
    out = _run({"PHYSWORLD_APT_PACKAGES": "physworld-no-such-package"}, path_prefix=tmp_path)
    assert out.returncode != 0
    assert "sudo apt-get install -y physworld-no-such-package" in out.stderr


def test_check_mode_reports_up_to_date_environment():
    out = subprocess.run(["bash", str(SETUP), "--check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bad = subprocess.run(["bash", str(SETUP), "--bogus"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown option" in bad.stderr
