// The live video: WebRTC from the studio's broadcaster (signalled over the hub's WebSocket),
// and, when WebRTC cannot connect within a few seconds (an HTTP tunnel carries WebSockets
// but not UDP), the same encoded stream over a WebSocket at /media, decoded with WebCodecs.
// Starts muted (autoplay rules); unmute() needs a user gesture.

import { ExternalPlayback } from './external.js';
import { startHlsRung, stopHlsRung } from './hls-player.js'; // the LL-HLS rung (its own file)

const WEBRTC_TIMEOUT_MS = 4000;

export class LivePlayer {
  /**
   * @param {{video: HTMLVideoElement, canvas: HTMLCanvasElement, send: (msg: object) => void,
   *          onState: (state: string) => void}} opts
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
    this.transport = 'none';
    this.stats = { frames: 0, transport: 'none', fallbackReason: null };
    this._timer = null;
    this._forceFallback = new URLSearchParams(location.search).has('fallback');
    window.wrencosPlayer = this; // for tests and the curious
    this.external = new ExternalPlayback(this); // a configured WHEP/HLS URL first (external.js)
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
        if (this._forceFallback) { this._startFallback('asked for'); break; }
        if (this.transport === 'none') this._armTimeout();
        break;
      case 'webrtc_offer':
        if (!this._forceFallback && this.transport !== 'fallback') this._onOffer(msg);
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

  _armTimeout() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => {
      if (this.stats.frames === 0) this._startFallback('WebRTC did not connect');
    }, WEBRTC_TIMEOUT_MS);
  }

  async _onOffer(msg) {
    this._closePc();
    this.broadcaster = msg.from;
    this.onState('connecting');
    this._armTimeout();
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.ontrack = (ev) => {
      if (!this.video.srcObject) this.video.srcObject = new MediaStream();
      this.video.srcObject.addTrack(ev.track);
      this.video.muted = this.muted;
      this.video.play().catch(() => {});
    };
    pc.onicecandidate = (ev) => {
      if (ev.candidate) {
        this.send({ type: 'webrtc_ice_candidate', to: this.broadcaster, candidate: ev.candidate.toJSON() });
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'failed') this._startFallback('WebRTC failed');
    };
    try {
      await pc.setRemoteDescription(msg.offer);
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.send({ type: 'webrtc_answer', to: this.broadcaster, answer: { type: 'answer', sdp: pc.localDescription.sdp } });
    } catch (err) {
      this._startFallback('WebRTC offer refused: ' + err);
      return;
    }
    this._countVideoFrames(pc);
  }

  _countVideoFrames(pc) {
    const video = this.video;
    const tick = () => {
      if (pc !== this.pc) return;
      this.stats.frames += 1;
      if (this.transport !== 'webrtc') {
        this.transport = this.stats.transport = 'webrtc';
        clearTimeout(this._timer);
        this._show('video');
        this.onState('live');
      }
      video.requestVideoFrameCallback(tick);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(tick);
  }

  _show(which) {
    this.video.hidden = which !== 'video';
    this.canvas.hidden = which !== 'canvas';
  }

  _closePc() {
    if (this.pc) {
      this.pc.close();
      this.pc = null;
    }
  }

  // -- the WebSocket fallback -------------------------------------------------------------

  _startFallback(reason) {
    if (this.transport === 'fallback' || this.ws) return;
    if (!('VideoDecoder' in window)) {
      if (startHlsRung(this, reason)) return; // LL-HLS rung: hls-player.js
      this.onState('unsupported');
      return;
    }
    this._closePc();
    clearTimeout(this._timer);
    this.stats.fallbackReason = reason;
    this.transport = this.stats.transport = 'fallback';
    this.onState('connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/media`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') this._onInit(JSON.parse(ev.data));
      else this._onChunk(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.transport = 'none';
      // 1008: this server is not broadcasting (or not live): wait for the hub to announce.
      if (ev.code === 1008) { this.onState('offline'); return; }
      this._fallbackTries = (this._fallbackTries || 0) + 1;
      const delay = Math.min(15000, 1000 * 2 ** Math.min(this._fallbackTries, 4)) * (0.5 + Math.random() / 2);
      if (this.broadcaster) setTimeout(() => this._startFallback('reconnect'), delay);
    };
  }

  _onInit(init) {
    if (init.type !== 'media_init') return;
    const canvas = this.canvas;
    canvas.width = init.video.width;
    canvas.height = init.video.height;
    const ctx = canvas.getContext('2d');
    this.decoder = new VideoDecoder({
      output: (frame) => {
        ctx.drawImage(frame, 0, 0, canvas.width, canvas.height);
        frame.close();
        this.stats.frames += 1;
        if (this.stats.frames === 1) {
          this._show('canvas');
          this.onState('live');
        }
      },
      error: () => {},
    });
    // No description: the bitstream is Annex B, with SPS/PPS in every keyframe.
    this.decoder.configure({ codec: init.video.codec, optimizeForLatency: true });
    if ('AudioDecoder' in window) {
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
    if (!ctx || this.muted) { data.close(); return; }
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

  /** Turn sound on (call from a click or tap). */
  unmute() {
    this.muted = false;
    this.video.muted = false;
    this.video.play().catch(() => {});
    if (this.transport === 'fallback') {
      this.audioCtx = this.audioCtx || new AudioContext({ sampleRate: 48000 });
      this.audioCtx.resume();
    }
  }

  stop() {
    stopHlsRung(this); // LL-HLS rung: hls-player.js
    clearTimeout(this._timer);
    this._closePc();
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    if (this.audio && this.audio.state !== 'closed') this.audio.close();
    this.decoder = this.audio = null;
    this.video.srcObject = null;
    this.transport = this.stats.transport = 'none';
    this.broadcaster = null;
  }

  /** The hub connection dropped: the broadcaster will offer again after re-registering. */
  hubLost() {
    clearTimeout(this._timer);
  }
}
