// The conversation view: header, message log (history paging up, live updates, AI streams), composer.
import { api, enc, isTransient, RETRY_AFTER } from './api.js';
import { h, iconButton, toast, dayKey } from './dom.js';
import { icon } from './icons.js';
import { acceptDrops, createComposer } from './composer.js';
import { syncRoom } from './events.js';
import { showRoomPreview } from './invite.js';
import { discard, reconcile, retry } from './outbox.js';
import { renderMessage, renderPending, renderStream, renderNote, refusalNote, updateReactions } from './message.js';
import { navigate } from './router.js';
import { socket } from './socket.js';
import { state, on, roomData, addMessages, isMine } from './store.js';
import { typingText } from './typing.js';
import { openRoomSettings } from './settings.js';
import { loadRoster } from './roster.js';
import { openVerify } from './verify.js';
import { navigateLog } from './lognav.js';
import { loadAround } from './around.js';
import { readIfSeen, readMarker, seesRoom } from './unread.js';

const PAGE = 50;
const aiHint = (mode) =>
  ({ mention: `Mention @${state.aiName} to ask the AI.`, always: 'The AI answers every message.' })[mode] || '';
const GROUP_MS = 5 * 60 * 1000;
let view = null;

/** Render the conversation of a room into `main`. */
export function showRoom(main, roomId) {
  closeView();
  const room = state.rooms.get(roomId);
  if (!room) return showRoomPreview(main, roomId, () => showRoom(main, roomId));
  const v = buildView(room);
  view = v;
  const d = roomData(roomId);
  // The "New messages" line goes where the user stopped reading ('' when before the first message).
  v.dividerAfter = d.unread > 0 || d.mark ? readMarker(roomId) || '' : null;
  main.replaceChildren(v.root);
  renderHeader();
  renderAll();
  loadRoster(roomId);
  const hit = state.jump && state.jump.roomId === roomId ? state.jump.message : null;
  state.jump = null;
  if (hit) openAt(roomId, hit);
  else if (!d.loaded && !d.loading) loadInitial(roomId);
  else settle();
  if (matchMedia('(min-width: 761px)').matches) v.composer.focus();
}

/** Leave the current view (called before another one is shown). */
export function closeView() {
  if (view && view.composer) view.composer.destroy();
  view = null;
  state.atBottom = false;
}

function buildView(room) {
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' });
  const v = {
    roomId: room.id,
    log,
    top: h('div', { class: 'log-top' }),
    msgs: h('div', { class: 'msgs' }),
    pending: h('div', { class: 'msgs pending-box' }),
    streams: h('div', { class: 'msgs streams' }),
    typing: h('div', { class: 'typing', 'aria-live': 'polite' }),
    head: h('header', { class: 'chat-head' }),
    jump: h('button', { type: 'button', class: 'jump', hidden: true }, icon('down'), 'Latest messages'),
    stick: true,
    divider: h('div', { class: 'new-divider' }, h('span', { text: 'New messages' })),
    composer: createComposer(room.id, room.name),
  };
  log.append(v.top, v.msgs, v.pending, v.streams);
  const navHint = navigateLog(log);
  log.addEventListener('scroll', onScroll);
  // Images change the height after they load: stay at the bottom if we were there.
  log.addEventListener('load', () => view && view.stick && scrollToBottom(), true);
  v.jump.addEventListener('click', () => scrollToBottom(true));
  v.root = h(
    'section',
    { class: 'chat', 'aria-label': room.name },
    v.head,
    h('div', { class: 'log-wrap' }, log, v.jump, navHint),
    v.typing,
    v.composer.el,
  );
  acceptDrops(v.root, (f) => v.composer.attach(f));
  return v;
}

