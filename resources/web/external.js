// External playback (issue 15, item 3c): when the shop configured WRENCOS_WHEP_URL or
// WRENCOS_PUBLIC_HLS_URL (an SFU or CDN the studio publishes to, e.g. by WHIP), the page
// plays from there first and falls back to the studio's own ladder (player.js) when that
// fails within a few seconds, or later.
//
// The one hook: LivePlayer.handle() first asks ExternalPlayback.handle(msg); true means
// "mine, hold it". The studio's messages that would start the ladder
// (webrtc_broadcaster_available, webrtc_offer, webrtc_ice_candidate) are held while the
// external source is tried: replayed to the player if it fails, dropped if it plays.
// The URLs come in stream_info (publicHlsUrl, whepUrl), which the page asks for right
// after registering; until it arrives (at most STREAM_INFO_WAIT_MS) the ladder waits.
//
// WHEP (draft-ietf-wish-whep): POST an SDP offer (application/sdp) to the URL, take the
// answer from the 201, play; DELETE the Location when done. Public HLS: hls.js (loaded on
// demand, as the LL-HLS rung in hls-player.js does) where the browser has Media Source,
// else the browser's own HLS (iPhones before iOS 17.1), else it is skipped. In the first
// moments of a show the playlist may have parts but no whole segment yet (hls.js:
// levelEmptyError) or answer 404: that is "not yet" (hls-player.js notYet), retried with
// a short backoff until EXTERNAL_TIMEOUT_MS, not a failure.

import { PLAYLIST_LOAD_POLICY, hlsEngine, loadHlsJs, notYet, startRetryDelay } from './hls-player.js';

const EXTERNAL_TIMEOUT_MS = 4000;
const STREAM_INFO_WAIT_MS = 1500;
const HELD = new Set(['webrtc_broadcaster_available', 'webrtc_offer', 'webrtc_ice_candidate']);

export class ExternalPlayback {
  /** @param {object} player the LivePlayer (video, stats, onState, handle, register) */
  constructor(player) {
    this.player = player;
    this.urls = null; // {whep, hls} once stream_info came
    this.state = 'idle'; // idle | waiting (for stream_info) | trying | playing | failed | off
    this.held = [];
    this.session = null;
    this.replaying = false;
    this._wait = null;
    this.disabled = new URLSearchParams(location.search).has('studio'); // ?studio: skip it
    player.stats.external = { state: 'idle', source: null, error: null };
  }

  /** A hub message, before the player sees it. True: the player must not handle it (now). */
  handle(msg) {
    if (this.replaying) return false;
    if (msg.type === 'stream_info') {
      this.urls = { whep: msg.whepUrl || '', hls: msg.publicHlsUrl || '' };
      if (this.state === 'waiting') this._decide();
      return true; // nothing in it for the ladder
    }
    if (msg.type === 'webrtc_broadcast_stopped') {
      this._stopSession();
      this.state = 'idle';
      this.held = [];
      return false;
    }
    if (!HELD.has(msg.type) || this.disabled || this.state === 'failed' || this.state === 'off') return false;
    if (this.state === 'playing') {
      if (msg.type === 'webrtc_broadcaster_available') this.player.broadcaster = msg.broadcaster;
      return true; // the studio's own stream is not needed while the external one plays
    }
    if (this.state === 'idle') {
      if (msg.type !== 'webrtc_broadcaster_available') return false;
      if (this.urls && !this.urls.whep && !this.urls.hls) return false; // none configured
      this.player.broadcaster = msg.broadcaster;
      this.held = [msg];
      if (this.urls) { this._decide(); return true; }
      this.state = 'waiting';
      this._wait = setTimeout(() => { if (this.state === 'waiting') this._fail('no stream_info'); }, STREAM_INFO_WAIT_MS);
      return true;
    }
    this.held.push(msg); // waiting or trying
    return true;
  }

  _decide() {
    clearTimeout(this._wait);
    const { whep, hls } = this.urls;
    if (!whep && !hls) { this.state = 'off'; this._giveBack(); return; }
    this.state = 'trying';
    this._set('trying', null, null);
    this._try().catch((err) => this._fail(String(err && err.message ? err.message : err)));
  }

  async _try() {
    const errors = [];
    for (const [kind, url, play] of [['whep', this.urls.whep, playWhep], ['hls', this.urls.hls, playHls]]) {
      if (!url) continue;
      const attempt = { session: null };
      try {
        const session = await withTimeout(play(this.player.video, url, attempt), EXTERNAL_TIMEOUT_MS, `${kind}: no picture within ${EXTERNAL_TIMEOUT_MS} ms`);
        if (this.state !== 'trying') { session.stop(); return; }
        this.session = session;
        this.state = 'playing';
        this.held = [];
        this._set('playing', kind, null);
        const p = this.player;
        p.transport = p.stats.transport = kind;
        p.video.hidden = false; // the studio's ladder has shown nothing (its messages were held)
        p.video.muted = p.muted;
        p.onState('live');
        session.onFail = (why) => this._lost(why);
        return;
      } catch (err) {
        if (attempt.session) attempt.session.stop(); // timed out: it must not play later
        let text = String(err && err.message ? err.message : err);
        const last = attempt.session && attempt.session.notYet;
        if (last && !text.includes(last)) text += ` (retried: ${last})`;
        errors.push(text.startsWith(kind + ':') ? text : `${kind}: ${text}`);
      }
    }
    throw new Error(errors.join('; '));
  }

