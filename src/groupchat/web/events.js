// WebSocket frames -> store updates, plus the reconnect routine (re-join, catch up, resend).
import { api, enc, isTransient, RETRY_AFTER } from './api.js';
import { addRoom, fetchRoom, forgetRoom, loadPreview, refreshRooms } from './actions.js';
import { messageDeleted, messageUpdated, reactionChanged, refreshWindow } from './changes.js';
import { toast } from './dom.js';
import { failByClientId, failOldestInFlight, flushOutbox, markUnconfirmed, reconcile } from './outbox.js';
import { socket } from './socket.js';
import { state, emit, roomData, addMessages, noteLast, isMine, clearMessages, upsertRoom } from './store.js';
import { stopTyping, userTyping } from './typing.js';
import { countNew, readIfSeen, readUpdated, unreadDeleted } from './unread.js';

/** Add messages that reached a room (live or caught up): reconcile, store, count unread. */
export function ingest(roomId, messages, clientId) {
  if (!state.rooms.has(roomId)) return;
  const d = roomData(roomId);
  let fresh = [];
  for (const m of messages) {
    reconcile(roomId, m, clientId);
    if (m.author) stopTyping(roomId, m.author.id);
  }
  if (d.loaded || d.loading) fresh = addMessages(roomId, messages);
  else fresh = messages.filter((m) => noteLast(roomId, m));
  if (fresh.length) emit('messages', { roomId, added: fresh });
  countNew(roomId, fresh);
  readIfSeen(roomId);
  emit('rooms');
}

/** Fetch messages newer than `after` until has_more is false. */
async function catchUp(roomId, after) {
  for (let page = 0; page < 100; page += 1) {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=200&after=${enc(after)}`);
    if (!state.rooms.has(roomId)) return;
    ingest(roomId, res.messages);
    if (!res.has_more || !res.messages.length) return;
    after = res.messages.at(-1).id;
  }
}

/** Socket open: after a drop refresh the rooms, then join every room (history follows `joined`). */
export async function onSocketOpen(reconnect) {
  emit('connection', { online: true });
  if (reconnect) {
    state.streams.clear();
    emit('stream', {});
    try {
      await refreshRooms();
    } catch (e) {
      toast(`Could not refresh your rooms: ${e.message}`, 'error');
    }
  }
  for (const id of state.rooms.keys()) {
    socket.send({ type: 'join_room', room_id: id });
    if (reconnect && !roomData(id).loaded && !roomData(id).server) loadPreview(id);
  }
}

/**
 * Run a read that closes a gap left by a drop. One that failed on the way (or on the server's
 * side) leaves a hole no live frame fills, so it is tried again while the room's join lasts;
 * a later join reads again itself. Resolves to true once it succeeded, false when not.
 */
async function readWhileJoined(roomId, read) {
  const d = roomData(roomId);
  const join = d.joins;
  for (let attempt = 0; ; attempt += 1) {
    try {
      await read();
      return true;
    } catch (e) {
      if (!isTransient(e) || attempt >= RETRY_AFTER.length) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER[attempt]));
    if (!d.joined || d.joins !== join || !state.rooms.has(roomId)) return false;
  }
}

async function loadLatest(roomId) {
  const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=50`);
  ingest(roomId, res.messages);
}

/**
 * Close the gap between the loaded history and the live feed, then send what waited (once
 * history shows what got through before a drop, so nothing is sent twice).
 * Called once both the join is confirmed and the history is loaded: anything stored before the
 * join comes from this read, anything after it arrives live (duplicates are dropped by id).
 */
export async function syncRoom(roomId, since) {
  try {
    const read = since ? () => catchUp(roomId, since) : () => loadLatest(roomId);
    if (!(await readWhileJoined(roomId, read))) return; // the next join syncs and sends
  } catch (e) {
    toast(`Could not load missed messages: ${e.message}`, 'error');
  }
  flushOutbox(roomId);
}

