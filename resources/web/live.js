// The customer's live page: one WebSocket to the hub (reconnecting with backoff and
// jitter), the live video (player.js), chat, likes, pinned products and a private
// support chat. Everything a person typed is rendered with textContent, never as HTML,
// and in its own bidi isolate (<bdi> or dir="auto"), so a direction character in a name
// cannot pull the message or a price next to it around.
//
// What the page shows of the stream is the server's: `stream_stopped` clears chat and
// product cards, and on every (re)connection the `chat_history` and pins the server sends
// replace what is shown, so a line deleted while the page was away is gone after it returns.

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
  streamId: null,
  likes: 0,
  chatIds: new Set(), // ids of the chat lines shown
  sinceRegister: null, // lines that arrived after `registered` and before `chat_history`
  seenHelp: new Set(),
  shopUrlPattern: '',
  pinned: [],
  products: new Map(), // productId → the pin last seen for it (names for support chips)
  registered: false,
  newestPin: null, // productId of the pin added last
  askProduct: null, // the product attached to the next support message
  // Every ping sent, oldest first, awaiting its pong: `null` for a keepalive, or the user
  // action (a chat line, a like, a support message) sent just before it. The hub answers
  // one connection's messages in order, so an `error` that arrives before an action's pong
  // is that action's; its pong with no error means the hub took it.
  awaitingPong: [],
  helpUnread: 0,
  typingSentAt: 0, // when this tab last sent `typing` (ms since the epoch)
  shopTypingTimer: null, // hides "Shop is typing…" when its time is up
  seenReported: null, // the newest staff reply id this tab reported as seen
};

const send = (msg) => {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(JSON.stringify(msg));
    return true;
  }
  return false;
};

function ping(action = null) {
  if (send({ type: 'ping' })) state.awaitingPong.push(action);
}

/**
 * Send a user action and learn whether the hub took it: `onDone` runs when it did, the
 * action's `errorTarget` shows the hub's `error` when it did not. False when not connected.
 */
function act(msg, errorTarget, onDone = () => {}) {
  if (!send(msg)) return false;
  ping({ errorTarget, onDone, refused: false });
  return true;
}

/** Empty an input box once what it held was sent, unless the customer typed on meanwhile. */
function clearIfUnchanged(input, sent) {
  if (input.value.trim() === sent) input.value = '';
}

// -- connection -----------------------------------------------------------------------

const VIDEO_STATES = {
  connecting: 'Connecting video…',
  retrying: 'Reconnecting video…', // a rung was lost to the network: tried again after a backoff
  live: '',
  offline: '',
  unsupported: 'This browser cannot play the stream',
};
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
    state.awaitingPong = [];
    ws.send(JSON.stringify({ type: 'register', sessionId }));
  };
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.registered = false;
    player.hubLost();
    // Whether the hub took what was in flight is unknown: the text stays in its box.
    state.awaitingPong = [];
    state.attempt += 1;
    setStatus('Reconnecting…');
    // Exponential backoff with full jitter: a server restart must not be a stampede.
    const cap = Math.min(15000, 500 * 2 ** Math.min(state.attempt, 5));
    setTimeout(connect, cap / 2 + Math.random() * cap / 2);
  };
}

// Keep the connection alive through proxies and tunnels that close idle sockets.
setInterval(() => ping(), 25000);

// -- the stream -----------------------------------------------------------------------

function showLive(data) {
  // Another stream than the one shown (its end was missed): its chat and pins are over.
  if (state.streamId && data.streamId && data.streamId !== state.streamId) clearStream();
  state.streamId = data.streamId || null;
  state.live = true;
  $('offline').hidden = true;
  $('info').hidden = false;
  $('title').textContent = data.title || 'Live now';
  $('description').textContent = data.description || '';
  figures(data);
  setStatus('LIVE', true);
  showLatestReplay();
}