  /** The external source failed before playing: the studio's ladder takes over. */
  _fail(why) {
    this.state = 'failed';
    this._set('failed', null, why);
    this._stopSession();
    this._giveBack();
  }

  /** It played, then broke: ask the studio for a fresh offer and let the ladder play. */
  _lost(why) {
    if (this.state !== 'playing') return;
    this.state = 'failed';
    this._set('failed', null, why);
    this._stopSession();
    const p = this.player;
    p.transport = p.stats.transport = 'none';
    p.onState('connecting');
    p.register(); // the hub re-announces the broadcaster, which offers again
  }

  _giveBack() {
    clearTimeout(this._wait);
    const held = this.held;
    this.held = [];
    this.replaying = true;
    try {
      for (const msg of held) this.player.handle(msg);
    } finally {
      this.replaying = false;
    }
  }

  _stopSession() {
    if (this.session) { const s = this.session; this.session = null; s.stop(); }
    if (this.player.video.srcObject || this.player.video.getAttribute('src')) {
      this.player.video.srcObject = null;
      this.player.video.removeAttribute('src');
    }
  }

  _set(state, source, error) {
    Object.assign(this.player.stats.external, { state, source, error });
  }
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves once a frame is shown (requestVideoFrameCallback, else 'playing'). */
function firstFrame(video) {
  return new Promise((resolve) => {
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => resolve());
    else video.addEventListener('playing', () => resolve(), { once: true });
  });
}

/** WHEP: offer (recvonly video + audio, all candidates in it), answer, play. */
async function playWhep(video, url, attempt) {
  const pc = new RTCPeerConnection();
  let resource = null;
  let stopped = false;
  const session = {
    onFail: null,
    stop() {
      if (stopped) return;
      stopped = true;
      pc.close();
      if (resource) fetch(resource, { method: 'DELETE' }).catch(() => {});
    },
  };
  attempt.session = session;
  try {
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.ontrack = (ev) => {
      if (stopped) return;
      stream.addTrack(ev.track);
      video.srcObject = stream;
      video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed' && session.onFail) session.onFail('whep: connection failed');
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 1000);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`whep: ${res.status} ${res.statusText}`.trim());
    const location = res.headers.get('Location');
    if (location) resource = new URL(location, url).href;
    const answer = await res.text();
    if (stopped) throw new Error('whep: stopped');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await firstFrame(video);
    return session;
  } catch (err) {
    session.stop();
    throw err;
  }
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

/** Public HLS: hls.js (loaded on demand, as the LL-HLS rung does) where the browser has
 * Media Source, else the browser's own HLS (see hls-player.js hlsEngine for why). */
async function playHls(video, url, attempt) {
  const session = { onFail: null, notYet: null, stop() {} };
  attempt.session = session;
  let played = false;
  let failed;
  const failure = new Promise((_, reject) => { failed = reject; });
  const engine = hlsEngine(video);
  if (engine === 'hls.js') await loadHlsJs();
  if (engine === 'native' || (engine === 'hls.js' && !window.Hls)) {
    const onError = () => {
      const why = 'hls: cannot play ' + url + (video.error ? ` (media error ${video.error.code})` : '');
      failed(new Error(why));
      if (session.onFail) session.onFail(why);
    };
    video.addEventListener('error', onError);
    video.src = url;
    session.stop = () => { video.removeEventListener('error', onError); video.removeAttribute('src'); video.load(); };
  } else if (window.Hls && window.Hls.isSupported()) {
    let hls = null;
    let timer = null;
    let tries = 0;
    let stopped = false;
    const attach = () => {
      if (stopped) return;
      // No worker: the page's CSP allows no blob: scripts. Playlist errors (an empty level
      // at the start of a show) retried sooner than hls.js's default (hls-player.js).
      const h = new window.Hls({
        lowLatencyMode: true, enableWorker: false, playlistLoadPolicy: PLAYLIST_LOAD_POLICY,
      });
      hls = h;
      h.on(window.Hls.Events.ERROR, (_ev, data) => {
        if (!data || !data.fatal || h !== hls || stopped) return;
        if (!played && notYet(data)) {
          // Not yet (a parts-only playlist, a 404): a new hls.js shortly. The caller's
          // EXTERNAL_TIMEOUT_MS bounds the retries (it stops the session).
          session.notYet = data.details + (data.response && data.response.code ? ` ${data.response.code}` : '');
          h.destroy();
          hls = null;
          timer = setTimeout(attach, startRetryDelay(tries++));
          return;
        }
        failed(new Error('hls: ' + data.details));
        if (session.onFail) session.onFail('hls: ' + data.details);
      });
      h.loadSource(url);
      h.attachMedia(video);
      video.play().catch(() => {});
    };
    attach();
    session.stop = () => {
      stopped = true;
      clearTimeout(timer);
      if (hls) hls.destroy();
      hls = null;
    };
  } else {
    throw new Error('hls: this browser plays no HLS and hls.js is not loaded');
  }
  video.play().catch(() => {});
  try {
    await Promise.race([firstFrame(video), failure]);
  } catch (err) {
    session.stop();
    throw err;
  }
  played = true;
  return session;
}