/** Back after a drop: what changed in the newest loaded page while we were away. */
async function refreshLoaded(roomId) {
  const read = async () => {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=50`);
    refreshWindow(roomId, res.messages);
  };
  try {
    await readWhileJoined(roomId, read);
  } catch {
    // The next reconnect tries again.
  }
}

let recount = null;

/** Re-read the rooms once the joins settle: what was posted before a join reached the counts only. */
function recountLater() {
  clearTimeout(recount);
  recount = setTimeout(() => refreshRooms().catch(() => {}), 250);
}

function joined(roomId) {
  const d = roomData(roomId);
  d.joined = true;
  d.joins = (d.joins || 0) + 1; // a sync retrying for an earlier join gives way to this one's
  if (d.server && !d.loaded) recountLater();
  if (d.loaded && d.rejoined) refreshLoaded(roomId);
  d.rejoined = false;
  emit('joined', { roomId }); // the room on screen whose first load failed loads now (chat.js)
  if (d.loaded) syncRoom(roomId, d.messages.length ? d.messages.at(-1).id : null);
  else if (!d.loading) flushOutbox(roomId); // else the load's sync sends what waited
}

/** Socket dropped: show the offline banner; unconfirmed sends get checked after the next join. */
export function onSocketClose() {
  for (const d of state.data.values()) {
    d.joined = false;
    d.rejoined = true;
  }
  markUnconfirmed();
  emit('connection', { online: false });
}

const handlers = {
  new_message: (f) => ingest(f.message.room_id, [f.message], f.client_id),
  user_typing: (f) => userTyping(f.room_id, f.user, f.is_typing),
  ai_typing: (f) => {
    stream(f).model = f.model || null;
  },
  ai_stream_chunk: (f) => {
    stream(f).text += f.delta || '';
  },
  ai_tool_use: (f) => toolUse(stream(f), f),
  ai_stream_end: (f) => endStream(f),
  room_updated: (f) => roomUpdated(f.room),
  room_cleared: (f) => {
    clearMessages(f.room_id);
    emit('reset', { roomId: f.room_id });
    emit('rooms');
  },
  room_deleted: (f) => gone(f.room_id, 'was deleted'),
  member_joined: (f) => memberJoined(f),
  member_left: (f) => memberLeft(f),
  ai_refused: (f) => refused(f),
  message_updated: (f) => messageUpdated(f.message),
  message_deleted: (f) => {
    messageDeleted(f.room_id, f.message_id);
    unreadDeleted(f.room_id, f.message_id);
  },
  reaction_added: (f) => reactionChanged(f.room_id, f.message_id, f.emoji, f.user_id, true),
  reaction_removed: (f) => reactionChanged(f.room_id, f.message_id, f.emoji, f.user_id, false),
  joined: (f) => joined(f.room_id),
  read_updated: (f) => readUpdated(f.room_id, f.last_read_id),
  error: (f) => frameError(f),
};

/** Dispatch one server frame. */
export function onFrame(f) {
  const fn = handlers[f.type];
  if (!fn) return;
  fn(f);
  if (f.type.startsWith('ai_') && f.type !== 'ai_stream_end')
    emit('stream', { stream: state.streams.get(f.stream_id) });
}

function stream(f) {
  let s = state.streams.get(f.stream_id);
  if (!s) {
    s = { id: f.stream_id, room_id: f.room_id, model: null, text: '', tools: [] };
    state.streams.set(f.stream_id, s);
  }
  return s;
}

function toolUse(s, f) {
  const key = JSON.stringify([f.tool, f.input]);
  const entry = s.tools.find((t) => t.key === key && t.status === 'started');
  if (entry && f.status !== 'started') entry.status = f.status;
  else s.tools.push({ key, tool: f.tool, input: f.input, status: f.status });
}

function endStream(f) {
  const s = state.streams.get(f.stream_id) || { id: f.stream_id, room_id: f.room_id, text: '', tools: [] };
  state.streams.delete(f.stream_id);
  if (f.message && f.error) state.aiErrors.set(f.message.id, f.error);
  emit('stream', { stream: s, ended: true, error: f.error || null, message: f.message || null });
  if (f.message) ingest(f.room_id, [f.message]);
}

/** The AI would not answer (a spending limit): say why under the user's latest own message there. */
function refused(f) {
  const d = state.data.get(f.room_id);
  const mine = d ? d.messages.findLast((m) => isMine(m)) : null;
  const room = state.rooms.get(f.room_id);
  if (mine) state.refusals.set(mine.id, f.detail);
  if (!mine || f.room_id !== state.current) toast(room ? `${room.name}: ${f.detail}` : f.detail, 'error');
  emit('refused', { roomId: f.room_id, messageId: mine ? mine.id : null, detail: f.detail });
}

function roomUpdated(room) {
  if (!state.rooms.has(room.id)) return;
  upsertRoom(room);
  emit('rooms');
  emit('members', { roomId: room.id }); // a role may have changed: who may delete what
  // Broadcasts carry my_role null; a role change (promote/demote) also comes as room_updated.
  fetchRoom(room.id).catch(() => {});
}

function gone(roomId, why) {
  const room = state.rooms.get(roomId);
  if (!room) return;
  forgetRoom(roomId);
  toast(`“${room.name}” ${why}.`);
}

async function memberJoined(f) {
  const room = state.rooms.get(f.room_id);
  if (state.me && f.user.id === state.me.id) {
    if (room) return;
    try {
      addRoom(await fetchRoom(f.room_id));
    } catch {
      // Not visible after all.
    }
    return;
  }
  if (room) {
    room.member_count = (room.member_count || 0) + 1;
    emit('rooms');
    emit('members', { roomId: f.room_id });
  }
}

function memberLeft(f) {
  const room = state.rooms.get(f.room_id);
  if (!room) return;
  if (state.me && f.user_id === state.me.id) return gone(f.room_id, 'is no longer one of your rooms');
  room.member_count = Math.max(0, (room.member_count || 1) - 1);
  emit('rooms');
  emit('members', { roomId: f.room_id });
}

const SEND_ERRORS = new Set(['bad_request', 'rate_limited', 'too_large', 'forbidden', 'not_found']);

function frameError(f) {
  const detail = f.detail || f.code;
  const blamed = f.client_id
    ? failByClientId(f.client_id, detail)
    : SEND_ERRORS.has(f.code) && failOldestInFlight(detail);
  // not_found for a join or typing frame means we lost access to a room: nothing to tell.
  if (blamed || f.code !== 'not_found') toast(detail, 'error');
}