function showOffline(info) {
  state.live = false;
  $('info').hidden = true;
  if (!player.broadcaster) $('screen').hidden = true;
  $('offline').hidden = !$('screen').hidden;
  setStatus('Offline');
  if (!info) return;
  if (info.nextStream && info.nextStream.title) {
    $('offline-title').replaceChildren('Next: ', isolated(String(info.nextStream.title)));
    $('offline-detail').textContent = info.nextStream.startsAt
      ? `Starts ${new Date(info.nextStream.startsAt).toLocaleString()}. This page updates by itself.`
      : 'This page updates by itself when the shop goes live.';
  } else if (info.lastStream && info.lastStream.title) {
    $('offline-title').textContent = 'No stream right now';
    $('offline-detail').replaceChildren('Last live: ', isolated(String(info.lastStream.title)), '. This page updates by itself when the shop goes live.');
  }
  showLatestReplay();
}

/** Issue 14: while nothing is live, a link to the latest show's replay (if there is one). */
async function showLatestReplay() {
  let link = document.getElementById('replay-link');
  if (link) link.hidden = true;
  if (state.live) return;
  try {
    const resp = await fetch('/replay/latest.json', { cache: 'no-cache' });
    if (!resp.ok || state.live) return;
    const latest = await resp.json();
    if (!latest.replayId) return;
    if (!link) {
      link = document.createElement('a');
      link.id = 'replay-link';
      link.className = 'replay-link';
      $('offline').append(link);
    }
    link.href = `/replay/${encodeURIComponent(String(latest.replayId))}`;
    link.textContent = `Watch the replay: ${String(latest.title)}`;
    link.hidden = false;
  } catch { /* no replay to offer */ }
}

/** Issue 14: `/?ask=<productId>&name=<name>` (from a replay's "Ask about this product")
 * opens the Help chat with that product attached, once registered. */
function askFromAddress() {
  const params = new URLSearchParams(location.search);
  const id = params.get('ask');
  if (!id) return;
  history.replaceState(null, '', location.pathname);
  if (!state.products.has(id)) state.products.set(id, { productId: id, name: params.get('name') || '' });
  askAbout(state.products.get(id));
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

/** Text in an isolate of its own: its direction is its own and stays inside. */
function isolated(text, tag = 'bdi') {
  const el = document.createElement(tag);
  if (tag !== 'bdi') el.dir = 'auto';
  el.textContent = text;
  return el;
}

function chatLine(m) {
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
  who.className = 'who';
  who.append(isolated(String(m.username ?? '')), ': ');
  const text = isolated(String(m.message ?? ''), 'span');
  text.className = 'text';
  li.append(who, text);
  return li;
}

function addChat(m) {
  if (m.id) {
    if (state.chatIds.has(m.id)) return; // no doubles
    state.chatIds.add(m.id);
  }
  if (state.sinceRegister) state.sinceRegister.push(m);
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(chatLine(m));
  while (list.children.length > 300) {
    state.chatIds.delete(list.firstElementChild.dataset.id);
    list.firstElementChild.remove();
  }
  if (atBottom) list.scrollTop = list.scrollHeight;
}

/** Show exactly these lines (the server's history), and nothing else. */
function replaceChat(lines) {
  // A line broadcast after we registered but sent before the history is kept (no loss);
  // one deleted since is no longer in `sinceRegister` either.
  const late = (state.sinceRegister || []).filter((m) => !lines.some((h) => h.id === m.id));
  state.sinceRegister = null;
  $('messages').replaceChildren();
  state.chatIds.clear();
  for (const m of [...lines, ...late]) addChat(m);
  const list = $('messages');
  list.scrollTop = list.scrollHeight;
}

function removeChat(id) {
  for (const li of $('messages').querySelectorAll('li')) if (li.dataset.id === id) li.remove();
  state.chatIds.delete(id);
  if (state.sinceRegister) state.sinceRegister = state.sinceRegister.filter((m) => m.id !== id);
}

/** The stream's chat and pins are over (it ended, or none is live). */
function clearStream() {
  $('messages').replaceChildren();
  state.chatIds.clear();
  if (state.sinceRegister) state.sinceRegister = [];
  showPinned([]);
  $('slow-mode').hidden = true;
  $('slow-mode').textContent = '';
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
  // The box empties once the hub took the line: a refused line stays there to send again.
  const sent = act({ type: 'chat_message', username: name, message: text }, 'chat-error', () => clearIfUnchanged($('text'), text));
  if (!sent) $('chat-error').textContent = 'Not connected — reconnecting…';
});