function renderHeader() {
  const room = state.rooms.get(view.roomId);
  const members = `${room.member_count ?? '?'} member${room.member_count === 1 ? '' : 's'}`;
  const sub = [members, room.is_public ? 'public' : 'private', room.description].filter(Boolean).join(' · ');
  view.head.replaceChildren(
    iconButton('back', 'Back to rooms', () => navigate('/'), 'icon-btn back'),
    h('span', { class: 'room-icon', 'aria-hidden': 'true' }, icon(room.is_public ? 'hash' : 'lock')),
    h('div', { class: 'chat-title' }, h('h2', { text: room.name }), h('p', { class: 'sub', text: sub })),
    iconButton('chain', 'Verify history', () => openVerify(room.id, refocusVerify), 'icon-btn verify'),
    iconButton('sliders', 'Room settings', () => openRoomSettings(room.id)),
  );
}

function refocusVerify() {
  if (view) view.head.querySelector('.verify')?.focus();
}

function renderTop() {
  const d = roomData(view.roomId);
  const room = state.rooms.get(view.roomId);
  if (d.loading || d.loadingOlder) view.top.replaceChildren(h('p', { class: 'loading', text: 'Loading messages…' }));
  else if (d.loaded && !d.hasMore) {
    view.top.replaceChildren(
      h(
        'div',
        { class: 'intro' },
        h('span', { class: 'intro-icon', 'aria-hidden': 'true' }, icon('chat')),
        h('h3', { text: `Welcome to ${room.name}` }),
        h('p', { text: `This is the beginning of the conversation. ${aiHint(room.ai_mode)}` }),
      ),
    );
  } else view.top.replaceChildren();
}

function renderAll() {
  const d = roomData(view.roomId);
  view.msgs.replaceChildren(...d.messages.map(renderMessage));
  placeDivider();
  renderTop();
  renderPendingRows();
  renderStreams();
  renderTyping();
}

function renderPendingRows() {
  const d = roomData(view.roomId);
  const rows = d.pending.map((p) =>
    renderPending(p, {
      onRetry: () => retry(view.roomId, p.client_id),
      onDiscard: () => discard(view.roomId, p.client_id),
    }),
  );
  view.pending.replaceChildren(...rows);
  regroup();
}

function renderStreams() {
  const keep = [...view.streams.querySelectorAll('.note')];
  const rows = [...state.streams.values()]
    .filter((s) => s.room_id === view.roomId)
    .map((s) => renderStream(s, () => socket.send({ type: 'cancel_ai', room_id: s.room_id })));
  view.streams.replaceChildren(...keep, ...rows);
}

function renderTyping() {
  view.typing.textContent = typingText(view.roomId);
}

function sameAuthor(a, b) {
  if (a.author_type !== b.author_type || a.author_type === 'system') return false;
  return a.author_type === 'ai' || (a.author && b.author && a.author.id === b.author.id);
}

/** Show day dividers and fold consecutive messages of one author into a group. */
function regroup() {
  let prev = null;
  for (const row of [...view.msgs.children, ...view.pending.children]) {
    const m = row.msg;
    const newDay = !prev || dayKey(prev.created_at) !== dayKey(m.created_at);
    const day = row.querySelector(':scope > .day');
    if (day) day.hidden = !newDay;
    const close = prev && Date.parse(m.created_at) - Date.parse(prev.created_at) < GROUP_MS;
    row.classList.toggle('cont', !newDay && !!close && sameAuthor(prev, m));
    prev = m;
  }
}

function insertRows(messages) {
  for (const m of messages) {
    let before = null;
    for (let el = view.msgs.lastElementChild; el && el.dataset.id > m.id; el = el.previousElementSibling) before = el;
    view.msgs.insertBefore(renderMessage(m), before);
  }
  placeDivider();
  regroup();
}

/** Put the "New messages" line above the first message from someone else after the read marker. */
function placeDivider() {
  const after = view.dividerAfter;
  const row = after == null ? null : [...view.msgs.children].find((r) => r.dataset.id > after && !isMine(r.msg));
  if (!row) return view.divider.remove();
  if (view.divider.parentNode !== row) row.querySelector(':scope > .day').after(view.divider);
}

/** Show the "New messages" line near the top when there is one to show, else the newest messages. */
function settle() {
  const { log } = view;
  if (!view.divider.isConnected || log.scrollHeight <= log.clientHeight) return scrollToBottom();
  log.scrollTop += view.divider.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
  onScroll();
}

