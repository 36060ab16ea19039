// The live video, as a ladder of ways to receive the studio's one encoded stream:
//   1. WebRTC (signalled over the hub's WebSocket): lowest latency, needs UDP;
//   2. the fallback rungs of FALLBACK_RUNGS, best first — the first one this browser can
//      use is started *in parallel* with WebRTC, so a viewer whose UDP is blocked (an HTTP
//      tunnel, a strict network) sees a picture within ~1 s instead of after a timeout.
// When WebRTC shows its first frame the page swaps to it in one task (the fallback stays
// on top until then, so there is no blank) and closes the fallback. WebRTC is abandoned
// when ICE fails or has no connection after ICE_GIVE_UP_MS — for that offer only: a later
// offer (a hub reconnect, a studio restart) is tried afresh while the fallback plays on.
// When every rung has failed and WebRTC is given up, the page says "cannot play" only if
// the browser refused every rung; a rung lost to the network is retried after a backoff.
// Starts muted (autoplay rules); unmute() needs a user gesture.

/** No ICE connection by then: WebRTC is taken as dead (the fallback plays on). */
const ICE_GIVE_UP_MS = 3000;
/** Media Source: further behind the live edge than this (s), jump to LIVE_TARGET_S. */
const LIVE_MAX_BEHIND_S = 1.0;
const LIVE_TARGET_S = 0.4; // the last frame's duration is written long (live_fmp4.py): its end is ~0.1 s ahead
/** Media Source: keep this much (s) behind the playhead; older media is removed. */
const KEEP_BEHIND_S = 10;
/** Media Source: messages waiting to be appended beyond this (a slow `sourceopen` or
 * `media_init`, a slow tab): drop what comes before the newest keyframe among them. */
const MAX_PENDING = 45;
/** Media Source: with no keyframe to trim to, drop everything beyond this many messages. */
const MAX_PENDING_HARD = 4 * MAX_PENDING;
/** Every rung failed, one of them on the network: the first retry of the ladder (ms),
 * doubling per retry up to LADDER_RETRY_MAX_MS. */
const LADDER_RETRY_MS = 5000;
const LADDER_RETRY_MAX_MS = 30000;

import { ExternalPlayback } from './external.js';
import { hlsEngine, startHlsRung } from './hls-player.js'; // the LL-HLS rung (its own file)

function mediaSourceClass() {
  return window.ManagedMediaSource || window.MediaSource || null;
}

/**
 * The audio the Media Source rung asks the studio for (`&audio=` of `/media?f=fmp4`):
 * Opus where this Media Source plays Opus in MP4 (Chromium, Firefox), else AAC where it
 * plays AAC (Safari, iOS ManagedMediaSource), else none (the picture alone).
 */
function mseAudioChoice(MS) {
  const can = (codec) => { try { return MS.isTypeSupported(`audio/mp4; codecs="${codec}"`); } catch (err) { return false; } };
  if (can('opus')) return 'opus';
  if (can('mp4a.40.2')) return 'aac';
  return 'none';
}

