// Client actions over the REST API that keep the store, the socket and the views in step.
import { api, enc, setToken } from './api.js';
import { socket } from './socket.js';
import {
  state,
  emit,
  upsertRoom,
  dropRoom,
  roomData,
  noteLast,
  lastReadId,
  isMine,
  cmpId,
  resetState,
} from './store.js';

/** Fetch the newest message of a room for the list preview and the unread mark. */
export async function loadPreview(roomId) {
  if (roomData(roomId).server) {
    // A v2 Room carries its newest message and counts: re-read the room instead.
    await fetchRoom(roomId).catch(() => {});
    return;
  }
  try {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=1`);
    const newest = res.messages.at(-1);
    if (!newest || !noteLast(roomId, newest)) return;
    const read = lastReadId(roomId);
    const d = roomData(roomId);
    if (read === null) localStorage.setItem(`gc.read.${state.me.id}.${roomId}`, newest.id);
    else if (cmpId(newest.id, read) > 0 && !isMine(newest) && roomId !== state.current) d.mark = true;
    emit('rooms');
  } catch {
    // A preview is optional.
  }
}

// Membership changes made here while a room list was on the way win over that (older) list.
let changes = 0;
const changedAt = new Map();
const touch = (id) => changedAt.set(id, ++changes);

/** Track a room the user belongs to: store it, join it live, fetch its preview. */
export function addRoom(room) {
  const known = state.rooms.has(room.id);
  if (!known) touch(room.id);
  const merged = upsertRoom(room);
  if (!known) {
    socket.send({ type: 'join_room', room_id: room.id });
    if (room.unread_count == null) loadPreview(room.id);
  }
  emit('rooms');
  return merged;
}

/** Reload the user's rooms; rooms no longer listed are dropped. */
export async function refreshRooms() {
  const asked = changes;
  const listed = (await api.get('/api/rooms?scope=mine')).rooms;
  const stale = (id) => (changedAt.get(id) || 0) > asked;
  const ids = new Set(listed.map((r) => r.id));
  for (const id of [...state.rooms.keys()]) if (!ids.has(id) && !stale(id)) forgetRoom(id);
  const rooms = listed.filter((r) => !stale(r.id));
  const fresh = rooms.filter((r) => !state.rooms.has(r.id) && r.unread_count == null);
  for (const r of rooms) upsertRoom(r);
  await Promise.all(fresh.map((r) => loadPreview(r.id)));
  emit('rooms');
}

/** Remove a room locally (deleted, left or removed). */
export function forgetRoom(id) {
  touch(id);
  dropRoom(id);
  for (const [sid, s] of state.streams) if (s.room_id === id) state.streams.delete(sid);
  emit('rooms');
  emit('room-gone', { roomId: id });
}

/** Create a room and open it. */
export async function createRoom(fields) {
  const room = await api.post('/api/rooms', fields);
  return addRoom(room);
}

/** Join a public room. */
export async function joinPublicRoom(roomId) {
  const room = await api.post(`/api/rooms/${enc(roomId)}/join`);
  return addRoom(room);
}

/** Accept an invite link token. */
export async function acceptInvite(token) {
  const room = await api.post(`/api/invites/${enc(token)}/accept`);
  return addRoom(room);
}

/** Leave a room (the owner cannot: the server answers 409). */
export async function leaveRoom(roomId) {
  await api.del(`/api/rooms/${enc(roomId)}/members/${enc(state.me.id)}`);
  socket.send({ type: 'leave_room', room_id: roomId });
  forgetRoom(roomId);
}

/** Delete a room (owner). */
export async function deleteRoom(roomId) {
  await api.del(`/api/rooms/${enc(roomId)}`);
  forgetRoom(roomId);
}

/** Delete all messages of a room (owner/admin); the room_cleared event updates the view. */
export async function clearRoom(roomId) {
  await api.post(`/api/rooms/${enc(roomId)}/clear`);
}

/** Save room settings. */
export async function updateRoom(roomId, fields) {
  const room = await api.patch(`/api/rooms/${enc(roomId)}`, fields);
  upsertRoom(room);
  emit('rooms');
  return room;
}

/** Re-read a room (members and my_role). */
export async function fetchRoom(roomId) {
  const room = await api.get(`/api/rooms/${enc(roomId)}`);
  if (state.rooms.has(roomId)) {
    upsertRoom(room);
    emit('rooms');
  }
  return room;
}

/** The provider's model list, cached for the session. */
export async function loadModels() {
  if (!state.models) state.models = await api.get('/api/models');
  return state.models;
}

let signingOut = false;

/** Sign out: revoke the token on the server (unless it is already invalid), then forget it. */
export async function signOut(remote = true) {
  if (signingOut) return;
  signingOut = true;
  socket.stop();
  if (remote) {
    try {
      await api.post('/api/auth/logout');
    } catch {
      // The token is cleared locally either way.
    }
  }
  setToken(null);
  resetState();
  signingOut = false;
  emit('signedout');
}