function nearBottom() {
  const { log } = view;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function scrollToBottom(smooth = false) {
  view.log.scrollTo({ top: view.log.scrollHeight, behavior: smooth ? 'smooth' : 'auto' });
  view.stick = true;
  view.jump.hidden = true;
  state.atBottom = true;
  readIfSeen(view.roomId);
}

function followIfStuck() {
  if (view.stick) scrollToBottom();
  else view.jump.hidden = false;
}

function onScroll() {
  view.stick = nearBottom();
  state.atBottom = view.stick;
  if (view.stick) {
    view.jump.hidden = true;
    readIfSeen(view.roomId);
  }
  if (view.log.scrollTop < 400) loadOlder();
}

async function loadInitial(roomId, attempt = 0) {
  const d = roomData(roomId);
  d.loading = true;
  if (view) renderTop();
  try {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=${PAGE}`);
    for (const m of res.messages) reconcile(roomId, m); // sent before a drop, stored after all
    addMessages(roomId, res.messages);
    d.hasMore = res.has_more;
    d.loaded = true;
    // Joined before this page was read: fetch what came between the two.
    if (d.joined) syncRoom(roomId, res.messages.length ? res.messages.at(-1).id : null);
  } catch (e) {
    // While connected, try again soon; when not, the next join loads it (on 'joined' below).
    if (isTransient(e) && attempt < RETRY_AFTER.length && socket.isOpen) {
      setTimeout(() => {
        if (view && view.roomId === roomId && !d.loaded && !d.loading) loadInitial(roomId, attempt + 1);
      }, RETRY_AFTER[attempt]);
    } else toast(`Could not load messages: ${e.message}`, 'error');
  }
  d.loading = false;
  if (!view || view.roomId !== roomId) return;
  renderAll();
  settle();
  fillViewport();
}

/** Open a room at a message (a search hit): load it with what surrounds it, then go to it. */
async function openAt(roomId, message) {
  if (!roomData(roomId).byId.has(message.id)) {
    renderTop();
    try {
      await loadAround(roomId, message);
    } catch (e) {
      toast(`Could not load the message: ${e.message}`, 'error');
    }
    if (!view || view.roomId !== roomId) return;
    renderAll();
  }
  jumpTo(roomId, message.id);
}

function fillViewport() {
  if (view && view.log.scrollHeight <= view.log.clientHeight + 400) loadOlder();
}

async function loadOlder() {
  const roomId = view.roomId;
  const d = roomData(roomId);
  if (!d.loaded || !d.hasMore || d.loadingOlder || !d.messages.length) return;
  d.loadingOlder = true;
  renderTop();
  let added = [];
  try {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=${PAGE}&before=${enc(d.messages[0].id)}`);
    added = addMessages(roomId, res.messages);
    d.hasMore = res.has_more;
  } catch (e) {
    toast(`Could not load older messages: ${e.message}`, 'error');
  }
  d.loadingOlder = false;
  if (!view || view.roomId !== roomId) return;
  const { log } = view;
  const before = log.scrollHeight - log.scrollTop;
  insertRows(added);
  renderTop();
  log.scrollTop = log.scrollHeight - before;
  // Still near the top (the page was short, or the log shrank meanwhile): no scroll event will come.
  if (added.length && log.scrollTop < 400) loadOlder();
  else if (added.length) fillViewport();
}

function rowOf(id) {
  return view.msgs.querySelector(`:scope > [data-id="${CSS.escape(id)}"]`);
}

/** Render a changed message again, keeping the keyboard focus on the same control. */
function rerender(id) {
  const old = rowOf(id);
  const m = roomData(view.roomId).byId.get(id);
  if (!old || !m || old.editing) return;
  const focused = old.contains(document.activeElement) ? document.activeElement.closest('[data-key]') : null;
  const key = old.focusKey || (focused && focused.dataset.key);
  const onMessage = document.activeElement === old.querySelector('.msg'); // e.g. after a jump to it
  const row = renderMessage(m);
  old.replaceWith(row);
  if (view.divider.parentNode === old) placeDivider();
  if (key) row.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
  else if (onMessage) {
    const msg = row.querySelector('.msg');
    msg.tabIndex = -1;
    msg.focus({ preventScroll: true });
  }
}

