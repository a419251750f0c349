// Outgoing messages: shown at once as pending, sent over the socket with a client_id, reconciled on echo.
import { uploadFile } from './api.js';
import { randomId } from './dom.js';
import { socket } from './socket.js';
import { excerptOf } from './changes.js';
import { state, emit, roomData } from './store.js';

function replyRef(m) {
  const { id, author_type, author } = m;
  return { id, author_type, author, excerpt: excerptOf(m.content), deleted: false };
}

function changed(roomId) {
  emit('pending', { roomId });
}

/** Queue a message (optional image file, optional message it replies to); it appears immediately. */
export async function sendMessage(roomId, content, file, replyTo = null) {
  const p = {
    client_id: randomId(),
    room_id: roomId,
    content,
    image_url: null,
    reply_to: replyTo ? replyTo.id : null,
    reply: replyTo ? replyRef(replyTo) : null, // the quote shown while it is on its way
    file: file || null,
    preview: file ? URL.createObjectURL(file) : null,
    status: 'sending',
    error: null,
    created_at: new Date().toISOString(),
  };
  roomData(roomId).pending.push(p);
  changed(roomId);
  await transmit(p);
}

async function transmit(p) {
  if (p.file) {
    p.status = 'sending';
    changed(p.room_id);
    try {
      const up = await uploadFile('/api/upload', p.file);
      p.image_url = up.url;
      p.file = null;
    } catch (e) {
      return fail(p, `The image could not be uploaded: ${e.message}`);
    }
  }
  const frame = { type: 'send_message', room_id: p.room_id, content: p.content, client_id: p.client_id };
  if (p.image_url) frame.image_url = p.image_url;
  if (p.reply_to) frame.reply_to = p.reply_to;
  p.status = socket.send(frame) ? 'sent' : 'queued';
  p.sentAt = Date.now();
  changed(p.room_id);
}

function fail(p, error) {
  p.status = 'failed';
  p.error = error;
  changed(p.room_id);
}

function removePending(d, p) {
  d.pending.splice(d.pending.indexOf(p), 1);
  if (p.preview) URL.revokeObjectURL(p.preview);
}

/** Drop the pending copy of a message the server sent back; true when one matched. */
export function reconcile(roomId, message, clientId) {
  const d = state.data.get(roomId);
  if (!d || !d.pending.length) return false;
  let p = clientId ? d.pending.find((x) => x.client_id === clientId) : null;
  // After a reconnect the echo may come from history (no client_id): match own text and image.
  if (!p && !clientId && message.author && state.me && message.author.id === state.me.id) {
    p = d.pending.find(
      (x) =>
        (x.status === 'sent' || x.status === 'unconfirmed') &&
        x.content.trim() === message.content.trim() &&
        (x.image_url || null) === (message.image_url || null),
    );
  }
  if (!p) return false;
  removePending(d, p);
  changed(roomId);
  return true;
}

/** The socket dropped: messages still waiting for their echo may or may not have been stored. */
export function markUnconfirmed() {
  for (const d of state.data.values()) for (const p of d.pending) if (p.status === 'sent') p.status = 'unconfirmed';
}

/** Send what waited for the connection, and resend what history did not show after a drop. */
export function flushOutbox(roomId) {
  const d = state.data.get(roomId);
  if (!d) return;
  for (const p of [...d.pending]) if (p.status === 'queued' || p.status === 'unconfirmed') transmit(p);
}

/** Mark the message an error frame names by client_id as failed; true if there was one. */
export function failByClientId(clientId, detail) {
  for (const d of state.data.values()) {
    const p = d.pending.find((x) => x.client_id === clientId);
    if (p) {
      fail(p, detail);
      return true;
    }
  }
  return false;
}

/** An error frame without client_id (not about a send): blame the oldest message in flight. */
export function failOldestInFlight(detail) {
  let oldest = null;
  for (const d of state.data.values()) {
    for (const p of d.pending) {
      const recent = p.status === 'sent' && Date.now() - p.sentAt < 15000;
      if (recent && (!oldest || p.sentAt < oldest.sentAt)) oldest = p;
    }
  }
  if (oldest) fail(oldest, detail);
  return !!oldest;
}

/** Try a failed message again. */
export function retry(roomId, clientId) {
  const p = roomData(roomId).pending.find((x) => x.client_id === clientId);
  if (p) transmit(p);
}

/** Give up on a failed message. */
export function discard(roomId, clientId) {
  const d = roomData(roomId);
  const p = d.pending.find((x) => x.client_id === clientId);
  if (p) removePending(d, p);
  changed(roomId);
}
