// The last rung of the player's ladder: Low-Latency HLS from the studio's /live/index.m3u8
// (media/hls.py), for a page that has neither WebCodecs nor Media Source of its own (an
// iPhone before iOS 17.1). hls.js (vendor/hls.min.js, loaded only when this rung is taken)
// wherever the browser has some Media Source that hls.js finds, else the browser's own HLS
// (video.canPlayType('application/vnd.apple.mpegurl'): Safari on iOS). hls.js first because
// it honours the LL-HLS tags: Chromium 156's own HLS plays ~8 s behind live, hls.js ~2 s
// (bench/hls_bench.py); Safari's own HLS is low-latency, and where there is no Media Source
// at all (old iPhones) it is the only way.
//
// player.js calls startHlsRung(player, reason) where it would otherwise say "unsupported",
// and stopHlsRung(player) when the stream stops. The rung sets player.transport and
// player.stats.transport to 'hls', counts decoded frames in player.stats.frames, and keeps
// its state in player._hls.

export const HLS_URL = '/live/index.m3u8';
const HLS_JS_URL = '/static/vendor/hls.min.js';
const RETRY_MS = 2000;

let hlsJsLoading = null;

/** Loads hls.js once (a classic script: it defines window.Hls); resolves to Hls or null. */
export function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsJsLoading) {
    hlsJsLoading = new Promise((resolve) => {
      const script = document.createElement('script');
      script.src = HLS_JS_URL;
      script.async = true;
      script.onload = () => resolve(window.Hls || null);
      script.onerror = () => { hlsJsLoading = null; resolve(null); };
      document.head.appendChild(script);
    });
  }
  return hlsJsLoading;
}

/** 'hls.js' (needs some Media Source, possibly one only hls.js looks for), 'native' or null. */
export function hlsEngine(video) {
  if (window.ManagedMediaSource || window.MediaSource || window.WebKitMediaSource) return 'hls.js';
  if (video.canPlayType && video.canPlayType('application/vnd.apple.mpegurl')) return 'native';
  return null;
}

/**
 * Start LL-HLS on player.video; false when this browser cannot play HLS at all (the caller
 * then says "unsupported"). Idempotent while the rung runs.
 * @param {object} player the LivePlayer
 * @param {string} reason why the ladder came down to this rung (kept in player.stats)
 */
export function startHlsRung(player, reason) {
  if (player._hls) return true;
  const engine = hlsEngine(player.video);
  if (!engine) return false;
  const state = { engine, hls: null, stopped: false, timer: null };
  player._hls = state;
  clearTimeout(player._timer);
  if (player._closePc) player._closePc();
  player.stats.fallbackReason = reason;
  player.stats.hlsEngine = engine;
  player.transport = player.stats.transport = 'hls';
  player.onState('connecting');
  const video = player.video;
  video.srcObject = null;
  video.muted = player.muted;
  countFrames(player, state);
  if (engine === 'native') {
    video.src = HLS_URL;
    video.addEventListener('error', () => retry(player, state), { once: true });
    video.play().catch(() => {});
  } else {
    attachHlsJs(player, state);
  }
  return true;
}

async function attachHlsJs(player, state) {
  const Hls = await loadHlsJs();
  if (state.stopped) return;
  if (!Hls || !Hls.isSupported()) {
    player._hls = null;
    player.transport = player.stats.transport = 'none';
    player.onState('unsupported');
    return;
  }
  // No worker: the page's Content-Security-Policy allows no blob: scripts.
  const hls = new Hls({ lowLatencyMode: true, enableWorker: false, backBufferLength: 10 });
  state.hls = hls;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal && !state.stopped) retry(player, state);
  });
  hls.loadSource(HLS_URL);
  hls.attachMedia(player.video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => player.video.play().catch(() => {}));
}

/** Nothing live yet (404) or the stream restarted (a new prefix): start again shortly. */
function retry(player, state) {
  if (state.stopped) return;
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    if (state.stopped) return;
    if (state.engine === 'native') {
      player.video.src = HLS_URL;
      player.video.addEventListener('error', () => retry(player, state), { once: true });
      player.video.play().catch(() => {});
    } else {
      attachHlsJs(player, state);
    }
  }, RETRY_MS);
}

function countFrames(player, state) {
  const video = player.video;
  const tick = () => {
    if (state.stopped) return;
    if (player.transport !== 'hls') {
      // Another rung took the video element over (WebRTC's srcObject wins over src): stop
      // fetching, but do not detach (that would reset the element under the new rung).
      state.stopped = true;
      clearTimeout(state.timer);
      if (state.hls) state.hls.stopLoad();
      if (player._hls === state) player._hls = null;
      return;
    }
    player.stats.frames += 1;
    if (state.hls) player.stats.hlsLatency = state.hls.latency;
    // ms since the page began loading: the rung's time to first frame (bench/hls_bench.py)
    if (player.stats.hlsFirstFrameMs === undefined) player.stats.hlsFirstFrameMs = Math.round(performance.now());
    if (player.stats.frames === 1 || video.hidden) {
      if (player._show) player._show('video');
      player.onState('live');
    }
    video.requestVideoFrameCallback(tick);
  };
  if (video.requestVideoFrameCallback) {
    video.requestVideoFrameCallback(tick);
  } else {
    // Without frame callbacks (old Safari): a frame per timeupdate that moved the clock.
    let last = -1;
    video.addEventListener('timeupdate', function onTime() {
      if (state.stopped) { video.removeEventListener('timeupdate', onTime); return; }
      if (video.currentTime !== last) {
        last = video.currentTime;
        player.stats.frames += 1;
        if (player._show) player._show('video');
        player.onState('live');
      }
    });
  }
}

/** Stop the rung if it runs (the stream ended or another rung takes over). */
export function stopHlsRung(player) {
  const state = player._hls;
  if (!state) return;
  player._hls = null;
  state.stopped = true;
  clearTimeout(state.timer);
  if (state.hls) state.hls.destroy();
  if (state.engine === 'native') {
    player.video.removeAttribute('src');
    player.video.load();
  }
  if (player.transport === 'hls') player.transport = player.stats.transport = 'none';
}
