"""Every use of aiortc's and aioice's private internals, behind small named functions, and
:func:`check_internals`, which proves without a network that each one still exists.

Why we reach inside at all: aiortc's ``RTCRtpSender`` runs one task per viewer and track,
builds an ``RtpPacket`` object per packet and goes through four nested awaits to reach
``sendto``; at 20 viewers that per-packet path cost as much CPU as the whole encode. We
keep aiortc for everything around the media (SDP, ICE, DTLS, RTCP, NACK, stats) and replace
only the sender's RTP loop (:func:`install_rtp_loop`); the replacement writes each packet
itself, so it needs the sender's SSRCs, header-extension ids, SRTP session, the selected
ICE pair's socket and the counters aiortc's RTCP reports and ``getStats`` read
(:class:`SenderLink`). None of that is public API, so aiortc and aioice are pinned to one
minor version each in pyproject.toml, and ``tests/media/test_aiortc_internals.py`` runs
:func:`check_internals` on every test run: an upgrade that renames anything fails there,
in a second, not in a live broadcast.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aioice
import aiortc
from aioice.ice import CandidatePair, Connection, StunProtocol
from aiortc import RTCRtpCodecParameters, RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc import rtp as aiortc_rtp
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket, wrap_rtx

__all__ = [
    "SenderLink",
    "check_internals",
    "fast_ntp_time",
    "h264_payloads",
    "install_fast_ntp_clock",
    "install_rtp_loop",
    "versions",
]

_NTP_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


def versions() -> str:
    """The installed versions, for log lines: ``"aiortc 1.16.0, aioice 0.13.0"``."""
    return f"aiortc {aiortc.__version__}, aioice {aioice.__version__}"


def fast_ntp_time() -> int:
    """The current time as a 64-bit NTP timestamp (32.32 fixed-point seconds since 1900):
    the same value as aiortc's ``clock.current_ntp_time`` without building datetime objects."""
    t = time.time() + _NTP_OFFSET
    seconds = int(t)
    return (seconds << 32) | int((t - seconds) * (1 << 32))


def install_fast_ntp_clock() -> None:
    """Make aiortc's own clock use :func:`fast_ntp_time` (process-wide, idempotent). Our RTP
    path does not call aiortc's clock per packet; aiortc's remaining callers (SDP session
    ids, and the per-packet loop of any sender we did not take over) get the cheaper one."""
    aiortc_clock.current_ntp_time = fast_ntp_time


def h264_payloads(access_unit: bytes) -> list[bytes]:
    """RTP payloads (RFC 6184 packetization mode 1: single NAL units, STAP-A, FU-A; each at
    most aiortc's payload size) of one H.264 Annex B access unit, as aiortc would send them."""
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


