// Who is in a room and with which role (for who may delete what, and names of reactors), cached per room.
import { api, enc } from './api.js';
import { nameOf } from './dom.js';
import { emit, on, state } from './store.js';

const rosters = new Map(); // room id -> Map(user id -> Member)
const loading = new Map();

/** Fetch a room's members once (again after a membership change); emits 'roster' when known. */
export function loadRoster(roomId, fresh = false) {
  if (!fresh && (rosters.has(roomId) || loading.has(roomId))) return loading.get(roomId) || Promise.resolve();
  const job = api
    .get(`/api/rooms/${enc(roomId)}`)
    .then((room) => {
      rosters.set(roomId, new Map((room.members || []).map((m) => [m.user.id, m])));
      emit('roster', { roomId });
    })
    .catch(() => {})
    .finally(() => loading.delete(roomId));
  loading.set(roomId, job);
  return job;
}

/** The role of a user in a room: 'owner', 'admin', 'member', or null when unknown. */
export function roleOf(roomId, userId) {
  const m = rosters.get(roomId)?.get(userId);
  return m ? m.role : null;
}

/** The room's members as last loaded (empty until known). */
export function membersOf(roomId) {
  return [...(rosters.get(roomId)?.values() || [])];
}

/** A member's display name, or a fallback when not (or no longer) a member. */
export function memberName(roomId, userId) {
  if (state.me && userId === state.me.id) return nameOf(state.me);
  const m = rosters.get(roomId)?.get(userId);
  return m ? nameOf(m.user) : 'someone who left';
}

/** True when the signed-in user may delete this message (API.md: DELETE /api/messages/{id}). */
export function canDelete(roomId, message) {
  const room = state.rooms.get(roomId);
  const mine = message.author && state.me && message.author.id === state.me.id;
  if (mine && message.author_type === 'user') return true;
  if (!room) return false;
  if (room.my_role === 'owner') return true;
  if (room.my_role !== 'admin') return false;
  if (message.author_type !== 'user' || !message.author) return true;
  const role = roleOf(roomId, message.author.id);
  return role !== 'owner' && role !== 'admin';
}

on('members', ({ roomId }) => rosters.has(roomId) && loadRoster(roomId, true));
on('signedout', () => rosters.clear());
