// The customer's live page: joins the hub over WebSocket, shows the stream's state,
// chat and pinned products, and lets the customer like and chat. Text is always
// rendered with textContent, never as HTML.
import { LivePlayer } from './player.js';

const $ = (id) => document.getElementById(id);
const store = window.localStorage;
let sessionId = store.getItem('wrencos.sessionId');
if (!sessionId) {
  sessionId = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now();
  store.setItem('wrencos.sessionId', sessionId);
}
$('name').value = store.getItem('wrencos.name') || '';

let ws = null;
const send = (msg) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
const VIDEO_STATES = { connecting: 'Connecting video…', live: '', offline: '', unsupported: 'This browser cannot play the stream' };
const player = new LivePlayer({
  video: $('video'),
  canvas: $('canvas'),
  send,
  onState: (state) => { $('video-state').textContent = VIDEO_STATES[state] ?? ''; },
});
let publicId = null;
let attempt = 0;
const seen = new Set();

function setStatus(text) { $('status').textContent = text; }

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(`${proto}//${location.host}/`);
  setStatus(attempt ? 'Reconnecting…' : 'Connecting…');
  ws.onopen = () => { attempt = 0; ws.send(JSON.stringify({ type: 'register', sessionId })); };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = () => {
    player.hubLost();
    attempt += 1;
    setStatus('Reconnecting…');
    const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random());
    setTimeout(connect, delay);
  };
}

function showStream(data) {
  $('offline').hidden = true;
  $('screen').hidden = false;
  $('live').hidden = false;
  $('title').textContent = data.title || 'Live now';
  $('description').textContent = data.description || '';
  figures(data);
  setStatus('LIVE');
}

function figures(data) {
  if (typeof data.viewerCount === 'number') $('viewers').textContent = data.viewerCount;
  if (typeof data.likes === 'number') $('likes').textContent = data.likes;
  if (Array.isArray(data.likedBy)) $('like').setAttribute('aria-pressed', String(data.likedBy.includes(publicId)));
}

function addChat(m) {
  if (m.id && seen.has(m.id)) return;
  if (m.id) seen.add(m.id);
  const li = document.createElement('li');
  if (m.isAdmin) li.className = 'admin';
  const who = document.createElement('b');
  who.textContent = m.username + ': ';
  li.append(who, document.createTextNode(m.message));
  const list = $('messages');
  list.append(li);
  list.scrollTop = list.scrollHeight;
}

function showPinned(items) {
  const ul = $('pinned');
  ul.replaceChildren();
  for (const p of items) {
    const li = document.createElement('li');
    const name = document.createElement('b');
    name.textContent = p.name || '';
    const price = document.createElement('div');
    price.textContent = typeof p.price === 'number' ? p.price.toFixed(2) : '';
    li.append(name, price);
    ul.append(li);
  }
}

function handle(msg) {
  switch (msg.type) {
    case 'registered': publicId = msg.publicId; setStatus('Connected'); player.register(); break;
    case 'stream_started': showStream(msg.streamData); break;
    case 'stream_update': figures(msg); break;
    case 'stream_stopped':
      $('live').hidden = true; $('offline').hidden = false; $('screen').hidden = true;
      $('offline-title').textContent = 'The stream has ended. Thanks for watching!';
      showPinned([]); setStatus('Offline'); break;
    case 'chat_history': $('messages').replaceChildren(); seen.clear(); msg.messages.forEach(addChat); break;
    case 'chat_message': addChat(msg); break;
    case 'pinned_products_updated': showPinned(msg.pinnedProducts || []); break;
    case 'error': $('chat-error').textContent = msg.message; break;
    case 'webrtc_broadcaster_available':
      $('screen').hidden = false;
      $('offline').hidden = true;
      player.handle(msg);
      break;
    case 'webrtc_broadcast_stopped':
      player.handle(msg);
      $('screen').hidden = true;
      if ($('live').hidden) $('offline').hidden = false;
      break;
    default:
      if (msg.type && msg.type.startsWith('webrtc_')) player.handle(msg);
      break;
  }
}

$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value.trim();
  if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
  const username = $('name').value.trim() || 'Guest';
  store.setItem('wrencos.name', username);
  $('chat-error').textContent = '';
  ws.send(JSON.stringify({ type: 'chat_message', username, message: text }));
  $('text').value = '';
});

$('like').addEventListener('click', () => {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'toggle_like' }));
});

$('unmute').addEventListener('click', () => {
  player.unmute();
  $('unmute').hidden = true;
});
$('fullscreen').addEventListener('click', () => {
  const el = $('screen');
  if (document.fullscreenElement) document.exitFullscreen();
  else if (el.requestFullscreen) el.requestFullscreen();
  else if ($('video').webkitEnterFullscreen) $('video').webkitEnterFullscreen();
});

connect();
