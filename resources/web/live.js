// The customer's live page: one WebSocket to the hub (reconnecting with backoff and
// jitter), the live video (player.js), chat, likes, pinned products and a private
// support chat. Everything a person typed is rendered with textContent, never as HTML.

import { LivePlayer } from './player.js';

const $ = (id) => document.getElementById(id);
const store = (() => {
  try { const s = window.localStorage; s.setItem('wrencos.test', '1'); return s; } catch { return new Map(); }
})();
const load = (k) => (store.getItem ? store.getItem(k) : store.get(k)) || '';
const save = (k, v) => (store.setItem ? store.setItem(k, v) : store.set(k, v));

let sessionId = load('wrencos.sessionId');
if (!sessionId) {
  sessionId = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  save('wrencos.sessionId', sessionId);
}

const state = {
  ws: null,
  attempt: 0,
  publicId: null,
  live: false,
  likes: 0,
  seenChat: new Set(),
  seenHelp: new Set(),
  shopUrlPattern: '',
  pinned: [],
  lastAction: 'chat', // where an `error` reply belongs
  helpUnread: 0,
};

const send = (msg) => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(msg));
    return true;
  }
  return false;
};

// -- connection -----------------------------------------------------------------------

const VIDEO_STATES = { connecting: 'Connecting video…', live: '', offline: '', unsupported: 'This browser cannot play the stream' };
const player = new LivePlayer({
  video: $('video'),
  canvas: $('canvas'),
  send,
  onState: (s) => { $('video-state').textContent = VIDEO_STATES[s] ?? ''; },
});

function setStatus(text, live = false) {
  $('status').textContent = text;
  $('status').classList.toggle('live', live);
}

