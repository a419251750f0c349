// Unread and mention counts: counting new messages, the read marker (POST /api/rooms/{id}/read, the
// read_updated event from the user's other tabs) and marking the open room read once it is seen.
import { api, enc } from './api.js';
import { fetchRoom } from './actions.js';
import { notifyMention } from './notify.js';
import { state, emit, on, roomData, cmpId, isMine, markRead, lastReadId } from './store.js';

/** True when a message mentions the signed-in user or replies to one of their messages. */
export function mentionsMe(m) {
  if (!state.me || isMine(m)) return false;
  const reply = m.reply_to && m.reply_to.author;
  return (m.mentions || []).includes(state.me.id) || !!(reply && reply.id === state.me.id);
}

/** Where the user stopped reading a room: the server's marker, else this device's. */
export function readMarker(roomId) {
  return roomData(roomId).lastRead || lastReadId(roomId);
}

/** True when the signed-in user sees the open room's newest messages right now. */
export function seesRoom(roomId) {
  return (
    roomId === state.current &&
    state.atBottom &&
    document.visibilityState === 'visible' &&
    document.hasFocus()
  );
}

/** Count messages new to the client (not yet in the server's counts); notify mentions while hidden. */
export function countNew(roomId, messages) {
  const d = roomData(roomId);
  for (const m of messages) {
    if (d.counted && cmpId(m.id, d.counted) <= 0) continue;
    d.counted = m.id;
    if (isMine(m)) {
      if (d.server) d.lastRead = m.id; // sending moves the sender's marker
      continue;
    }
    if (d.lastRead && cmpId(m.id, d.lastRead) <= 0) continue;
    const mention = mentionsMe(m);
    d.unread += 1;
    d.recent.push({ id: m.id, mention });
    if (mention) {
      d.mentions += 1;
      notifyMention(m, state.rooms.get(roomId));
    }
  }
}

/** Mark the open room read when it is seen (visible, focused, scrolled to the bottom). */
export function readIfSeen(roomId) {
  if (!roomId || !seesRoom(roomId)) return;
  const d = roomData(roomId);
  const had = d.unread > 0 || d.mentions > 0 || d.mark;
  markRead(roomId);
  const newest = d.last;
  if (d.server && newest && (!d.lastRead || cmpId(newest.id, d.lastRead) > 0)) {
    d.lastRead = newest.id;
    api.post(`/api/rooms/${enc(roomId)}/read`, { message_id: newest.id }).catch(() => {});
  }
  if (had) emit('rooms');
}

/** read_updated: another tab (or this one) moved the marker; recount what is still unread. */
export function readUpdated(roomId, lastRead) {
  const d = state.data.get(roomId);
  if (!d || !state.rooms.has(roomId) || !lastRead) return;
  if (d.lastRead && cmpId(lastRead, d.lastRead) < 0) return;
  d.lastRead = lastRead;
  const first = d.messages[0];
  if (d.last && cmpId(lastRead, d.last.id) >= 0) markRead(roomId);
  else if (d.loaded && first && cmpId(first.id, lastRead) <= 0) {
    const unread = d.messages.filter((m) => cmpId(m.id, lastRead) > 0 && !isMine(m));
    d.unread = unread.length;
    d.mentions = unread.filter(mentionsMe).length;
    d.recent = d.recent.filter((r) => cmpId(r.id, lastRead) > 0);
  } else return void fetchRoom(roomId).catch(() => {});
  emit('rooms');
}

/** A message was deleted: if it may have been unread, take the counts from the server again. */
export function unreadDeleted(roomId, id) {
  const d = state.data.get(roomId);
  if (!d || !d.server || !d.unread || (d.lastRead && cmpId(id, d.lastRead) <= 0)) return;
  d.recent = d.recent.filter((r) => r.id !== id);
  fetchRoom(roomId).catch(() => {});
}

/** Words for a room's counts, e.g. "3 unread, 1 mention". */
export function countsText(d) {
  if (!d.unread && !d.mark) return '';
  const parts = [d.unread ? `${d.unread} unread` : 'unread messages'];
  if (d.mentions) parts.push(`${d.mentions} mention${d.mentions === 1 ? '' : 's'}`);
  return parts.join(', ');
}

// Counts re-read from the server (a reconnect, a join) may include what the open room shows already.
on('rooms', () => readIfSeen(state.current));
