"""The PyInstaller bundle builds and starts (`serve --help`, then a real `serve`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers.serve import serving_sync

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
    with serving_sync(
        tmp_path, program=[str(app)], secret=None, log_level=None, timeout=60
    ) as served:
        port = served.port
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert b"<!doctype html>" in resp.read().lower()  # the page ships in the bundle
        # The block's end sends SIGTERM: the bundle must exit 0.