// -- likes ----------------------------------------------------------------------------

$('like').addEventListener('click', () => {
  if (act({ type: 'toggle_like' }, 'chat-error', () => { $('chat-error').textContent = ''; })) return;
  $('chat-error').textContent = 'Not connected — reconnecting…';
});

// -- pinned products ------------------------------------------------------------------

/** An absolute http(s) URL as given, or null (relative, javascript:, data:, garbage). */
function webUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

/** An image address: http(s), or one of the hub's own paths (`/uploads/…`). */
function imageUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

/** The card thumbnail of an image the hub stored (content-hash name), else null. */
function thumbnailUrl(src) {
  const m = /^(.*\/uploads\/products\/[0-9a-f]{32,64})\.([a-z0-9]+)$/.exec(src);
  return m ? `${m[1]}.thumb.${m[2]}` : null;
}

/** Where a card leads: the pin's own `url` when it has one (http/https only, anything
 * else is no link), else the shop's URL pattern, else nowhere. */
function productLink(p) {
  if (p.url !== undefined && p.url !== null && p.url !== '') return webUrl(p.url);
  if (state.shopUrlPattern) return webUrl(state.shopUrlPattern.replace('{productId}', encodeURIComponent(String(p.productId))));
  return null;
}

const LOCALE = (() => {
  try { return Intl.NumberFormat.supportedLocalesOf([navigator.language]).length ? navigator.language : undefined; } catch { return undefined; }
})();

/** A price as the customer reads it, by the browser's Intl for the pin's currency and the
 * page's locale; nothing for a price that is not a finite number. */
function formatPrice(p) {
  if (typeof p.price !== 'number' || !Number.isFinite(p.price)) return '';
  if (typeof p.currency === 'string' && p.currency) {
    try {
      return new Intl.NumberFormat(LOCALE, { style: 'currency', currency: p.currency }).format(p.price);
    } catch { /* not a currency this browser knows: the plain number */ }
  }
  return new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(p.price);
}

/** The picture of a card: the image, or a clean placeholder (also when it fails to load). */
function productThumb(p, className = 'thumb') {
  const box = document.createElement('span');
  box.className = `${className} placeholder`;
  box.setAttribute('aria-hidden', 'true');
  const initial = document.createElement('span');
  initial.className = 'initial';
  initial.textContent = Array.from(String(p.name || '').trim())[0] || '';
  box.append(initial);
  const src = imageUrl(p.image);
  if (src) {
    const img = document.createElement('img');
    img.alt = '';
    img.decoding = 'async';
    img.loading = 'lazy';
    // A card shows the small thumbnail the hub made beside a stored product image
    // (`/uploads/products/<hash>.thumb.<ext>`); if there is none, the image itself.
    const thumb = thumbnailUrl(src);
    img.addEventListener('load', () => { box.classList.remove('placeholder'); });
    img.addEventListener('error', () => {
      if (thumb && img.src === thumb) { img.src = src; return; }
      img.remove(); box.classList.add('placeholder');
    });
    img.src = thumb || src;
    box.append(img);
  }
  return box;
}

/** Tell the shop a card was tapped (counts only; a refusal is nobody's business). */
function reportTap(p) {
  if (!state.registered || p.productId === undefined || p.productId === null) return;
  if (send({ type: 'product_tapped', productId: p.productId })) ping({ ignore: true });
}

