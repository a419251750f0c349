// Loading a message with what surrounds it (a search hit opened in its room): a page before it,
// and every page after it up to the messages already loaded (or the newest), so the history stays
// one unbroken run that live messages can extend.
import { api, enc } from './api.js';
import { syncRoom } from './events.js';
import { addMessages, cmpId, roomData } from './store.js';

const BEFORE = 25;
const AFTER_PAGES = 20;

async function pagesAfter(roomId, id, stopAt) {
  const found = [];
  let after = id;
  for (let page = 0; page < AFTER_PAGES; page += 1) {
    const res = await api.get(`/api/rooms/${enc(roomId)}/messages?limit=200&after=${enc(after)}`);
    found.push(...res.messages);
    const last = res.messages.at(-1);
    if (!res.has_more || !last || (stopAt && cmpId(last.id, stopAt) >= 0)) break;
    after = last.id;
  }
  return found;
}

/** Load `message` of a room with the messages around it into the store. */
export async function loadAround(roomId, message) {
  const d = roomData(roomId);
  const wasLoaded = d.loaded;
  const stopAt = wasLoaded && d.messages.length ? d.messages[0].id : null;
  d.loading = true;
  try {
    const path = `/api/rooms/${enc(roomId)}/messages?limit=${BEFORE}&before=${enc(message.id)}`;
    const [before, after] = await Promise.all([api.get(path), pagesAfter(roomId, message.id, stopAt)]);
    addMessages(roomId, [...before.messages, message, ...after]);
    d.hasMore = before.has_more;
    d.loaded = true;
  } finally {
    d.loading = false;
  }
  // Joined before these pages were read: fetch what came after them (as a first load does).
  if (!wasLoaded && d.joined) syncRoom(roomId, d.messages.at(-1).id);
}
