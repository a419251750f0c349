// Typing indicators: others' typing state (expiring) and a throttled sender for our own.
import { emit, state } from './store.js';
import { nameOf } from './dom.js';

const EXPIRE_MS = 6000;
const RESEND_MS = 3000;
const IDLE_MS = 5000;
const typists = new Map();

/** Record a user_typing event; entries expire unless refreshed. */
export function userTyping(roomId, user, isTyping) {
  if (state.me && user.id === state.me.id) return;
  let room = typists.get(roomId);
  if (!room) typists.set(roomId, (room = new Map()));
  const prev = room.get(user.id);
  if (prev) clearTimeout(prev.timer);
  if (isTyping) {
    const timer = setTimeout(() => userTyping(roomId, user, false), EXPIRE_MS);
    room.set(user.id, { user, timer });
  } else room.delete(user.id);
  emit('typing', { roomId });
}

/** Forget a user's typing state (e.g. their message arrived). */
export function stopTyping(roomId, userId) {
  const room = typists.get(roomId);
  const entry = room && room.get(userId);
  if (entry) userTyping(roomId, entry.user, false);
}

/** "alice is typing…" text for a room, or ''. */
export function typingText(roomId) {
  const room = typists.get(roomId);
  const names = room ? [...room.values()].map((e) => nameOf(e.user)) : [];
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/** Forget all typing state. */
export function resetTyping() {
  for (const room of typists.values()) for (const e of room.values()) clearTimeout(e.timer);
  typists.clear();
}

/** Our own typing: send(true) at most every 3 s while typing, send(false) on stop or 5 s idle. */
export function typingSender(send) {
  let active = false;
  let lastSent = 0;
  let idle = null;
  const stop = () => {
    clearTimeout(idle);
    if (!active) return;
    active = false;
    send(false);
  };
  const input = () => {
    const now = Date.now();
    if (!active || now - lastSent >= RESEND_MS) {
      active = true;
      lastSent = now;
      send(true);
    }
    clearTimeout(idle);
    idle = setTimeout(stop, IDLE_MS);
  };
  return { input, stop };
}