function productCard(p) {
  const li = document.createElement('li');
  li.className = 'product';
  li.dataset.productId = String(p.productId);
  const href = productLink(p);
  const card = document.createElement(href ? 'a' : 'div');
  card.className = 'card';
  if (href) {
    card.href = href;
    card.target = '_blank';
    card.rel = 'noopener';
  }
  const name = isolated(String(p.name || ''), 'span');
  name.className = 'name';
  const price = isolated(formatPrice(p), 'span');
  price.className = 'price';
  const text = document.createElement('span');
  text.className = 'card-text';
  text.append(name, price);
  card.append(productThumb(p), text);
  card.addEventListener('click', () => reportTap(p));
  const ask = document.createElement('button');
  ask.type = 'button';
  ask.className = 'ask';
  ask.textContent = 'Ask';
  ask.setAttribute('aria-label', `Ask about ${String(p.name || 'this product')}`);
  ask.title = 'Ask about this product';
  ask.addEventListener('click', () => askAbout(p));
  li.append(card, ask);
  return li;
}

/**
 * Show the pins in display order. The newest pin — the one the presenter just added (the
 * last in display order when several arrive at once, or when the page first loads) — is
 * highlighted and scrolled into the strip's view, like the product on a live-shopping stage.
 */
function showPinned(items) {
  const before = new Set(state.pinned.map((p) => String(p.productId)));
  state.pinned = items;
  for (const p of items) state.products.set(String(p.productId), p);
  const list = [...items].sort((a, b) => (a.displayOrder ?? 0) - (b.displayOrder ?? 0));
  const ids = list.map((p) => String(p.productId));
  const added = ids.filter((id) => !before.has(id));
  if (added.length) state.newestPin = added[added.length - 1];
  else if (!ids.includes(state.newestPin)) state.newestPin = ids[ids.length - 1] ?? null;
  const ul = $('pinned');
  ul.replaceChildren(...list.map(productCard));
  $('shelf').hidden = list.length === 0;
  const newest = [...ul.children].find((li) => li.dataset.productId === state.newestPin);
  if (!newest) return;
  newest.classList.add('newest');
  const tag = document.createElement('span');
  tag.className = 'new-tag';
  tag.textContent = 'NEW';
  newest.prepend(tag);
  // Into the strip's view, without scrolling the page (the video stays where it is).
  if (added.length) revealInStrip(ul, newest, before.size > 0);
}

/**
 * Scroll the horizontal strip `ul` so that card `li` is wholly in view and the first card
 * in view starts at the strip's edge: never a card cut in half on the left (the newest
 * pin is usually the last one, where scrolling to the end used to leave the card before
 * it cut). When the end of the strip would stop short of that, a tail space
 * (`--strip-tail`) lets it scroll far enough. Does nothing where the strip is a column
 * (desktop). `smooth`: animate (a pin added while watching), else jump (page load).
 */
function revealInStrip(ul, li, smooth) {
  ul.style.setProperty('--strip-tail', '0px');
  const view = ul.clientWidth;
  if (!li || ul.scrollWidth <= view + 1) return;
  const origin = ul.getBoundingClientRect().left - ul.scrollLeft;
  const left = (el) => el.getBoundingClientRect().left - origin;
  const right = left(li) + li.getBoundingClientRect().width;
  const cards = [...ul.children];
  const start = cards.find((c) => right - left(c) <= view + 0.5) || li;
  const target = Math.round(left(start) - left(cards[0]));
  const max = ul.scrollWidth - view;
  if (target > max) ul.style.setProperty('--strip-tail', `${Math.ceil(target - max)}px`);
  ul.scrollTo({ left: target, behavior: smooth ? 'smooth' : 'auto' });
}

// A phone turned on its side (or a window resized): the newest pin stays wholly in view.
if ('ResizeObserver' in window) {
  let width = 0;
  new ResizeObserver(([entry]) => {
    const w = Math.round(entry.contentRect.width);
    if (w === width) return;
    width = w;
    const ul = $('pinned');
    revealInStrip(ul, ul.querySelector('li.newest'), false);
  }).observe($('pinned'));
}

