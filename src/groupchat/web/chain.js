// The room's hash chain, recomputed in the browser (docs/hash-chain.md): canonical JSON, SHA-256, links.
import { sha256 } from './sha256.js';

const V1_KEYS = ['author_id', 'author_type', 'content', 'created_at', 'id', 'image_url', 'prev_hash', 'room_id', 'v'];
const V2_KEYS = [
  'author_id',
  'author_type',
  'content_sha256',
  'created_at',
  'id',
  'image_url',
  'kind',
  'prev_hash',
  'reply_to',
  'room_id',
  'target_id',
  'v',
];

/** Canonical JSON of the given keys: sorted, every key present (null, never omitted), no whitespace. */
export function canonical(entry, keys) {
  const fields = {};
  for (const k of [...keys].sort()) fields[k] = entry[k] === undefined ? null : entry[k];
  // JSON.stringify escapes exactly as the server's json.dumps(ensure_ascii=False) does.
  return JSON.stringify(fields);
}

/** Lowercase hex SHA-256 of the UTF-8 bytes of a string (WebCrypto; plain JS where a page over HTTP lacks it). */
export async function sha256Hex(text) {
  const bytes = new TextEncoder().encode(text);
  if (!globalThis.crypto || !crypto.subtle) return sha256(bytes);
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The hash a ChainEntry must carry, by the rule of its version. */
export function entryHash(entry) {
  if (entry.v === 1) return sha256Hex(canonical({ ...entry, v: 1 }, V1_KEYS));
  return sha256Hex(canonical({ ...entry, v: 2 }, V2_KEYS));
}

/** A deleted v1 message: its v1 hash covered the erased text, so only its links can be checked. */
export function linksOnly(entry) {
  return entry.v === 1 && entry.content == null;
}

/**
 * Check one entry against the hash before it; returns null when sound, else why it is not
 * ('link', 'content' or 'hash').
 */
export async function checkEntry(entry, prevHash) {
  if ((entry.prev_hash ?? null) !== prevHash) return 'link';
  if (linksOnly(entry)) return null;
  if (entry.v !== 1 && entry.content != null && entry.salt != null) {
    if ((await sha256Hex(entry.salt + entry.content)) !== entry.content_sha256) return 'content';
  }
  if ((await entryHash(entry)) !== entry.hash) return 'hash';
  return null;
}

/** Remember, per message, its entry's hash and the digest of its latest version (edits replace it). */
function note(latest, entry) {
  const kind = entry.kind || 'message';
  if (kind === 'message') latest.set(entry.id, { hash: entry.hash, sha: entry.content_sha256 ?? null });
  else if (kind === 'edit' && latest.has(entry.target_id)) latest.get(entry.target_id).sha = entry.content_sha256;
  else if (kind === 'delete') latest.delete(entry.target_id);
}

/**
 * Walk the chain page by page: `fetchPage(after)` resolves to {entries, has_more}. Calls
 * `progress(checked)` after each page. Resolves to {count, linked, latest} (linked: entries only
 * their links could check) or {count, broken: {entry, index, why}}.
 */
export async function verifyChain(fetchPage, progress = () => {}) {
  let prev = null;
  let after = null;
  let count = 0;
  let linked = 0;
  const latest = new Map();
  for (;;) {
    const page = await fetchPage(after);
    for (const entry of page.entries) {
      const why = await checkEntry(entry, prev);
      if (why) return { count, broken: { entry, index: count, why } };
      note(latest, entry);
      if (linksOnly(entry)) linked += 1;
      prev = entry.hash;
      count += 1;
    }
    progress(count);
    if (!page.has_more || !page.entries.length) return { count, linked, latest };
    after = page.entries.at(-1).id;
  }
}

/**
 * Check a Message as shown against the verified chain (`latest` from verifyChain): null when it
 * matches, 'missing' when the chain has no such message, 'content' when its text is not the latest
 * version the chain recorded.
 */
export async function checkMessage(m, latest) {
  const rec = latest.get(m.id);
  if (!rec || rec.hash !== m.hash) return 'missing';
  if (rec.sha) {
    if (m.salt == null) return null; // nothing to compare the digest with
    return (await sha256Hex(m.salt + m.content)) === rec.sha ? null : 'content';
  }
  // A v1 message never edited: its v1 hash recomputes from the Message itself (not once its
  // author's account is gone: the API no longer gives the id it covered).
  if (m.author_type === 'user' && !m.author) return null;
  const fields = { ...m, v: 1, author_id: m.author ? m.author.id : null };
  return (await sha256Hex(canonical(fields, V1_KEYS))) === m.hash ? null : 'content';
}