function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/`);
  state.ws = ws;
  setStatus(state.attempt ? 'Reconnecting…' : 'Connecting…');
  ws.onopen = () => {
    state.attempt = 0;
    ws.send(JSON.stringify({ type: 'register', sessionId }));
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    player.hubLost();
    state.attempt += 1;
    setStatus('Reconnecting…');
    // Exponential backoff with full jitter: a server restart must not be a stampede.
    const cap = Math.min(15000, 500 * 2 ** Math.min(state.attempt, 5));
    setTimeout(connect, cap / 2 + Math.random() * cap / 2);
  };
}

// Keep the connection alive through proxies and tunnels that close idle sockets.
setInterval(() => send({ type: 'ping' }), 25000);

// -- the stream -----------------------------------------------------------------------

function showLive(data) {
  state.live = true;
  $('offline').hidden = true;
  $('info').hidden = false;
  $('title').textContent = data.title || 'Live now';
  $('description').textContent = data.description || '';
  figures(data);
  setStatus('LIVE', true);
}

function showOffline(info) {
  state.live = false;
  $('info').hidden = true;
  if (!player.broadcaster) $('screen').hidden = true;
  $('offline').hidden = !$('screen').hidden;
  setStatus('Offline');
  if (!info) return;
  if (info.nextStream && info.nextStream.title) {
    $('offline-title').textContent = `Next: ${info.nextStream.title}`;
    $('offline-detail').textContent = info.nextStream.startsAt
      ? `Starts ${new Date(info.nextStream.startsAt).toLocaleString()}. This page updates by itself.`
      : 'This page updates by itself when the shop goes live.';
  } else if (info.lastStream && info.lastStream.title) {
    $('offline-title').textContent = 'No stream right now';
    $('offline-detail').textContent = `Last live: ${info.lastStream.title}. This page updates by itself when the shop goes live.`;
  }
}

function figures(data) {
  if (typeof data.viewerCount === 'number') $('viewers').textContent = data.viewerCount;
  if (typeof data.likes === 'number') {
    if (data.likes > state.likes) floatHeart();
    state.likes = data.likes;
    $('likes').textContent = data.likes;
  }
  if (Array.isArray(data.likedBy)) {
    $('like').setAttribute('aria-pressed', String(data.likedBy.includes(state.publicId)));
  }
}

function floatHeart() {
  const heart = document.createElement('span');
  heart.textContent = '♥';
  heart.style.setProperty('--drift', `${Math.round(Math.random() * 60 - 30)}px`);
  $('hearts').append(heart);
  setTimeout(() => heart.remove(), 1700);
}

// -- chat -----------------------------------------------------------------------------

function addChat(m) {
  if (m.id) {
    if (state.seenChat.has(m.id)) return;
    state.seenChat.add(m.id);
  }
  const li = document.createElement('li');
  if (m.id) li.dataset.id = m.id;
  if (m.isAdmin) {
    li.className = 'staff';
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = 'SHOP';
    li.append(tag, ' ');
  }
  const who = document.createElement('b');
  who.textContent = `${m.username}: `;
  li.append(who, document.createTextNode(m.message));
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  while (list.children.length > 300) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function showName() {
  const name = load('wrencos.name');
  $('name-row').hidden = Boolean(name);
  $('name-shown').hidden = !name;
  $('name-value').textContent = name;
  if (!name) $('name').value = '';
}

$('name-change').addEventListener('click', () => {
  save('wrencos.name', '');
  showName();
  $('name').focus();
});

$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  let name = load('wrencos.name');
  if (!name) {
    name = $('name').value.trim();
    if (!name) { $('chat-error').textContent = 'Please tell us your name first.'; $('name').focus(); return; }
    save('wrencos.name', name);
    showName();
  }
  $('chat-error').textContent = '';
  state.lastAction = 'chat';
  if (send({ type: 'chat_message', username: name, message: text })) $('text').value = '';
  else $('chat-error').textContent = 'Not connected — reconnecting…';
});

// -- likes ----------------------------------------------------------------------------

$('like').addEventListener('click', () => {
  state.lastAction = 'chat';
  send({ type: 'toggle_like' });
});

// -- pinned products ------------------------------------------------------------------

function safeUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

function productLink(p) {
  if (p.url) return safeUrl(p.url);
  if (state.shopUrlPattern) return safeUrl(state.shopUrlPattern.replace('{productId}', encodeURIComponent(String(p.productId))));
  return null;
}

function showPinned(items) {
  state.pinned = items;
  const list = [...items].sort((a, b) => (a.displayOrder ?? 0) - (b.displayOrder ?? 0));
  const ul = $('pinned');
  ul.replaceChildren();
  for (const p of list) {
    const li = document.createElement('li');
    const href = productLink(p);
    const card = document.createElement(href ? 'a' : 'div');
    card.className = 'card';
    if (href) { card.href = href; card.target = '_blank'; card.rel = 'noopener'; }
    const img = safeUrl(p.image);
    if (img) {
      const el = document.createElement('img');
      el.src = img;
      el.alt = '';
      el.loading = 'lazy';
      card.append(el);
    }
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = p.name || '';
    const price = document.createElement('span');
    price.className = 'price';
    if (typeof p.price === 'number') {
      price.textContent = p.currency
        ? new Intl.NumberFormat(undefined, { style: 'currency', currency: p.currency }).format(p.price)
        : p.price.toFixed(2);
    }
    card.append(name, price);
    li.append(card);
    ul.append(li);
  }
}

// -- support chat ---------------------------------------------------------------------

function addHelp(m) {
  if (m.id) {
    if (state.seenHelp.has(m.id)) return false;
    state.seenHelp.add(m.id);
  }
  const li = document.createElement('li');
  li.className = m.from === 'staff' ? 'staff' : 'customer';
  li.append(document.createTextNode(m.message));
  if (m.timestamp) {
    const t = document.createElement('time');
    t.dateTime = m.timestamp;
    t.textContent = new Date(m.timestamp).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(t);
  }
  $('help-messages').append(li);
  $('help-messages').scrollTop = $('help-messages').scrollHeight;
  return true;
}

function showThread(messages) {
  $('help-messages').replaceChildren();
  state.seenHelp.clear();
  messages.forEach(addHelp);
}

function setHelpOpen(open) {
  $('help').hidden = !open;
  $('help-button').setAttribute('aria-expanded', String(open));
  if (open) {
    state.helpUnread = 0;
    $('help-badge').hidden = true;
    $('help-text').focus();
  }
}

$('help-button').addEventListener('click', () => setHelpOpen($('help').hidden));
$('help-close').addEventListener('click', () => { setHelpOpen(false); $('help-button').focus(); });
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('help').hidden) setHelpOpen(false); });

$('help-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('help-text').value.trim();
  if (!text) return;
  $('help-error').textContent = '';
  state.lastAction = 'help';
  const customerName = load('wrencos.name') || undefined;
  if (send({ type: 'customer_message', message: text, customerName })) {
    $('help-text').value = '';
    // The thread comes back with ids: the message shows once, as the shop stored it.
    send({ type: 'get_my_conversation' });
  } else {
    $('help-error').textContent = 'Not connected — reconnecting…';
  }
});

// -- messages from the hub ------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case 'registered':
      state.publicId = msg.publicId;
      setStatus('Connected');
      player.register();
      send({ type: 'get_stream_info' });
      send({ type: 'get_my_conversation' });
      break;
    case 'stream_info':
      if ((msg.shopUrlPattern || '') !== state.shopUrlPattern) {
        state.shopUrlPattern = msg.shopUrlPattern || '';
        showPinned(state.pinned); // the links depend on it
      }
      if (!msg.live) showOffline(msg);
      break;
    case 'stream_started': showLive(msg.streamData); break;
    case 'stream_update': figures(msg); break;
    case 'stream_stopped':
      showOffline(null);
      $('offline-title').textContent = 'The stream has ended. Thanks for watching!';
      $('offline-detail').textContent = 'This page updates by itself when the shop goes live again.';
      showPinned([]);
      break;
    case 'chat_history': msg.messages.forEach(addChat); break; // merged by id: no doubles
    case 'chat_message': addChat(msg); break;
    case 'chat_message_deleted':
      for (const li of $('messages').querySelectorAll('li')) if (li.dataset.id === msg.id) li.remove();
      break;
    case 'chat_settings':
      $('slow-mode').hidden = !msg.slowModeSeconds;
      $('slow-mode').textContent = msg.slowModeSeconds ? `Slow mode: one message every ${msg.slowModeSeconds} s` : '';
      break;
    case 'pinned_products_updated': showPinned(msg.pinnedProducts || []); break;
    case 'my_conversation': showThread(msg.messages || []); break;
    case 'staff_reply':
      if (addHelp({ from: 'staff', message: msg.message, timestamp: msg.timestamp, id: msg.id }) && $('help').hidden) {
        state.helpUnread += 1;
        $('help-badge').textContent = state.helpUnread;
        $('help-badge').hidden = false;
      }
      break;
    case 'error': {
      const target = state.lastAction === 'help' ? 'help-error' : 'chat-error';
      $(target).textContent = msg.retryAfterSeconds
        ? `${msg.message} — wait ${Math.ceil(msg.retryAfterSeconds)} s`
        : msg.message;
      break;
    }
    case 'webrtc_broadcaster_available':
      $('screen').hidden = false;
      $('offline').hidden = true;
      player.handle(msg);
      break;
    case 'webrtc_broadcast_stopped':
      player.handle(msg);
      $('screen').hidden = true;
      if (!state.live) $('offline').hidden = false;
      break;
    default:
      if (msg.type && msg.type.startsWith('webrtc_')) player.handle(msg);
      break;
  }
}

// -- video controls -------------------------------------------------------------------

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

showName();
connect();
