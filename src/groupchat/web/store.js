// Client state (user, rooms, loaded messages, pending sends, AI streams) and a tiny event bus for views.
const bus = new EventTarget();

/** The whole client state; views read it, actions/events change it and emit. */
export const state = {
  me: null,
  rooms: new Map(),
  data: new Map(),
  streams: new Map(),
  aiErrors: new Map(),
  current: null,
  atBottom: false, // the open room's log is scrolled to its newest message
  jump: null, // {roomId, message}: a message to open with its surroundings (a search hit)
  models: null,
  aiName: 'ai', // AI_NAME, from GET /api/models
  server: { registration: 'open', needs_setup: false }, // GET /api/server
  refusals: new Map(), // message id -> why the AI did not answer it (ai_refused)
};

/** Notify views: 'rooms', 'messages', 'reset', 'pending', 'stream', 'typing', 'me', 'signedout'. */
export function emit(type, detail = {}) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

/** Subscribe to a bus event; returns an unsubscribe function. */
export function on(type, fn) {
  const listener = (e) => fn(e.detail);
  bus.addEventListener(type, listener);
  return () => bus.removeEventListener(type, listener);
}

/** Forget everything (sign out). */
export function resetState() {
  state.me = null;
  state.rooms.clear();
  state.data.clear();
  state.streams.clear();
  state.aiErrors.clear();
  state.refusals.clear();
  state.current = null;
  state.atBottom = false;
  state.jump = null;
  state.models = null;
}

/** Per-room client data, created on first use. */
export function roomData(id) {
  let d = state.data.get(id);
  if (!d) {
    d = {
      messages: [],
      byId: new Map(),
      hasMore: true,
      loaded: false,
      loading: false,
      pending: [],
      unread: 0,
      mentions: 0,
      lastRead: null, // the server's read marker (v2), or null
      counted: null, // newest message id the counts already include (from the server's Room)
      recent: [], // {id, mention} of the unread messages counted live
      mark: false,
      last: null,
    };
    state.data.set(id, d);
  }
  return d;
}

/** Ids order messages within a room (API.md): plain string comparison. */
export function cmpId(a, b) {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Merge a Room object, keeping the known my_role when an event carries null. */
export function upsertRoom(room) {
  const prev = state.rooms.get(room.id);
  const merged = { ...prev, ...room };
  if (room.my_role == null && prev) merged.my_role = prev.my_role;
  delete merged.members;
  state.rooms.set(room.id, merged);
  takeCounts(room);
  return merged;
}

/** A member's Room (v2) carries unread counts and the read marker; broadcasts and v1 servers do not. */
function takeCounts(room) {
  if (room.unread_count == null) return;
  const d = roomData(room.id);
  d.server = true;
  d.lastRead = room.last_read_id || null;
  const upTo = room.last_message ? room.last_message.id : d.lastRead;
  // Messages counted live after the server's snapshot (its answer was on the way) still count.
  const after = (id) => (!upTo || cmpId(id, upTo) > 0) && (!d.lastRead || cmpId(id, d.lastRead) > 0);
  d.recent = d.recent.filter((r) => after(r.id));
  d.unread = room.unread_count + d.recent.length;
  d.mentions = (room.mention_count || 0) + d.recent.filter((r) => r.mention).length;
  d.mark = false;
  if (room.last_message) noteLast(room.id, room.last_message);
  if (!d.counted || (upTo && cmpId(upTo, d.counted) > 0)) d.counted = upTo;
}

/** Remove a room and its data. */
export function dropRoom(id) {
  state.rooms.delete(id);
  state.data.delete(id);
}

/** Insert messages in id order, skipping known ids; returns the new ones. */
export function addMessages(roomId, messages) {
  const d = roomData(roomId);
  const added = [];
  for (const m of messages) {
    if (d.byId.has(m.id)) continue;
    d.byId.set(m.id, m);
    added.push(m);
  }
  if (added.length) {
    d.messages.push(...added);
    d.messages.sort((a, b) => cmpId(a.id, b.id));
  }
  noteLast(roomId, messages.at(-1));
  return added;
}

/** Remember the newest message of a room (for previews); true when it is newer. */
export function noteLast(roomId, message) {
  const d = roomData(roomId);
  if (!message || (d.last && cmpId(message.id, d.last.id) <= 0)) return false;
  d.last = message;
  return true;
}

/** Swap in a newer copy of a loaded message (edited, reacted to); returns it, or null when not loaded. */
export function replaceMessage(roomId, message) {
  const d = roomData(roomId);
  if (d.last && d.last.id === message.id) d.last = message; // the room list's preview, loaded or not
  const i = d.messages.findIndex((m) => m.id === message.id);
  if (i < 0) return null;
  d.messages[i] = message;
  d.byId.set(message.id, message);
  return message;
}

/** Drop a deleted message; true when it was loaded. */
export function removeMessage(roomId, id) {
  const d = roomData(roomId);
  const i = d.messages.findIndex((m) => m.id === id);
  if (i >= 0) d.messages.splice(i, 1);
  d.byId.delete(id);
  if (d.last && d.last.id === id) d.last = d.messages.at(-1) || null;
  return i >= 0;
}

/** Forget a room's messages (after a clear). */
export function clearMessages(roomId) {
  const d = roomData(roomId);
  d.messages = [];
  d.byId.clear();
  d.hasMore = false;
  d.last = null;
}

function readKey(roomId) {
  return `gc.read.${state.me ? state.me.id : ''}.${roomId}`;
}

/** Id of the newest message seen in a room on this device, or null. */
export function lastReadId(roomId) {
  return localStorage.getItem(readKey(roomId));
}

/** Mark a room read up to its newest message. */
export function markRead(roomId) {
  const d = roomData(roomId);
  d.unread = 0;
  d.mentions = 0;
  d.recent = [];
  d.mark = false;
  if (d.last) localStorage.setItem(readKey(roomId), d.last.id);
}

/** True when the signed-in user wrote this message. */
export function isMine(message) {
  return !!(message.author && state.me && message.author.id === state.me.id);
}

/** Rooms sorted by latest activity, newest first. */
export function sortedRooms() {
  const when = (r) => {
    const d = state.data.get(r.id);
    return (d && d.last && d.last.created_at) || r.created_at || '';
  };
  return [...state.rooms.values()].sort((a, b) => cmpId(when(b), when(a)));
}

/** True when the signed-in user may change room settings. */
export function canManage(room) {
  return !!room && (room.my_role === 'owner' || room.my_role === 'admin');
}
