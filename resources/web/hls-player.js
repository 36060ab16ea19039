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
/** After the rung played: the stream restarted (a new prefix) or the network blinked. */
const RETRY_MS = 2000;
/** Before the first frame, "not yet" (see notYet) is retried for this long, then the rung
 * hands over. The studio's first whole segment exists ~1-2 s after Go Live; a busy phone
 * and the parallel WebRTC attempt can double that. */
const START_WINDOW_MS = 8000;

/**
 * Whether a fatal hls.js error at start-up means "the stream is not there yet" rather than
 * "it cannot play": the playlist has parts but no whole segment yet (hls.js takes it as an
 * empty level, `levelEmptyError`: the first ~1-2 s of a show, media/hls.py), or a playlist
 * answered 404 (nothing live yet; a CDN that has not fetched it yet) or 503 (the show
 * restarting). An unreachable server (status 0), a parse or codec error are not.
 * @param {object} data hls.js's ERROR event data ({type, details, fatal, response: {code}})
 * @returns {boolean}
 */
export function notYet(data) {
  if (!data) return false;
  if (data.details === 'levelEmptyError') return true;
  const code = data.response ? data.response.code : undefined;
  return data.type === 'networkError' && (code === 404 || code === 503);
}

/**
 * hls.js's playlist load policy (its `playlistLoadPolicy` option). Its default retries a
 * playlist error — an empty level included — after 1 s, then 2 s, then gives up (fatal): a
 * show's first moments (parts, no whole segment yet) are waited out in 3 s at best, and a
 * slower start ends the rung. Here: after 250, 500, 1000, 1000 ms, the same timeouts as
 * hls.js 1.6's. A 4xx is never retried by hls.js (a 404 is fatal at once): see failed().
 */
export const PLAYLIST_LOAD_POLICY = {
  default: {
    maxTimeToFirstByteMs: 10000,
    maxLoadTimeMs: 20000,
    timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: 4, retryDelayMs: 250, maxRetryDelayMs: 1000 },
  },
};

/** The wait (ms) before start-up retry number `tries` (0, 1, ...): 250, 500, 1000, 1000... */
export function startRetryDelay(tries) {
  return Math.min(1000, 250 * 2 ** tries);
}

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
  const state = {
    engine, hls: null, stopped: false, timer: null, video,
    started: performance.now(), played: false, tries: 0,
  };
  player.stats.hlsEngine = engine;
  player.stats.hlsStartErrors = []; // what hls.js (or the browser) gave up on before a frame
  video.muted = player.muted;
  countFrames(player, state);
  if (engine === 'native') {
    attachNative(player, state);
  } else {
    attachHlsJs(player, state);
  }
  return () => stopHls(state);
}

function attachNative(player, state) {
  const video = state.video;
  video.src = HLS_URL;
  // The browser's own HLS says no more than "error": before the first frame it is taken as
  // "not yet" (retried within the start window), afterwards as a restart.
  video.addEventListener('error', () => {
    if (state.stopped) return;
    failed(player, state, 'media error ' + (video.error ? video.error.code : '?'), true);
  }, { once: true });
  video.play().catch(() => {});
}

async function attachHlsJs(player, state) {
  const Hls = await loadHlsJs();
  if (state.stopped) return;
  if (!Hls) {  // the script did not load: the network's doing, not the browser's
    player._fallbackFailed('hls.js could not be loaded');
    return;
  }
  if (!Hls.isSupported()) {  // no Media Source of any kind: this browser cannot
    player._fallbackFailed('hls.js cannot play here', 'browser');
    return;
  }
  // No worker: the page's Content-Security-Policy allows no blob: scripts.
  // maxLiveSyncPlaybackRate: after a slow start (a busy phone, the parallel WebRTC attempt)
  // play slightly faster until back at the target latency instead of staying behind.
  const hls = new Hls({
    lowLatencyMode: true, enableWorker: false, backBufferLength: 10, maxLiveSyncPlaybackRate: 1.5,
    playlistLoadPolicy: PLAYLIST_LOAD_POLICY,
  });
  state.hls = hls;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal && !state.stopped && state.hls === hls) failed(player, state, data.details, notYet(data));
  });
  hls.loadSource(HLS_URL);
  hls.attachMedia(state.video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => state.video.play().catch(() => {}));
}

/**
 * hls.js (or the browser's HLS) gave up on `why`. Once the rung has played, the stream
 * restarted (a new prefix) or the network blinked: start again in RETRY_MS. Before the
 * first frame, "not yet" (`soon`: see notYet) is retried after a short backoff while the
 * start window lasts; anything else, or still nothing when the window is over, hands over
 * to the player's next rung (player._fallbackFailed).
 */
function failed(player, state, why, soon) {
  if (state.stopped) return;
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  clearTimeout(state.timer);
  let delay = RETRY_MS;
  if (!state.played) {
    player.stats.hlsStartErrors.push(why);
    delay = startRetryDelay(state.tries++);
    if (!soon || performance.now() - state.started + delay > START_WINDOW_MS) {
      const waited = soon ? ` (no picture within ${START_WINDOW_MS} ms)` : '';
      stopHls(state);
      player._fallbackFailed(`LL-HLS: ${why}${waited}`);
      return;
    }
  }
  state.timer = setTimeout(() => {
    if (state.stopped) return;
    if (state.engine === 'native') attachNative(player, state);
    else attachHlsJs(player, state);
  }, delay);
}

function countFrames(player, state) {
  const video = state.video;
  const shown = () => {
    state.played = true;
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
