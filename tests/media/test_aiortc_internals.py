"""aiortc/aioice internals our RTP path relies on (media/aiortc_patch.py) are all there in the
installed versions, and the check would notice one going missing. No network needed."""

from __future__ import annotations

import logging

import pytest
from aioice.ice import Connection
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder

from wrencos_studio.media import aiortc_patch


async def test_every_internal_we_rely_on_exists() -> None:
    """check_internals() finds nothing missing in the pinned aiortc and aioice."""
    assert aiortc_patch.check_internals() == []


async def test_a_missing_method_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A method we replace that an upgrade removed is named in the report."""
    monkeypatch.delattr(RTCRtpSender, "_retransmit")
    problems = aiortc_patch.check_internals()
    assert any("RTCRtpSender._retransmit is missing" in p for p in problems), problems


async def test_a_changed_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private helper whose parameters changed is reported, with what we expected."""
    monkeypatch.setattr(H264Encoder, "_split_bitstream", staticmethod(lambda data, size: []))
    problems = aiortc_patch.check_internals()
    assert any("H264Encoder._split_bitstream takes" in p for p in problems), problems


async def test_a_missing_instance_attribute_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """An attribute that only exists on instances (aioice's nominated pairs) is checked too."""
    original = Connection.__init__

    def without_nominated(self: Connection, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        del self._nominated

    monkeypatch.setattr(Connection, "__init__", without_nominated)
    problems = aiortc_patch.check_internals()
    assert any("Connection._nominated" in p for p in problems), problems


async def test_broadcaster_start_check_logs_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The check the broadcaster runs at start logs an error naming the missing internal."""
    from wrencos_studio.media.broadcaster import check_aiortc

    assert check_aiortc() is True
    monkeypatch.delattr(RTCRtpSender, "_send_keyframe")
    with caplog.at_level(logging.ERROR, logger="wrencos_studio.media.broadcaster"):
        assert check_aiortc() is False
    assert any("RTCRtpSender._send_keyframe" in r.getMessage() for r in caplog.records)