class SenderLink:
    """One ``RTCRtpSender``'s private state, as a replacement RTP loop needs it. Build it once
    the sender has started (its transport and parameters are known); the hot-path methods
    are plain attribute reads, no awaits and no allocations."""

    __slots__ = (
        "_connection",
        "_dtls",
        "_extensions_map",
        "mid",
        "rtx_payload_type",
        "rtx_ssrc",
        "sender",
        "ssrc",
    )

    def __init__(self, sender: RTCRtpSender) -> None:
        self.sender = sender
        self._dtls: RTCDtlsTransport = sender.transport
        self._connection: Connection = self._dtls.transport._connection
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        self._extensions_map: HeaderExtensionsMap = sender._RTCRtpSender__rtp_header_extensions_map  # type: ignore[attr-defined]
        self.mid: str | None = sender._RTCRtpSender__mid  # type: ignore[attr-defined]
        #: The negotiated RTX payload type, or None when the viewer did not offer RTX.
        self.rtx_payload_type: int | None = sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]

    def srtp_protect(self) -> Callable[[bytes], bytes] | None:
        """The function that encrypts one RTP packet (bytes -> bytes) for this viewer, or
        None while DTLS is not connected (nothing can be sent yet, or any more)."""
        dtls = self._dtls
        if dtls._state is not DtlsState.CONNECTED:
            return None
        protect: Callable[[bytes], bytes] = dtls._tx_srtp.protect
        return protect

    def selected_pair(self) -> CandidatePair | None:
        """The ICE candidate pair media go over (component 1), or None before ICE chose one."""
        return self._connection._nominated.get(1)

    def write_buffer_size(self) -> int:
        """Bytes the selected pair's socket holds unsent (0 without a pair or a socket)."""
        pair = self._connection._nominated.get(1)
        if pair is None:
            return 0
        transport = getattr(pair.protocol, "transport", None)
        return int(transport.get_write_buffer_size()) if transport is not None else 0

    @staticmethod
    def send_direct(pair: CandidatePair, packets: list[bytes]) -> bool:
        """Hand ``packets`` (already protected) to the pair's UDP socket now, in order. False,
        and nothing sent, when the pair is not a plain UDP socket (a TURN relay): those must
        go through :meth:`send_via_ice`."""
        protocol = pair.protocol
        if type(protocol) is not StunProtocol:
            return False
        sendto = protocol.transport.sendto
        addr = pair.remote_addr
        for data in packets:
            sendto(data, addr)
        return True

    async def send_via_ice(self, data: bytes) -> None:
        """Send one protected packet through aioice's own (awaitable) path, which works for
        every kind of pair. Raises ConnectionError when the connection is gone."""
        await self._connection.send(data)

    async def send_rtp(self, packet: bytes) -> None:
        """Protect and send one RTP packet the way aiortc does (used for retransmissions).
        Raises ConnectionError when DTLS is not connected."""
        await self._dtls._send_rtp(packet)

    def count_sent(self, packets: int, octets: int) -> None:
        """Add what we sent (protected packets, their bytes) to the transport's counters,
        which ``getStats`` reports."""
        dtls = self._dtls
        dtls._RTCDtlsTransport__tx_bytes += octets  # type: ignore[attr-defined]
        dtls._RTCDtlsTransport__tx_packets += packets  # type: ignore[attr-defined]

    def record_report(
        self, ntp_time: int, rtp_timestamp: int, packet_count: int, octet_count: int
    ) -> None:
        """Set what aiortc's RTCP sender reports and ``getStats`` read: the last frame's send
        time (64-bit NTP) and RTP timestamp, and the stream's packet and payload-byte totals."""
        sender = self.sender
        sender._RTCRtpSender__ntp_timestamp = ntp_time  # type: ignore[attr-defined]
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp  # type: ignore[attr-defined]
        sender._RTCRtpSender__packet_count = packet_count  # type: ignore[attr-defined]
        sender._RTCRtpSender__octet_count = octet_count  # type: ignore[attr-defined]

    def header_extension_block(self, abs_send_time: int) -> bytes:
        """The RTP header-extension block (RFC 8285 profile and length word, then the
        negotiated mid and abs-send-time elements), or b"" when none was negotiated."""
        profile, value = self._extensions_map.set(
            HeaderExtensions(mid=self.mid, abs_send_time=abs_send_time)
        )
        return profile.to_bytes(2) + (len(value) >> 2).to_bytes(2) + value if value else b""

    def rtx_packet(self, packet: bytes, sequence_number: int) -> bytes:
        """``packet`` (an unprotected RTP packet we sent) wrapped for retransmission on the
        RTX stream (RFC 4588) with ``sequence_number``. Needs :attr:`rtx_payload_type`."""
        assert self.rtx_payload_type is not None
        parsed = RtpPacket.parse(packet, self._extensions_map)
        wrapped = wrap_rtx(
            parsed,
            payload_type=self.rtx_payload_type,
            sequence_number=sequence_number,
            ssrc=self.rtx_ssrc,
        )
        data: bytes = wrapped.serialize(self._extensions_map)
        return data

    def answer_nacks(self, retransmit: Callable[[int], Coroutine[Any, Any, None]]) -> None:
        """Have the sender call ``retransmit(sequence_number)`` for every NACKed packet."""
        self.sender._retransmit = retransmit  # type: ignore[method-assign, assignment]


