// Replies: the quote shown in a reply (jumps to the original) and the "replying to" bar above the composer.
import { h, iconButton, nameOf, uid } from './dom.js';
import { icon } from './icons.js';
import { excerptOf } from './changes.js';
import { emit } from './store.js';

/** Who wrote a message (or a ReplyRef), in words. */
export function authorName(m) {
  if (m.author_type === 'ai') return 'AI';
  if (m.author_type === 'system') return 'System';
  return nameOf(m.author);
}

/** The quote above a reply: a button that jumps to the original, or a note once it is deleted. */
export function replyQuote(m) {
  const ref = m.reply_to;
  if (!ref) return null;
  if (ref.deleted) {
    return h('p', { class: 'reply-quote deleted' }, icon('reply'), h('span', { text: 'Reply to a deleted message' }));
  }
  const who = authorName(ref);
  const btn = h(
    'button',
    { type: 'button', class: 'reply-quote', 'aria-label': `Reply to ${who}: ${ref.excerpt} (go to the message)` },
    icon('reply'),
    h('span', { class: 'reply-author', text: who }),
    h('span', { class: 'reply-excerpt', text: ref.excerpt || 'an image' }),
  );
  btn.addEventListener('click', () => emit('jump', { roomId: m.room_id, id: ref.id }));
  return btn;
}

/** Ask the open conversation's composer to reply to a message. */
export function startReply(m) {
  emit('reply', { roomId: m.room_id, message: m });
}

/**
 * The bar above the composer while replying: {el, set(message), clear(), id(), target()}; `onCancel` runs
 * when its close button is used.
 */
export function replyBar(onCancel) {
  const text = h('span', { class: 'reply-bar-text', id: uid('reply') });
  let target = null;
  const cancel = iconButton('x', 'Cancel reply', () => {
    clear();
    onCancel();
  });
  const el = h('div', { class: 'reply-bar', hidden: true }, icon('reply'), text, cancel);
  function set(m) {
    target = m;
    const excerpt = excerptOf(m.content) || 'an image';
    const quote = h('span', { class: 'reply-excerpt', text: `: ${excerpt}` });
    text.replaceChildren('Replying to ', h('strong', { text: authorName(m) }), quote);
    el.hidden = false;
  }
  function clear() {
    target = null;
    el.hidden = true;
    text.replaceChildren();
  }
  return { el, set, clear, textId: text.id, id: () => (target ? target.id : null), target: () => target };
}