// -- support chat ---------------------------------------------------------------------

/** A small chip naming a product (the picture or placeholder, and the name). */
function productChip(productId) {
  const p = state.products.get(String(productId)) || { productId, name: '' };
  const chip = document.createElement('span');
  chip.className = 'product-chip';
  chip.dataset.productId = String(productId);
  const name = isolated(String(p.name || `Product ${productId}`), 'span');
  name.className = 'chip-name';
  chip.append(productThumb(p, 'chip-thumb'), name);
  return chip;
}

function addHelp(m) {
  if (m.id) {
    if (state.seenHelp.has(m.id)) return false;
    state.seenHelp.add(m.id);
  }
  const li = document.createElement('li');
  li.className = m.from === 'staff' ? 'staff' : 'customer';
  if (m.id) li.dataset.id = m.id;
  if (m.pending) li.classList.add('pending');
  if (m.productId !== undefined && m.productId !== null && m.productId !== '') li.append(productChip(m.productId));
  const text = isolated(String(m.message ?? ''), 'span');
  text.className = 'text';
  li.append(text);
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

/** "Ask about this product": the support chat opens with the product attached. */
function askAbout(p) {
  state.askProduct = p;
  showAsk();
  setHelpOpen(true);
}

function showAsk() {
  const p = state.askProduct;
  $('help-product').hidden = !p;
  $('help-product-body').replaceChildren(...(p ? [productChip(p.productId)] : []));
}

$('help-product-remove').addEventListener('click', () => {
  state.askProduct = null;
  showAsk();
  $('help-text').focus();
});

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
    reportSeen();
  }
}

// -- typing and "seen" (issue 12) -------------------------------------------------------

/** At most one `typing` every 3 s while the customer types in the help box. */
const TYPING_EVERY_MS = 3000;

$('help-text').addEventListener('input', () => {
  if (!$('help-text').value.trim() || !state.registered) return;
  const now = Date.now();
  if (now - state.typingSentAt < TYPING_EVERY_MS) return;
  state.typingSentAt = now;
  send({ type: 'typing', customerName: load('wrencos.name') || undefined });
});

/** "Shop is typing…" for `ms`, unless refreshed; a reply ends it at once. */
function showShopTyping(ms) {
  clearTimeout(state.shopTypingTimer);
  $('help-typing').hidden = false;
  state.shopTypingTimer = setTimeout(hideShopTyping, ms);
}

function hideShopTyping() {
  clearTimeout(state.shopTypingTimer);
  $('help-typing').hidden = true;
}

/**
 * The newest staff reply is on screen (the help panel open, the page visible): tell the
 * shop once per reply, so staff see "Seen" under it.
 */
function reportSeen() {
  if ($('help').hidden || document.visibilityState !== 'visible' || !state.registered) return;
  const replies = $('help-messages').querySelectorAll('li.staff[data-id]');
  if (!replies.length) return;
  const id = replies[replies.length - 1].dataset.id;
  if (id === state.seenReported) return;
  if (send({ type: 'reply_seen', id })) state.seenReported = id;
}

document.addEventListener('visibilitychange', reportSeen);

$('help-button').addEventListener('click', () => setHelpOpen($('help').hidden));
$('help-close').addEventListener('click', () => { setHelpOpen(false); $('help-button').focus(); });
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('help').hidden) setHelpOpen(false); });

$('help-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('help-text').value.trim();
  if (!text) return;
  $('help-error').textContent = '';
  const customerName = load('wrencos.name') || undefined;
  const product = state.askProduct;
  const msg = { type: 'customer_message', message: text, customerName };
  if (product) msg.productId = product.productId;
  const sent = act(msg, 'help-error', () => {
    clearIfUnchanged($('help-text'), text);
    if (state.askProduct === product) { state.askProduct = null; showAsk(); }
    // Shown at once; the thread that comes back replaces it with the stored line.
    addHelp({ from: 'customer', message: text, productId: product ? product.productId : undefined, pending: true });
    // The thread comes back with ids: the message shows once, as the shop stored it.
    send({ type: 'get_my_conversation' });
  });
  if (!sent) $('help-error').textContent = 'Not connected — reconnecting…';
});

