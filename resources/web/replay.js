// The replay page of a past show (issue 14): the recording with seeking, chapters made
// from the pins, the product cards pinned at the current moment (with today's catalog
// price and link) and the chat as it was said, both following the video. No build step.
'use strict';

const $ = (id) => document.getElementById(id);
const replayId = decodeURIComponent(location.pathname.split('/')[2] || '');
const base = `/replay/${encodeURIComponent(replayId)}`;
const state = { timeline: null, shownPins: null, shownChat: -1, shownLikes: -1, chapter: -1 };

const LOCALE = (() => {
  try { return Intl.NumberFormat.supportedLocalesOf([navigator.language]).length ? navigator.language : undefined; } catch { return undefined; }
})();

/** "12:40" (or "1:02:03") for a number of milliseconds. */
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** An http(s) address, or null (a link never runs script). */
function webUrl(url) {
  if (typeof url !== 'string' || !url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch { return null; }
}

function formatPrice(price, currency) {
  if (typeof price !== 'number' || !Number.isFinite(price)) return '';
  if (currency) {
    try { return new Intl.NumberFormat(LOCALE, { style: 'currency', currency }).format(price); } catch { /* unknown currency */ }
  }
  return new Intl.NumberFormat(LOCALE, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(price);
}

/** The product as a customer should see it today: the catalog's entry over the pin. */
function today(pin) {
  const id = String(pin.productId);
  const now = (state.timeline.catalog || {})[id];
  const p = now ? { ...pin, ...now, productId: id } : { ...pin, productId: id };
  let link = webUrl(p.url);
  if (!link && state.timeline.shopUrlPattern) link = webUrl(state.timeline.shopUrlPattern.replace('{productId}', encodeURIComponent(id)));
  return { ...p, link, currency: p.currency || state.timeline.currency };
}

/** The last entry of `list` (sorted by offsetMs) at or before `t`; its index, or -1. */
function lastAt(list, t) {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].offsetMs <= t) lo = mid + 1; else hi = mid;
  }
  return lo - 1;
}

function card(pin) {
  const p = today(pin);
  const li = document.createElement('li');
  li.dataset.productId = p.productId;
  const a = document.createElement(p.link ? 'a' : 'div');
  a.className = 'card';
  if (p.link) { a.href = p.link; a.target = '_blank'; a.rel = 'noopener'; }
  const img = webUrl(p.image);
  if (img) {
    const pic = document.createElement('img');
    pic.src = img; pic.alt = ''; pic.loading = 'lazy';
    pic.addEventListener('error', () => pic.remove());
    a.append(pic);
  }
  const text = document.createElement('span');
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = String(p.name || `Product ${p.productId}`);
  const price = document.createElement('span');
  price.className = 'price';
  price.textContent = formatPrice(p.price, p.currency);
  text.append(name, document.createElement('br'), price);
  a.append(text);
  const ask = document.createElement('a');
  ask.className = 'ask';
  ask.textContent = 'Ask about this product';
  // The live page opens its Help chat with this product attached.
  ask.href = `/?ask=${encodeURIComponent(p.productId)}&name=${encodeURIComponent(String(p.name || ''))}`;
  li.append(a, ask);
  return li;
}

function showProducts(t) {
  const pins = state.timeline.pins;
  const i = lastAt(pins, t);
  const items = i >= 0 ? pins[i].products : [];
  if (state.shownPins === items) return;
  state.shownPins = items;
  $('products').replaceChildren(...items.map(card));
  $('no-products').hidden = items.length > 0;
}

function chatLine(m) {
  const li = document.createElement('li');
  if (m.isAdmin) li.className = 'admin';
  const when = document.createElement('time');
  when.textContent = clock(m.offsetMs);
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = String(m.username || 'Guest');
  const text = document.createElement('span');
  text.textContent = String(m.message || '');
  li.append(when, who, text);
  return li;
}

function showChat(t) {
  const chat = state.timeline.chat;
  const n = lastAt(chat, t) + 1;
  if (n === state.shownChat) return;
  const list = $('chat');
  if (n > state.shownChat && state.shownChat >= 0) {
    for (const m of chat.slice(state.shownChat, n)) list.append(chatLine(m));
  } else {
    list.replaceChildren(...chat.slice(0, n).map(chatLine));
  }
  state.shownChat = n;
  list.scrollTop = list.scrollHeight;
}

function showLikes(t) {
  const likes = state.timeline.likes;
  let n = 0;
  while (n < likes.length && likes[n] <= t) n++;
  if (n === state.shownLikes) return;
  state.shownLikes = n;
  $('likes').textContent = n ? `· ♥ ${n}` : '';
}

function showChapter(t) {
  const i = lastAt(state.timeline.chapters, t);
  if (i === state.chapter) return;
  state.chapter = i;
  const buttons = [...$('chapters').querySelectorAll('button')];
  buttons.forEach((b, j) => b.setAttribute('aria-current', String(j === i)));
  // Keep the current chapter in view in the strip (it scrolls sideways on a phone).
  const strip = $('chapters');
  if (buttons[i]) strip.scrollLeft = Math.max(0, buttons[i].offsetLeft - strip.offsetLeft - 8);
}

function follow() {
  if (!state.timeline) return;
  const t = $('video').currentTime * 1000;
  showProducts(t);
  showChat(t);
  showLikes(t);
  showChapter(t);
}

function seek(ms) {
  const video = $('video');
  video.currentTime = ms / 1000;
  follow();
  const playing = video.play();
  if (playing) playing.catch(() => { /* autoplay refused: the customer taps play */ });
}

function render(timeline) {
  state.timeline = timeline;
  document.title = `${timeline.title} — replay`;
  $('title').textContent = timeline.title;
  $('chapters').replaceChildren(...timeline.chapters.map((c) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `${c.name || `Product ${c.productId}`} — ${clock(c.offsetMs)}`;
    b.addEventListener('click', () => seek(c.offsetMs));
    li.append(b);
    return li;
  }));
  $('chapters').parentElement.hidden = timeline.chapters.length === 0;
  follow();
}

async function start() {
  const video = $('video');
  for (const name of ['timeupdate', 'seeked', 'seeking', 'loadedmetadata']) video.addEventListener(name, follow);
  video.addEventListener('error', () => {
    $('problem').textContent = 'This video cannot be played here.';
    $('problem').hidden = false;
  });
  video.src = `${base}/video.mp4`;
  try {
    const resp = await fetch(`${base}/timeline.json`, { cache: 'no-cache' });
    if (!resp.ok) throw new Error(String(resp.status));
    render(await resp.json());
  } catch {
    $('problem').textContent = 'The show’s products and chat could not be loaded.';
    $('problem').hidden = false;
  }
}

start();
