"""Glass-to-glass in the browser: a page script that reads the test pattern's capture
stamp (wrencos_studio.media.testsrc, the same blocks ``read_stamp`` reads) from each frame
the page presents, for the tests and ``bench/media_bench.py --browser``."""

from __future__ import annotations

__all__ = ["STAMP_READER_JS", "g2g_summary"]

#: Installs ``window.__g2g = []`` and fills it with ``{ms, transport}``: for every third
#: frame presented by the video element on top (``requestVideoFrameCallback``), the age
#: of its stamp on this machine's clock. Mirrors testsrc's layout: sync bits 1011, 48
#: bits of milliseconds, an 8-bit checksum; blocks of 16 pixels (8 below 960 wide),
#: wrapping onto more rows; a block is 1 where its centre is light.
STAMP_READER_JS = """
(() => {
  window.__g2g = [];
  const NBITS = 4 + 48 + 8;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const read = (video) => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return null;
    const block = w >= NBITS * 16 ? 16 : 8;
    const perRow = Math.max(1, Math.floor(w / block));
    const rows = Math.ceil(NBITS / perRow) * block;
    canvas.width = w; canvas.height = rows;
    ctx.drawImage(video, 0, 0, w, rows, 0, 0, w, rows);
    const px = ctx.getImageData(0, 0, w, rows).data;
    const bits = [];
    for (let i = 0; i < NBITS; i++) {
      const x = (i % perRow) * block + block / 2, y = Math.floor(i / perRow) * block + block / 2;
      const o = (y * w + x) * 4;
      bits.push(0.299 * px[o] + 0.587 * px[o + 1] + 0.114 * px[o + 2] > 128 ? 1 : 0);
    }
    if (bits[0] !== 1 || bits[1] !== 0 || bits[2] !== 1 || bits[3] !== 1) return null;
    let value = 0;
    for (let i = 4; i < 52; i++) value = value * 2 + bits[i];
    let check = 0;
    for (let i = 52; i < 60; i++) check = check * 2 + bits[i];
    let sum = 0, v = value;
    for (let i = 0; i < 6; i++) { sum += v % 256; v = Math.floor(v / 256); }
    return (sum & 0xff) === check ? value : null;
  };
  let n = 0;
  const watch = (video) => {
    const tick = () => {
      const p = window.wrencosPlayer;
      const onTop = p && ((video.id === 'mse-video' && p.transport === 'mse')
        || (video.id === 'video' && p.transport === 'webrtc'));
      if (onTop && (n++ % 3) === 0) {
        const stamp = read(video);
        if (stamp !== null) window.__g2g.push({ ms: Date.now() - stamp, transport: p.transport });
      }
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  };
  const start = () => {
    const rtc = document.getElementById('video');
    if (rtc) watch(rtc);
    const seen = new Set();
    const look = () => {
      const mse = document.getElementById('mse-video');
      if (mse && !seen.has(mse)) { seen.add(mse); watch(mse); }
      if (!seen.size) setTimeout(look, 50); else setTimeout(look, 500);
    };
    look();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""


def g2g_summary(samples: list[dict[str, object]], transport: str) -> dict[str, float | int]:
    """``{"n", "p50", "p95"}`` (ms) of the samples of one transport (n = 0: none)."""
    values = sorted(float(s["ms"]) for s in samples if s.get("transport") == transport)  # type: ignore[arg-type]
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(values[len(values) // 2], 1),
        "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 1),
    }