// -- messages from the hub ------------------------------------------------------------

function handle(msg) {
  switch (msg.type) {
    case 'registered':
      state.publicId = msg.publicId;
      state.registered = true;
      state.sinceRegister = [];
      setStatus('Connected');
      player.register();
      send({ type: 'get_stream_info' });
      send({ type: 'get_my_conversation' });
      askFromAddress();
      break;
    case 'stream_info':
      player.handle(msg); // its publicHlsUrl/whepUrl: where to play from first (external.js)
      if ((msg.shopUrlPattern || '') !== state.shopUrlPattern) {
        state.shopUrlPattern = msg.shopUrlPattern || '';
        showPinned(state.pinned); // the links depend on it
      }
      if (!msg.live) {
        // Nothing is live: whatever was shown (a stream that ended while we were away) is over.
        clearStream();
        showOffline(msg);
      }
      break;
    case 'stream_started': showLive(msg.streamData); break;
    case 'stream_update': figures(msg); break;
    case 'stream_stopped':
      showOffline(null);
      $('offline-title').textContent = 'The stream has ended. Thanks for watching!';
      $('offline-detail').textContent = 'This page updates by itself when the shop goes live again.';
      clearStream();
      setTimeout(showLatestReplay, 2000); // its recording is being closed
      break;
    case 'chat_history': replaceChat(Array.isArray(msg.messages) ? msg.messages : []); break;
    case 'chat_message': addChat(msg); break;
    case 'chat_message_deleted': removeChat(msg.id); break;
    case 'chat_settings':
      $('slow-mode').hidden = !msg.slowModeSeconds;
      $('slow-mode').textContent = msg.slowModeSeconds ? `Slow mode: one message every ${msg.slowModeSeconds} s` : '';
      break;
    case 'pinned_products_updated': showPinned(msg.pinnedProducts || []); break;
    case 'my_conversation': showThread(msg.messages || []); reportSeen(); break;
    case 'my_message':
      // This customer wrote from another tab: the thread shows it too (once, by its id).
      addHelp({ from: 'customer', message: msg.message, timestamp: msg.timestamp, id: msg.id, productId: msg.productId });
      break;
    case 'staff_reply':
      hideShopTyping();
      if (addHelp({ from: 'staff', message: msg.message, timestamp: msg.timestamp, id: msg.id }) && $('help').hidden) {
        state.helpUnread += 1;
        $('help-badge').textContent = state.helpUnread;
        $('help-badge').hidden = false;
      }
      reportSeen();
      break;
    case 'shop_typing':
      showShopTyping(typeof msg.expiresInMs === 'number' ? msg.expiresInMs : 5000);
      break;
    case 'pong': {
      const action = state.awaitingPong.shift();
      if (action && !action.refused && action.onDone) action.onDone();
      break;
    }
    case 'error': {
      // Refused: the action whose pong is awaited next. What the customer typed stays in
      // its box. An error for no action (a background request) is not theirs to read.
      const action = state.awaitingPong[0];
      const text = typeof msg.retryAfterSeconds === 'number'
        ? `${msg.message} — wait ${Math.ceil(msg.retryAfterSeconds)} s`
        : String(msg.message ?? 'Something went wrong');
      if (msg.message === 'Not registered') send({ type: 'register', sessionId });
      if (action && action.ignore) break; // a background report (a card tap)
      if (!action) { console.warn(`hub: ${text}`); break; }
      action.refused = true;
      $(action.errorTarget).textContent = msg.message === 'Not registered'
        ? 'Not connected yet — please send again.'
        : text;
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