/** Scroll to a message (loading older pages until it shows) and put the focus on it. */
async function jumpTo(roomId, id) {
  for (let turn = 0; turn < 200 && view && view.roomId === roomId && !rowOf(id); turn += 1) {
    const d = roomData(roomId);
    const busy = d.loading || d.loadingOlder;
    if (!d.hasMore && !busy) break;
    if (busy) await new Promise((resolve) => setTimeout(resolve, 50));
    else await loadOlder();
  }
  const row = view && view.roomId === roomId ? rowOf(id) : null;
  if (!row) return toast('That message is no longer in this room.');
  const target = row.querySelector('.msg');
  target.tabIndex = -1;
  target.scrollIntoView({ block: 'center' });
  target.focus({ preventScroll: true });
  target.classList.add('flash');
  setTimeout(() => target.classList.remove('flash'), 2000);
}

on('updated', ({ roomId, ids, part }) => {
  if (!view || view.roomId !== roomId) return;
  if (part !== 'reactions') return ids.forEach(rerender);
  const d = roomData(roomId);
  for (const id of ids) if (rowOf(id) && d.byId.has(id)) updateReactions(rowOf(id), d.byId.get(id));
});
on('removed', ({ roomId, id }) => {
  if (!view || view.roomId !== roomId) return;
  const row = rowOf(id);
  if (!row) return;
  const lost = row.contains(document.activeElement) || document.activeElement === document.body;
  row.remove();
  regroup();
  if (lost) view.log.focus();
});
on('reply', ({ roomId, message }) => view && view.roomId === roomId && view.composer.replyTo(message));
on('jump', ({ roomId, id }) => view && view.roomId === roomId && jumpTo(roomId, id));
on('roster', ({ roomId }) => {
  if (view && view.roomId === roomId) roomData(roomId).messages.forEach((m) => rerender(m.id));
});

on('messages', ({ roomId, added }) => {
  if (!view || view.roomId !== roomId) return;
  const mine = added.some((m) => m.author && state.me && m.author.id === state.me.id);
  // Messages arriving unseen (tab hidden, scrolled up) get the line above them.
  if (view.dividerAfter == null && !mine && !seesRoom(roomId)) view.dividerAfter = readMarker(roomId) || '';
  insertRows(added);
  if (mine) scrollToBottom();
  else followIfStuck();
});
on('reset', ({ roomId }) => view && view.roomId === roomId && renderAll());
// Joined again while the history on screen is not loaded (its first load failed, say, as the
// server went down): load it now; its sync then catches up and sends what waited.
on('joined', ({ roomId }) => {
  const d = roomData(roomId);
  if (view && view.roomId === roomId && !d.loaded && !d.loading) loadInitial(roomId);
});
on('pending', ({ roomId }) => {
  if (!view || view.roomId !== roomId) return;
  renderPendingRows();
  scrollToBottom();
});
on('typing', ({ roomId }) => view && view.roomId === roomId && renderTyping());
on('rooms', () => view && state.rooms.has(view.roomId) && renderHeader());
on('stream', ({ stream, ended, error, message }) => {
  if (!view) return;
  if (!stream) return renderStreams();
  if (stream.room_id !== view.roomId) return;
  const row = view.streams.querySelector(`[data-stream="${CSS.escape(stream.id)}"]`);
  if (ended) {
    if (row) row.remove();
    if (error && !message) view.streams.append(renderNote(`The AI could not answer: ${error}`));
  } else if (row) row.update();
  else renderStreams();
  followIfStuck();
});
on('refused', ({ roomId, messageId, detail }) => {
  if (!view || view.roomId !== roomId) return;
  const row = messageId && view.msgs.querySelector(`[data-id="${CSS.escape(messageId)}"] .msg-main`);
  if (row) {
    row.querySelector(':scope > .ai-refused')?.remove();
    row.append(refusalNote(detail));
  } else view.streams.append(renderNote(detail));
  followIfStuck();
});
