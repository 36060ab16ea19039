"""The PyInstaller bundle builds and starts (`serve --help`, then a real `serve`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("bash") is None, reason="the build script is bash")
def test_bundle_builds_and_serves(tmp_path: Path) -> None:
    """packaging/build.sh makes a one-folder app whose `serve` answers on its port."""
    pytest.importorskip("PyInstaller")
    build = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build.sh")], capture_output=True, text=True, timeout=1500
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    app = ROOT / "packaging" / "dist" / "wrencos-studio" / "wrencos-studio"
    assert app.exists()
    env = {**os.environ, "WRENCOS_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [str(app), "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        port = line.rsplit(":", 1)[1]
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert b"<!doctype html>" in resp.read().lower()  # the page ships in the bundle
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
