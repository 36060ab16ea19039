"""``./studio`` before Qt starts: the check of Qt's system libraries (``scripts/env.sh``),
fed fake ``ldconfig`` output and os-release files, and a real launch that lacks them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.serve import serving

ROOT = Path(__file__).resolve().parent.parent
ENV_SH = ROOT / "scripts" / "env.sh"

#: ``ldconfig -p`` as a machine with everything but two of the xcb-util libraries shows it
#: (one i386 copy of keysyms, which a 64-bit Qt cannot use).
LDCONFIG = """\
1234 libs found in cache `/etc/ld.so.cache'
\tlibxcb.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libxcb.so.1
\tlibxcb-keysyms.so.1 (libc6) => /lib/i386-linux-gnu/libxcb-keysyms.so.1
"""


def _bash(script: str, stdin: str = "", env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out = subprocess.run(
        ["bash", "-c", f". {ENV_SH}; {script}"],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        cwd=ROOT,
    )
    return out.returncode, out.stdout, out.stderr


def _listing(*sonames: str) -> str:
    """A fake ``ldconfig -p`` listing every library Qt needs except ``sonames``."""
    code, table, _ = _bash('printf "%s\\n" "${QT_RUNTIME_LIBS[@]}"')
    assert code == 0
    every = [line.split()[0] for line in table.splitlines()]
    assert "libxcb-cursor.so.0" in every and "libxkbcommon-x11.so.0" in every
    lines = [f"\t{so} (libc6,x86-64) => /lib/x86_64-linux-gnu/{so}" for so in every]
    return "\n".join(line for line, so in zip(lines, every, strict=True) if so not in sonames)


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("deb", ["libxcb-icccm4", "libxcb-keysyms1"]),
        ("rpm", ["xcb-util-wm", "xcb-util-keysyms"]),
        ("arch", ["xcb-util-wm", "xcb-util-keysyms"]),
    ],
)
def test_missing_packages_from_ldconfig_output(family: str, expected: list[str]) -> None:
    """The two libraries absent from the listing are named by their distribution's package."""
    listing = _listing("libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    code, out, _ = _bash(f"qt_missing_packages {family} x86-64", listing)
    assert code == 0 and out.split() == expected


def test_other_architectures_do_not_count_and_packages_are_named_once() -> None:
    """An i386 copy does not satisfy a 64-bit Qt; libxcb is one package for many sonames."""
    code, out, _ = _bash("qt_missing_packages rpm x86-64", LDCONFIG)
    names = out.split()
    assert code == 0 and "xcb-util-keysyms" in names and "xcb-util-cursor" in names
    assert names.count("libxcb") == 1  # randr, shape, shm, … all ship in it
    code, out, _ = _bash("qt_missing_packages deb x86-64", _listing())
    assert code == 0 and out == ""  # a complete machine: nothing to install


@pytest.mark.parametrize(
    ("os_release", "family"),
    [
        ('ID=debian\nVERSION_ID="12"', "deb"),
        ("ID=ubuntu\nID_LIKE=debian", "deb"),
        ("ID=linuxmint\nID_LIKE='ubuntu debian'", "deb"),
        ("ID=fedora", "rpm"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"', "rpm"),
        ("ID=arch", "arch"),
        ("ID=manjaro\nID_LIKE=arch", "arch"),
        ("ID=alpine", ""),
    ],
)
def test_distribution_family(tmp_path: Path, os_release: str, family: str) -> None:
    """/etc/os-release's ID and ID_LIKE pick apt, dnf or pacman."""
    path = tmp_path / "os-release"
    path.write_text(os_release + "\n")
    code, out, _ = _bash(f"distro_family {path}")
    assert code == 0 and out.strip() == family


def test_install_commands() -> None:
    """The exact command a person runs, per family."""
    code, out, _ = _bash(
        "install_command deb a b; install_command rpm a b; install_command arch a b"
    )
    assert code == 0
    assert out.splitlines() == [
        "sudo apt-get install -y a b",
        "sudo dnf install -y a b",
        "sudo pacman -S --needed a b",
    ]


def _fake_bin(tmp_path: Path, listing: str) -> Path:
    """A PATH directory whose ``ldconfig`` prints ``listing`` and whose ``id`` is not root
    (so nothing is installed for real)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "ldconfig.txt").write_text(listing)
    for name, body in (
        ("ldconfig", f"cat {tmp_path / 'ldconfig.txt'}"),
        ("id", "echo 1000"),
    ):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def test_not_root_prints_the_install_command(tmp_path: Path) -> None:
    """Without root: the exact apt-get line for what is missing, and a non-zero answer."""
    bin_dir = _fake_bin(tmp_path, _listing("libxcb-cursor.so.0", "libxcb-icccm.so.4"))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    code, _, err = _bash("ensure_qt_runtime", env=env)
    assert code == 1
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4" in err  # this is Debian
    assert "runs headless" in err


def test_nothing_missing_is_silent(tmp_path: Path) -> None:
    """A complete machine: the check passes without a word."""
    bin_dir = _fake_bin(tmp_path, _listing())
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    assert _bash("ensure_qt_runtime", env=env) == (0, "", "")


async def test_launcher_serves_headless_when_qt_libraries_are_missing(tmp_path: Path) -> None:
    """`./studio` on a desktop lacking xcb libraries (and no root to install them): the
    install command, then the server runs headless on the studio's port; SIGTERM ends it."""
    bin_dir = _fake_bin(tmp_path, _listing("libxcb-keysyms.so.1"))
    (tmp_path / "studio-settings.json").write_text('{"port": 0}')
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DISPLAY": ":97",  # a desktop, as far as the launcher can tell
        "QT_QPA_PLATFORM": None,
        "WAYLAND_DISPLAY": None,
    }
    async with serving(
        tmp_path,
        command=None,
        host=None,
        env=env,
        log_level=None,
        program=[str(ROOT / "studio")],
        timeout=120,  # a first ./studio may install .venv's package
    ) as served:
        assert served.host == "0.0.0.0"
        proc = served.proc
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        err = served.stderr()
        assert "sudo apt-get install -y libxcb-keysyms1" in err
        assert "so no window; running the server headless" in err
        assert "Traceback" not in err
