// The last rung of the player's ladder: Low-Latency HLS from the studio's /live/index.m3u8
// (media/hls.py), for a page that has neither WebCodecs nor Media Source of its own (an
// iPhone before iOS 17.1). hls.js (vendor/hls.min.js, loaded only when this rung is taken)
// wherever the browser has some Media Source that hls.js finds, else the browser's own HLS
// (video.canPlayType('application/vnd.apple.mpegurl'): Safari on iOS). hls.js first because
// it honours the LL-HLS tags: Chromium 156's own HLS plays ~8 s behind live, hls.js ~2 s
// (bench/hls_bench.py); Safari's own HLS is low-latency, and where there is no Media Source
// at all (old iPhones) it is the only way.
//
// It is the last entry of player.js's FALLBACK_RUNGS: started beside WebRTC like the other
// rungs, on a <video> of its own laid over WebRTC's, so WebRTC still takes over (without a
// blank) where it connects; every frame shown goes to player._fallbackFrame().

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
 * The LL-HLS rung of player.js's FALLBACK_RUNGS: plays `/live/index.m3u8` on `video` (an
 * element of its own, laid over the WebRTC video) and returns the function that stops it.
 * Every frame shown is reported with `player._fallbackFrame(video)`; hls.js that cannot be
 * loaded hands over to the next rung with `player._fallbackFailed(why)`.
 * @param {object} player the LivePlayer
 * @param {HTMLVideoElement} video where to play
 * @returns {() => void} stops the rung (the stream ended, or WebRTC took over)
 */
export function startHlsRung(player, video) {
  const engine = hlsEngine(video);
  const state = { engine, hls: null, stopped: false, timer: null, video };
  player.stats.hlsEngine = engine;
  video.muted = player.muted;
  countFrames(player, state);
  if (engine === 'native') {
    video.src = HLS_URL;
    video.addEventListener('error', () => retry(player, state), { once: true });
    video.play().catch(() => {});
  } else {
    attachHlsJs(player, state);
  }
  return () => stopHls(state);
}

async function attachHlsJs(player, state) {
  const Hls = await loadHlsJs();
  if (state.stopped) return;
  if (!Hls || !Hls.isSupported()) {
    player._fallbackFailed('hls.js cannot play here');
    return;
  }
  // No worker: the page's Content-Security-Policy allows no blob: scripts.
  // maxLiveSyncPlaybackRate: after a slow start (a busy phone, the parallel WebRTC attempt)
  // play slightly faster until back at the target latency instead of staying behind.
  const hls = new Hls({
    lowLatencyMode: true, enableWorker: false, backBufferLength: 10, maxLiveSyncPlaybackRate: 1.5,
  });
  state.hls = hls;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal && !state.stopped) retry(player, state);
  });
  hls.loadSource(HLS_URL);
  hls.attachMedia(state.video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => state.video.play().catch(() => {}));
}

/** Nothing live yet (404) or the stream restarted (a new prefix): start again shortly. */
function retry(player, state) {
  if (state.stopped) return;
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    if (state.stopped) return;
    if (state.engine === 'native') {
      state.video.src = HLS_URL;
      state.video.addEventListener('error', () => retry(player, state), { once: true });
      state.video.play().catch(() => {});
    } else {
      attachHlsJs(player, state);
    }
  }, RETRY_MS);
}

function countFrames(player, state) {
  const video = state.video;
  const shown = () => {
    if (state.hls) player.stats.hlsLatency = state.hls.latency;
    // ms since the page began loading: the rung's time to first frame (bench/hls_bench.py)
    if (player.stats.hlsFirstFrameMs === undefined) player.stats.hlsFirstFrameMs = Math.round(performance.now());
    player._fallbackFrame(video);
  };
  if (video.requestVideoFrameCallback) {
    const tick = () => {
      if (state.stopped) return;
      shown();
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  } else {
    // Without frame callbacks (old Safari): a frame per timeupdate that moved the clock.
    let last = -1;
    video.addEventListener('timeupdate', function onTime() {
      if (state.stopped) { video.removeEventListener('timeupdate', onTime); return; }
      if (video.currentTime !== last) {
        last = video.currentTime;
        shown();
      }
    });
  }
}

function stopHls(state) {
  if (state.stopped) return;
  state.stopped = true;
  clearTimeout(state.timer);
  if (state.hls) state.hls.destroy();
  state.hls = null;
  const video = state.video;
  video.hidden = true;
  video.pause();
  video.removeAttribute('src');
  video.load();
}