def install_rtp_loop(
    sender: RTCRtpSender,
    run: Callable[[SenderLink, RTCRtpCodecParameters], Awaitable[None]],
    request_keyframe: Callable[[], None],
) -> None:
    """Replace ``sender``'s RTP loop: when negotiation starts it, aiortc awaits
    ``run(link, codec)`` instead of pulling frames from the track; ``run`` returns when the
    sender should stop (cancellation is how aiortc stops it). PLI/FIR from the viewer call
    ``request_keyframe()``. Call before the offer is made."""

    async def run_rtp(codec: RTCRtpCodecParameters) -> None:
        sender._RTCRtpSender__rtp_started.set()  # type: ignore[attr-defined]
        try:
            await run(SenderLink(sender), codec)
        finally:
            # RTCRtpSender.stop() waits for this; without it, closing the peer hangs.
            sender._RTCRtpSender__rtp_exited.set()  # type: ignore[attr-defined]

    sender._run_rtp = run_rtp  # type: ignore[method-assign]
    sender._send_keyframe = request_keyframe  # type: ignore[method-assign]


# -- the check ----------------------------------------------------------------------------

#: Methods we replace or call, and the parameters we rely on (``self``/``cls`` included).
_SIGNATURES: list[tuple[str, Any, str, tuple[str, ...]]] = [
    ("aiortc", RTCRtpSender, "_run_rtp", ("self", "codec")),
    ("aiortc", RTCRtpSender, "_retransmit", ("self", "sequence_number")),
    ("aiortc", RTCRtpSender, "_send_keyframe", ("self",)),
    ("aiortc", RTCDtlsTransport, "_send_rtp", ("self", "data")),
    ("aiortc", H264Encoder, "_packetize", ("packages",)),  # a classmethod
    ("aiortc", H264Encoder, "_split_bitstream", ("buf",)),
    ("aiortc", HeaderExtensionsMap, "set", ("self", "values")),
    ("aiortc", RtpPacket, "parse", ("data", "extensions_map")),
    ("aiortc", RtpPacket, "serialize", ("self", "extensions_map")),
    ("aiortc", aiortc_rtp, "wrap_rtx", ("packet", "payload_type", "sequence_number", "ssrc")),
    ("aioice", Connection, "send", ("self", "data")),
]

#: Where aiortc must still call (or read) what we replace (or write): the name, as the
#: function's bytecode refers to it, must be among that function's names.
_CALL_SITES: list[tuple[Any, str, tuple[str, ...]]] = [
    (RTCRtpSender, "send", ("_run_rtp",)),
    (RTCRtpSender, "_handle_rtcp_packet", ("_retransmit", "_send_keyframe")),
    (RTCRtpSender, "stop", ("_RTCRtpSender__rtp_started", "_RTCRtpSender__rtp_exited")),
    (
        RTCRtpSender,
        "_run_rtcp",
        (
            "_RTCRtpSender__ntp_timestamp",
            "_RTCRtpSender__rtp_timestamp",
            "_RTCRtpSender__packet_count",
            "_RTCRtpSender__octet_count",
        ),
    ),
    (RTCRtpSender, "getStats", ("_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count")),
    (RTCDtlsTransport, "_get_stats", ("_RTCDtlsTransport__tx_bytes",)),
]

#: Instance attributes, read from freshly built (never started) objects.
_SENDER_ATTRIBUTES = (
    "_ssrc",
    "_rtx_ssrc",
    "_RTCRtpSender__rtp_header_extensions_map",
    "_RTCRtpSender__mid",
    "_RTCRtpSender__rtx_payload_type",
    "_RTCRtpSender__rtp_started",
    "_RTCRtpSender__rtp_exited",
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__octet_count",
)
_DTLS_ATTRIBUTES = (
    "_state",
    "_tx_srtp",
    "_RTCDtlsTransport__tx_bytes",
    "_RTCDtlsTransport__tx_packets",
)


