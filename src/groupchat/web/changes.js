// Changes to stored messages (edits, deletions, reactions), from events or our own calls, applied to the store.
import { loadPreview } from './actions.js';
import { emit, removeMessage, replaceMessage, state } from './store.js';

/** The reply excerpt the server would give: the first 140 characters of the current content. */
export function excerptOf(content) {
  return Array.from(content || '')
    .slice(0, 140)
    .join('');
}

/** Update the quotes of loaded replies to `id`; returns the ids of the replies changed. */
function touchReplies(roomId, id, change) {
  const d = state.data.get(roomId);
  const ids = [];
  for (const m of d ? d.messages : []) {
    if (!m.reply_to || m.reply_to.id !== id) continue;
    replaceMessage(roomId, { ...m, reply_to: { ...m.reply_to, ...change } });
    ids.push(m.id);
  }
  return ids;
}

/** A message was edited (message_updated, or our own PATCH answer). */
export function messageUpdated(message) {
  const roomId = message.room_id;
  if (!state.data.has(roomId)) return;
  const known = replaceMessage(roomId, message);
  const ids = touchReplies(roomId, message.id, { excerpt: excerptOf(message.content) });
  if (known) ids.push(message.id);
  if (ids.length) emit('updated', { roomId, ids });
  if (state.data.get(roomId).last?.id === message.id) emit('rooms'); // the room list shows its preview
}

/** A message was deleted (message_deleted, or our own DELETE). */
export function messageDeleted(roomId, id) {
  const d = state.data.get(roomId);
  if (!d) return;
  const wasLast = d.last && d.last.id === id;
  if (removeMessage(roomId, id)) emit('removed', { roomId, id });
  if (wasLast && !d.loaded) loadPreview(roomId); // the room list shows the message before it
  const ids = touchReplies(roomId, id, { excerpt: '', deleted: true });
  if (ids.length) emit('updated', { roomId, ids });
  emit('rooms');
}

/**
 * After a reconnect: bring the loaded messages a fresh page covers (newest first fetched) up to
 * date, since the edits, deletions and reactions made meanwhile sent no event we saw.
 */
export function refreshWindow(roomId, page) {
  const d = state.data.get(roomId);
  if (!d || !page.length) return;
  const fresh = new Map(page.map((m) => [m.id, m]));
  const [first, last] = [page[0].id, page.at(-1).id];
  for (const m of [...d.messages]) {
    if (m.id < first || m.id > last) continue;
    const now = fresh.get(m.id);
    if (!now) messageDeleted(roomId, m.id);
    else if (now.edited_at !== m.edited_at || JSON.stringify(now.reactions) !== JSON.stringify(m.reactions))
      messageUpdated(now);
  }
}

/** Add or remove one user's reaction on a loaded message (idempotent: events echo our own calls). */
export function reactionChanged(roomId, messageId, emoji, userId, added) {
  const m = state.data.get(roomId)?.byId.get(messageId);
  if (!m) return;
  const reactions = (m.reactions || []).map((r) => ({ ...r, user_ids: [...r.user_ids] }));
  let r = reactions.find((x) => x.emoji === emoji);
  if (added && !r) reactions.push((r = { emoji, count: 0, user_ids: [] }));
  if (!r || r.user_ids.includes(userId) === added) return;
  r.user_ids = added ? [...r.user_ids, userId] : r.user_ids.filter((u) => u !== userId);
  r.count = r.user_ids.length;
  replaceMessage(roomId, { ...m, reactions: reactions.filter((x) => x.count > 0) });
  emit('updated', { roomId, ids: [messageId], part: 'reactions' });
}