function mediaUrl(query) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/media${query}`;
}

/**
 * The fallback rungs, best first: `usable()` says whether this browser can play it,
 * `start(player)` starts it and returns a function that stops it. A rung calls
 * `player._fallbackFrame(element)` for every frame it shows, `player._fallbackFailed(why,
 * cause)` when it cannot play (the next usable rung is tried); `cause` is 'browser' when
 * this browser refused the stream (a codec, an API), else 'network' (the default: what is
 * not known to be the browser is not blamed on it). Another way to play is one more entry.
 */
export const FALLBACK_RUNGS = [
  // fMP4 over the WebSocket into Media Source: no secure context needed, plays sound.
  { name: 'mse', usable: () => mediaSourceClass() !== null, start: (player) => player._startMse() },
  // The packets into WebCodecs: only in secure contexts, sound only with AudioDecoder.
  { name: 'webcodecs', usable: () => 'VideoDecoder' in window && window.isSecureContext, start: (player) => player._startWebCodecs() },
  // Low-Latency HLS (hls-player.js): hls.js where only it finds a Media Source, else the
  // browser's own HLS (iPhones before iOS 17.1); ~2 s behind live instead of ~0.3 s.
  { name: 'hls', usable: () => hlsEngine(document.createElement('video')) !== null, start: (player) => player._startHls() },
];

export class LivePlayer {
  /**
   * @param {{video: HTMLVideoElement, canvas: HTMLCanvasElement, send: (msg: object) => void,
   *          onState: (state: string) => void}} opts  onState gets 'connecting', 'retrying'
   *          (the network failed; trying again), 'live', 'offline' or 'unsupported'
   */
  constructor({ video, canvas, send, onState }) {
    this.video = video;
    this.canvas = canvas;
    this.send = send;
    this.onState = onState || (() => {});
    this.peerId = 'viewer-' + (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    this.broadcaster = null;
    this.pc = null;
    this.ws = null;
    this.muted = true;
    /** 'none', 'webrtc' or the name of the fallback rung on screen. */
    this.transport = 'none';
    this.fallback = null; // {rung, stop, shown: element|null}
    this._rung = -1;
    this._webrtcDead = null; // why WebRTC was given up for the current offer, or null
    // The ladder's current run: why each rung failed ({rung, why, cause}), and whether it
    // ran out of rungs (then nothing plays unless WebRTC does, or a retry succeeds).
    this._ladderFailures = [];
    this._ladderExhausted = false;
    this._ladderRetry = null; // the timer of the ladder's next run after a network failure
    this._ladderRetries = 0;
    this._lastShown = 0;
    this.stats = {
      frames: 0, transport: 'none', fallbackReason: null, webrtcFailed: null,
      firstFrameMs: null, upgradedMs: null, swapGapMs: null,
      webrtcOffers: 0, // offers tried (each gets a fresh chance, also after a give-up)
      ladderRuns: 0, // times the ladder was started from its first rung
      ladderFailures: [], // the current run's failed rungs: {rung, why, cause}
      ladderFailed: null, // every rung failed and WebRTC gave up: 'browser' or 'network'
      received: 0, appended: 0, dropped: 0, // Media Source messages
      mseAudio: null, // the audio the Media Source rung asked for: opus, aac or none
    };
    this._timer = null;
    this._forceFallback = new URLSearchParams(location.search).has('fallback');
    this.external = new ExternalPlayback(this); // a configured WHEP/HLS URL first (external.js)
    window.wrencosPlayer = this; // for tests and the curious
  }

  /** Call after the hub connection (re)registered. */
  register() {
    this.send({ type: 'webrtc_register', peerId: this.peerId, userType: 'customer' });
  }

  /** Hub messages for the player. */
  handle(msg) {
    if (this.external.handle(msg)) return;
    switch (msg.type) {
      case 'webrtc_broadcaster_available':
        this.broadcaster = msg.broadcaster;
        if (this.transport === 'none' && !this.fallback) {
          this.onState(this._connectingState());
          this._startFallback(this._forceFallback ? 'asked for' : 'started beside WebRTC');
        }
        break;
      case 'webrtc_offer':
        // Also while WebRTC plays: the broadcaster re-offers after the hub connection came
        // back (it closed the old peer connection). Also after a give-up: a new offer is a
        // fresh try (the network may have changed); the fallback plays on until its frame.
        if (!this._forceFallback) this._onOffer(msg);
        break;
      case 'webrtc_ice_candidate':
        if (this.pc && msg.candidate) this.pc.addIceCandidate(msg.candidate).catch(() => {});
        break;
      case 'webrtc_broadcast_stopped':
        this.stop();
        this.onState('offline');
        break;
      default:
        break;
    }
  }

  // -- WebRTC ------------------------------------------------------------------------------

  async _onOffer(msg) {
    this._closePc();
    this.broadcaster = msg.from;
    this._webrtcDead = null;
    this.stats.webrtcOffers += 1;
    if (this.transport === 'none') this.onState(this._connectingState());
    const pc = new RTCPeerConnection();
    this.pc = pc;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      if (pc === this.pc && this.transport !== 'webrtc' && !['connected', 'completed'].includes(pc.iceConnectionState)) {
        this._giveUpWebRtc('no ICE connection');
      }
    }, ICE_GIVE_UP_MS);
    // Not heard until its first frame: the fallback may be playing (and sounding) on top.
    if (this.transport !== 'webrtc') this.video.muted = true;
    pc.ontrack = (ev) => {
      if (!this.video.srcObject) this.video.srcObject = new MediaStream();
      this.video.srcObject.addTrack(ev.track);
      this.video.play().catch(() => {});
    };
    pc.onicecandidate = (ev) => {
      if (ev.candidate) {
        this.send({ type: 'webrtc_ice_candidate', to: this.broadcaster, candidate: ev.candidate.toJSON() });
      }
    };
    pc.oniceconnectionstatechange = () => {
      if (pc === this.pc && pc.iceConnectionState === 'failed') this._giveUpWebRtc('ICE failed');
    };
    pc.onconnectionstatechange = () => {
      if (pc === this.pc && pc.connectionState === 'failed') this._giveUpWebRtc('WebRTC failed');
    };
    try {
      await pc.setRemoteDescription(msg.offer);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.send({ type: 'webrtc_answer', to: this.broadcaster, answer: { type: 'answer', sdp: pc.localDescription.sdp } });
    } catch (err) {
      // Only this offer's own failure: a newer offer's peer connection is not given up.
      if (pc === this.pc) this._giveUpWebRtc('WebRTC offer refused: ' + err);
      return;
    }
    if (pc !== this.pc) return; // replaced (a newer offer) or given up meanwhile
    this._countVideoFrames(pc);
  }

  _giveUpWebRtc(reason) {
    clearTimeout(this._timer);
    this._closePc();
    this._webrtcDead = reason;
    this.stats.webrtcFailed = reason;
    if (this.transport === 'webrtc') this.transport = this.stats.transport = 'none';
    // The fallback normally runs already. If its ladder already ran out of rungs, running
    // it again now would only repeat that: say what is true instead (_ladderSettled).
    // Otherwise (it was stopped by WebRTC's upgrade, or never started) start it.
    if (this.fallback) return;
    if (this._ladderExhausted) this._ladderSettled();
    else this._startFallback(reason);
  }

  _countVideoFrames(pc) {
    const video = this.video;
    const tick = () => {
      if (pc !== this.pc) return;
      if (this.transport !== 'webrtc') this._upgradeToWebRtc();
      this._frameShown();
      video.requestVideoFrameCallback(tick);
    };
    if (video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(tick);
      return;
    }
    // No requestVideoFrameCallback: the first decoded data, then time updates, stand in.
    const approx = () => {
      if (pc !== this.pc) {
        video.removeEventListener('loadeddata', approx);
        video.removeEventListener('timeupdate', approx);
        return;
      }
      if (this.transport !== 'webrtc') this._upgradeToWebRtc();
      this._frameShown();
    };
    video.addEventListener('loadeddata', approx);
    video.addEventListener('timeupdate', approx);
  }

  /**
   * WebRTC has a frame: show it and let the fallback go, in one task (no blank between).
   * An upgrade (upgradedMs, swapGapMs) is counted only when a rung had shown a frame; when
   * none had (WebRTC came first, or the ladder had run out), the page says live here.
   */
  _upgradeToWebRtc() {
    clearTimeout(this._timer);
    const had = this.fallback;
    const upgraded = had !== null && had.shown !== null;
    this.transport = this.stats.transport = 'webrtc';
    this.video.hidden = false;
    this.video.muted = this.muted;
    if (upgraded) {
      this.stats.upgradedMs = Math.round(performance.now());
      this.stats.swapGapMs = this._lastShown ? Math.round(performance.now() - this._lastShown) : null;
    }
    if (had) this._stopFallback();
    // WebRTC plays: the ladder's run is over (were WebRTC to die, it starts afresh).
    this._ladderExhausted = false;
    this._clearLadderRetry();
    this._ladderRetries = 0;
    this.stats.ladderFailed = null;
    if (!upgraded) this.onState('live');
  }

  _closePc() {
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
  }

  _frameShown() {
    this.stats.frames += 1;
    this._lastShown = performance.now();
    if (this.stats.firstFrameMs === null) this.stats.firstFrameMs = Math.round(performance.now());
  }

  // -- the fallback rungs ----------------------------------------------------------------

  /** Start the first usable fallback rung after the current one (from the top if none). */
  _startFallback(reason, from = 0) {
    if (this.fallback || this.transport === 'webrtc') return;
    if (from === 0) {
      // A new run of the ladder: forget how the last one failed.
      this._clearLadderRetry();
      this._ladderExhausted = false;
      this._ladderFailures = this.stats.ladderFailures = [];
      this.stats.ladderFailed = null;
      this.stats.ladderRuns += 1;
    }
    this.stats.fallbackReason = reason;
    for (let i = from; i < FALLBACK_RUNGS.length; i++) {
      const rung = FALLBACK_RUNGS[i];
      if (!rung.usable()) continue;
      this._rung = i;
      this.fallback = { rung, stop: null, shown: null };
      const fallback = this.fallback;
      fallback.stop = rung.start(this);
      return;
    }
    this._rung = -1;
    // No (further) rung this browser can use: WebRTC is the only hope.
    this._ladderExhausted = true;
    this._ladderSettled();
  }

  /**
   * Every rung of this run failed (or none was usable). While WebRTC may still play,
   * nothing is said ("Connecting video…" stays). Once it is given up too: 'unsupported'
   * ("This browser cannot play the stream") only when this browser refused every rung it
   * tried (or could use none); when a rung was lost to the network the page stays
   * 'connecting' and runs the ladder again after LADDER_RETRY_MS (doubling, at most
   * LADDER_RETRY_MAX_MS) — a later offer (hub reconnect) may also bring WebRTC.
   */
  _ladderSettled() {
    if (!this._ladderExhausted || this.fallback || this.transport === 'webrtc') return;
    if (this._webrtcDead === null && !this._forceFallback) return;
    const network = this._ladderFailures.some((f) => f.cause !== 'browser');
    this.stats.ladderFailed = network ? 'network' : 'browser';
    if (!network) {
      this.onState('unsupported');
      return;
    }
    this.onState('retrying'); // "Reconnecting video…": it played or may play, the network failed
    if (this._ladderRetry !== null) return; // a retry is due already (another give-up)
    const delay = Math.min(LADDER_RETRY_MAX_MS, LADDER_RETRY_MS * 2 ** this._ladderRetries);
    this._ladderRetries += 1;
    this._ladderRetry = setTimeout(() => {
      this._ladderRetry = null;
      if (this.broadcaster && this._ladderExhausted && !this.fallback && this.transport !== 'webrtc') {
        this._startFallback('again after a network failure');
      }
    }, delay);
  }

  /** 'retrying' while the ladder is being run again after a network failure, else 'connecting'. */
  _connectingState() {
    return this._ladderRetries > 0 ? 'retrying' : 'connecting';
  }

  _clearLadderRetry() {
    clearTimeout(this._ladderRetry);
    this._ladderRetry = null;
  }

  /** A rung shows a frame on ``element`` (laid over the WebRTC video until it has frames). */
  _fallbackFrame(element) {
    const fallback = this.fallback;
    if (!fallback || this.transport === 'webrtc') return;
    if (fallback.shown !== element) {
      fallback.shown = element;
      element.hidden = false;
      if (element instanceof HTMLVideoElement) element.muted = this.muted;
      this.transport = this.stats.transport = fallback.rung.name;
      this._ladderRetries = 0; // a rung plays: the next network failure starts at the first delay
      this.onState('live');
    }
    this._frameShown();
  }

  /**
   * The running rung cannot play: try the next one.
   * @param {string} reason what failed, for stats.ladderFailures
   * @param {'browser'|'network'} cause 'browser' when this browser refused the stream (it
   *   will refuse it again), else 'network' (the default)
   */
  _fallbackFailed(reason, cause = 'network') {
    if (!this.fallback) return; // stopped meanwhile (WebRTC took over, the stream ended)
    const from = this._rung + 1;
    this._ladderFailures.push({ rung: this.fallback.rung.name, why: reason, cause });
    this._stopFallback();
    this._startFallback(reason, from);
  }

  _stopFallback() {
    const fallback = this.fallback;
    this.fallback = null;
    if (!fallback) return;
    if (fallback.stop) fallback.stop();
    if (this.transport === fallback.rung.name) this.transport = this.stats.transport = 'none';
  }

  /** The fallback's WebSocket closed on its own: come back with backoff (1008: not live). */
  _fallbackClosed(ev, restart) {
    if (ev.code === 1008) {
      this._stopFallback();
      if (this.transport === 'none') this.onState('offline');
      return;
    }
    this._fallbackTries = (this._fallbackTries || 0) + 1;
    const delay = Math.min(15000, 1000 * 2 ** Math.min(this._fallbackTries, 4)) * (0.5 + Math.random() / 2);
    const fallback = this.fallback;
    setTimeout(() => { if (this.fallback === fallback && this.broadcaster) restart(); }, delay);
  }

  /** A rung's own <video> (muted, hidden until its first frame), laid over WebRTC's. */
  _overlayVideo(id) {
    const el = document.createElement('video');
    el.id = id;
    el.playsInline = true;
    el.muted = true;
    el.hidden = true;
    el.setAttribute('aria-label', 'Live video');
    this.video.after(el);
    return this._overlay(el);
  }

  _overlay(element) {
    // On top of the WebRTC <video>, which stays rendered underneath so that its first frame
    // can be noticed (requestVideoFrameCallback) and shown without a gap.
    element.style.position = 'absolute';
    element.style.inset = '0';
    return element;
  }

  // -- rung: Low-Latency HLS (hls-player.js) ---------------------------------------------

  _startHls() {
    this.hlsVideo = this.hlsVideo || this._overlayVideo('hls-video');
    return startHlsRung(this, this.hlsVideo);
  }

  // -- rung: fMP4 over the WebSocket into Media Source -------------------------------------

  _mseElement() {
    this.mseVideo = this.mseVideo || this._overlayVideo('mse-video');
    return this.mseVideo;
  }

  _startMse() {
    const MS = mediaSourceClass();
    const managed = MS === window.ManagedMediaSource;
    const video = this._mseElement();
    const ms = new MS();
    if (managed) video.disableRemotePlayback = true; // Managed Media Source requires it without AirPlay
    const url = URL.createObjectURL(ms);
    video.src = url;
    video.muted = true;
    const audioChoice = mseAudioChoice(MS);
    this.stats.mseAudio = audioChoice;
    let sb = null;
    let mime = null;
    let streaming = true;
    let waitKey = false;
    let started = false;
    let clear = false;
    let ws = null;
    const pending = [];
    const isKey = (buf) => buf.byteLength > 8 && new Uint8Array(buf, 4, 4).every((b, i) => b === 'ftyp'.charCodeAt(i));
    const liveEdge = () => {
      const b = video.buffered;
      if (!b.length) return;
      const start = b.start(b.length - 1);
      const end = b.end(b.length - 1);
      if (!started) {
        started = true;
        video.currentTime = start;
        video.play().catch(() => {});
      } else if (video.currentTime < start || end - video.currentTime > LIVE_MAX_BEHIND_S) {
        // Behind (a slow tab, a resync gap): to the live edge, as the WebCodecs path drops to a keyframe.
        video.currentTime = Math.max(start, end - LIVE_TARGET_S);
      }
      if (!sb.updating && video.currentTime - b.start(0) > KEEP_BEHIND_S * 1.5) {
        sb.remove(0, video.currentTime - KEEP_BEHIND_S);
      }
    };
    // Too much waiting: keep the newest keyframe and what follows it (it decodes on its own,
    // so the picture starts now, not at the next keyframe). Without a later keyframe to start
    // at, what is queued still decodes in order — up to MAX_PENDING_HARD, then all of it is
    // dropped and the next keyframe awaited.
    const trim = () => {
      if (pending.length <= MAX_PENDING) return;
      let key = pending.length - 1;
      while (key > 0 && !isKey(pending[key])) key -= 1;
      if (key > 0) {
        this.stats.dropped += key;
        pending.splice(0, key);
      } else if (pending.length > MAX_PENDING_HARD) {
        this.stats.dropped += pending.length;
        pending.length = 0;
        waitKey = true;
      }
    };
    const pump = () => {
      if (!sb || sb.updating || !pending.length || ms.readyState !== 'open') return;
      const data = pending.shift();
      if (waitKey || !streaming) {
        if (!streaming || !isKey(data)) { this.stats.dropped += 1; pump(); return; }
        waitKey = false;
      }
      try {
        sb.appendBuffer(data);
        this.stats.appended += 1;
      } catch (err) {
        // QuotaExceeded: forget what was played, start again at a keyframe.
        waitKey = true;
        if (video.buffered.length && video.currentTime > 1) sb.remove(0, video.currentTime - 1);
      }
    };
    const open = () => {
      if (sb || !mime || ms.readyState !== 'open') return;
      try {
        sb = ms.addSourceBuffer(mime);
      } catch (err) {
        this._fallbackFailed('Media Source refused ' + mime, 'browser');
        return;
      }
      sb.mode = 'segments';
      sb.addEventListener('updateend', () => {
        if (clear) { clear = false; sb.remove(0, Infinity); return; }
        liveEdge();
        pump();
      });
      sb.addEventListener('error', () => { waitKey = true; });
      pump();
    };
    ms.addEventListener('sourceopen', open);
    if (managed) {
      ms.addEventListener('startstreaming', () => { streaming = true; waitKey = true; });
      ms.addEventListener('endstreaming', () => { streaming = false; });
    }
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      this._fallbackFrame(video);
      video.requestVideoFrameCallback(tick);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(tick);
    else video.addEventListener('timeupdate', () => { if (!stopped) this._fallbackFrame(video); });
    const connect = () => {
      ws = new WebSocket(mediaUrl('?f=fmp4&audio=' + audioChoice));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      waitKey = true;
      pending.length = 0;
      ws.onmessage = (ev) => {
        if (typeof ev.data === 'string') {
          const init = JSON.parse(ev.data);
          if (init.type !== 'media_init' || init.format !== 'fmp4') return;
          if (!MS.isTypeSupported(init.mime)) { this._fallbackFailed('Media Source cannot play ' + init.mime, 'browser'); return; }
          mime = init.mime;
          if (sb) {
            // A new connection (the studio may have restarted, its timeline with it):
            // forget what is buffered and start again at the coming keyframe.
            started = false;
            if (sb.updating) clear = true;
            else sb.remove(0, Infinity);
          }
          open();
          return;
        }
        this._fallbackTries = 0;
        this.stats.received += 1;
        pending.push(ev.data);
        trim();
        pump();
      };
      ws.onclose = (ev) => { if (!stopped && this.ws === ws) this._fallbackClosed(ev, connect); };
    };
    connect();
    return () => {
      stopped = true;
      if (this.ws === ws) this.ws = null;
      if (ws) ws.close();
      video.hidden = true;
      video.pause();
      video.removeAttribute('src');
      video.load();
      URL.revokeObjectURL(url);
    };
  }

  // -- rung: the packets into WebCodecs ----------------------------------------------------

  _startWebCodecs() {
    const canvas = this._overlay(this.canvas);
    let stopped = false;
    let ws = null;
    const connect = () => {
      ws = new WebSocket(mediaUrl(''));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onmessage = (ev) => {
        if (stopped) return;
        if (typeof ev.data === 'string') this._onInit(JSON.parse(ev.data), canvas);
        else this._onChunk(ev.data);
      };
      ws.onclose = (ev) => { if (!stopped && this.ws === ws) this._fallbackClosed(ev, connect); };
    };
    connect();
    return () => {
      stopped = true;
      if (this.ws === ws) this.ws = null;
      if (ws) ws.close();
      canvas.hidden = true;
      if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
      if (this.audio && this.audio.state !== 'closed') this.audio.close();
      this.decoder = this.audio = null;
    };
  }

  _onInit(init, canvas) {
    if (init.type !== 'media_init') return;
    canvas.width = init.video.width;
    canvas.height = init.video.height;
    const ctx = canvas.getContext('2d');
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = new VideoDecoder({
      output: (frame) => {
        ctx.drawImage(frame, 0, 0, canvas.width, canvas.height);
        frame.close();
        this._fallbackFrame(canvas);
      },
      error: () => {},
    });
    // No description: the bitstream is Annex B, with SPS/PPS in every keyframe.
    this.decoder.configure({ codec: init.video.codec, optimizeForLatency: true });
    this._waitKey = true;
    if ('AudioDecoder' in window && init.audio) {
      this.audio = new AudioDecoder({ output: (data) => this._playAudio(data), error: () => {} });
      this.audio.configure({ codec: 'opus', sampleRate: init.audio.sampleRate, numberOfChannels: init.audio.numberOfChannels });
    }
  }

  _onChunk(buf) {
    const view = new DataView(buf);
    const kind = view.getUint8(0);
    const timestamp = Number(view.getBigUint64(1));
    const data = new Uint8Array(buf, 9);
    if (kind === 3) {
      if (this.audio && this.audio.state === 'configured' && !this.muted) {
        this.audio.decode(new EncodedAudioChunk({ type: 'key', timestamp, data }));
      }
      return;
    }
    if (!this.decoder || this.decoder.state !== 'configured') return;
    // Behind: drop everything up to the next keyframe (a delta after a gap cannot decode).
    if (this.decoder.decodeQueueSize > 30) this._waitKey = true;
    if (this._waitKey) {
      if (kind !== 1) return;
      this._waitKey = false;
    }
    this._fallbackTries = 0;
    this.decoder.decode(new EncodedVideoChunk({ type: kind === 1 ? 'key' : 'delta', timestamp, data }));
  }

  _playAudio(data) {
    const ctx = this.audioCtx;
    if (!ctx || this.muted || this.transport !== 'webcodecs') { data.close(); return; }
    const buffer = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
    for (let ch = 0; ch < data.numberOfChannels; ch++) {
      const plane = new Float32Array(data.numberOfFrames);
      data.copyTo(plane, { planeIndex: ch, format: 'f32-planar' });
      buffer.copyToChannel(plane, ch);
    }
    data.close();
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    const now = ctx.currentTime;
    // Keep audio just ahead of now: late chunks are played at once, early ones queued.
    if (!this._audioAt || this._audioAt < now || this._audioAt > now + 0.5) this._audioAt = now + 0.05;
    source.start(this._audioAt);
    this._audioAt += buffer.duration;
  }

  /** Turn sound on (call from a click or tap): for whichever way is playing, and later ones. */
  unmute() {
    this.muted = false;
    if (this.transport === 'webrtc' || !this.fallback) {
      this.video.muted = false;
      this.video.play().catch(() => {});
    }
    // A rung playing on a <video> of its own (Media Source, LL-HLS): that one too.
    const shown = this.fallback && this.transport !== 'webrtc' ? this.fallback.shown : null;
    if (shown instanceof HTMLVideoElement) {
      shown.muted = false;
      shown.play().catch(() => {});
    }
    if ('AudioContext' in window) {
      this.audioCtx = this.audioCtx || new AudioContext({ sampleRate: 48000 });
      this.audioCtx.resume();
    }
  }

  stop() {
    clearTimeout(this._timer);
    this._closePc();
    this._stopFallback();
    this.video.srcObject = null;
    this.transport = this.stats.transport = 'none';
    this.broadcaster = null;
    this._webrtcDead = null;
    this._clearLadderRetry();
    this._ladderExhausted = false;
    this._ladderRetries = 0;
  }

  /** The hub connection dropped: the broadcaster will offer again after re-registering. */
  hubLost() {
    clearTimeout(this._timer);
  }
}