def _check_signatures(problems: list[str]) -> None:
    for package, owner, name, wanted in _SIGNATURES:
        where = f"{package}: {owner.__name__}.{name}"
        function = getattr(owner, name, None)  # class/static methods come back bound
        if function is None:
            problems.append(f"{where} is missing")
            continue
        try:
            params = tuple(inspect.signature(function).parameters)
        except (TypeError, ValueError):
            problems.append(f"{where} is no longer a Python function")
            continue
        if params[: len(wanted)] != wanted:
            problems.append(f"{where} takes {params}, we rely on {wanted}")


def _check_attributes(problems: list[str]) -> None:
    if not isinstance(inspect.getattr_static(CandidatePair, "remote_addr", None), property):
        problems.append("aioice: CandidatePair.remote_addr is missing")
    # Attributes that constructors and callbacks set: their bytecode stores the name.
    for package, owner, method, name in (
        ("aioice", CandidatePair, "__init__", "protocol"),
        ("aioice", StunProtocol, "connection_made", "transport"),
    ):
        code = getattr(getattr(owner, method, None), "__code__", None)
        if code is None or name not in code.co_names:
            problems.append(f"{package}: {owner.__name__} no longer keeps .{name}")
    if not callable(getattr(aiortc_clock, "current_ntp_time", None)):
        problems.append("aiortc: clock.current_ntp_time is missing")
    fields = getattr(HeaderExtensions, "__annotations__", {})
    if "mid" not in fields or "abs_send_time" not in fields:
        problems.append("aiortc: rtp.HeaderExtensions lacks mid or abs_send_time")
    if not hasattr(DtlsState, "CONNECTED"):
        problems.append("aiortc: rtcdtlstransport.State.CONNECTED is missing")


def _check_call_sites(problems: list[str]) -> None:
    for owner, name, names in _CALL_SITES:
        function = getattr(owner, name, None)
        code = getattr(function, "__code__", None)
        if code is None:
            problems.append(f"aiortc: {owner.__name__}.{name} is missing")
            continue
        for used in names:
            if used not in code.co_names:
                problems.append(f"aiortc: {owner.__name__}.{name} no longer uses {used}")


def _check_instances(problems: list[str]) -> None:
    # Public constructors, never started: no sockets, no tasks, nothing to close.
    from aiortc import RTCCertificate, RTCIceGatherer, RTCIceTransport

    ice = RTCIceTransport(RTCIceGatherer())
    connection = getattr(ice, "_connection", None)
    if not isinstance(connection, Connection):
        problems.append("aiortc: RTCIceTransport._connection is not an aioice Connection")
    elif not isinstance(getattr(connection, "_nominated", None), dict):
        problems.append("aioice: Connection._nominated is missing (or not a dict)")
    dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
    problems.extend(
        f"aiortc: RTCDtlsTransport instances lack {name}"
        for name in _DTLS_ATTRIBUTES
        if not hasattr(dtls, name)
    )
    if not isinstance(getattr(dtls, "_state", None), DtlsState):
        problems.append("aiortc: RTCDtlsTransport._state is not a rtcdtlstransport.State")
    sender = RTCRtpSender("video", dtls)
    if sender.transport is not dtls or dtls.transport is not ice:
        problems.append("aiortc: RTCRtpSender.transport / RTCDtlsTransport.transport changed")
    problems.extend(
        f"aiortc: RTCRtpSender instances lack {name}"
        for name in _SENDER_ATTRIBUTES
        if not hasattr(sender, name)
    )


def check_internals() -> list[str]:
    """Check that every private aiortc/aioice name, attribute and method signature this
    module relies on exists in the installed versions, and that aiortc still calls the
    methods we replace. Returns one readable line per problem (empty: all present). Needs
    no network; builds a few unstarted aiortc objects, so call it with an event loop
    running (as aiortc's constructors expect). Takes a few milliseconds."""
    problems: list[str] = []
    _check_attributes(problems)
    _check_signatures(problems)
    _check_call_sites(problems)
    try:
        _check_instances(problems)
    except Exception as exc:  # a changed constructor is itself the finding
        problems.append(f"aiortc: building a sender to inspect failed: {exc!r}")
    return problems
