// The message composer: textarea (Enter sends, Shift+Enter newline), image attach/paste/drop with preview, typing.
import { h, toast, iconButton } from './dom.js';
import { icon } from './icons.js';
import { sendMessage } from './outbox.js';
import { mentionsAutocomplete } from './mentions-autocomplete.js';
import { replyBar } from './reply.js';
import { socket } from './socket.js';
import { typingSender } from './typing.js';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** Build the composer for a room; returns {el, focus(), attach(file), replyTo(message), destroy()}. */
export function createComposer(roomId, roomName) {
  let file = null;
  let previewUrl = null;
  const typing = typingSender((isTyping) => socket.send({ type: 'typing', room_id: roomId, is_typing: isTyping }));
  const input = h('textarea', {
    id: 'composer-input',
    rows: '1',
    placeholder: `Write to ${roomName}…`,
    title: 'Enter sends, Shift+Enter starts a new line',
    autocomplete: 'off',
  });
  const fileInput = h('input', {
    type: 'file',
    accept: IMAGE_TYPES.join(','),
    class: 'sr-only',
    tabindex: '-1',
    'aria-hidden': 'true',
  });
  const preview = h('div', { class: 'attachment', hidden: true });
  const mentions = mentionsAutocomplete(input, roomId);
  const reply = replyBar(() => {
    input.removeAttribute('aria-describedby');
    input.focus();
  });
  const sendBtn = h(
    'button',
    { type: 'submit', class: 'send-btn', 'aria-label': 'Send', title: 'Send (Enter)' },
    icon('send'),
  );
  const attachBtn = iconButton('image', 'Attach image', () => fileInput.click());
  const form = h(
    'form',
    { class: 'composer', 'aria-label': 'Send a message' },
    reply.el,
    preview,
    h(
      'div',
      { class: 'composer-box' },
      h('label', { for: input.id, class: 'composer-label', text: 'Message' }),
      mentions.el,
      h('div', { class: 'composer-row' }, attachBtn, input, sendBtn),
    ),
    fileInput,
  );

  const grow = () => {
    sendBtn.disabled = !input.value.trim() && !file;
    if (!input.isConnected) return;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
  };

  function clearAttachment() {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    file = null;
    previewUrl = null;
    preview.hidden = true;
    preview.replaceChildren();
    fileInput.value = '';
    grow();
  }

  function attach(f) {
    if (!IMAGE_TYPES.includes(f.type)) return toast('Only PNG, JPEG, GIF and WebP images can be sent.', 'error');
    clearAttachment();
    file = f;
    previewUrl = URL.createObjectURL(f);
    const remove = iconButton(
      'x',
      'Remove image',
      () => {
        clearAttachment();
        input.focus();
      },
      'icon-btn remove',
    );
    preview.replaceChildren(
      h('img', { src: previewUrl, alt: `Image to send: ${f.name || 'pasted image'}` }),
      h('span', { class: 'attachment-name', text: f.name || 'Pasted image' }),
      remove,
    );
    preview.hidden = false;
    grow();
    input.focus();
  }

  function submit() {
    const content = input.value.trim();
    if (!content && !file) return;
    const f = file;
    file = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    preview.replaceChildren();
    fileInput.value = '';
    input.value = '';
    grow();
    typing.stop();
    sendMessage(roomId, content, f, reply.target());
    endReply();
  }

  function replyTo(m) {
    reply.set(m);
    input.setAttribute('aria-describedby', reply.textId);
    input.focus();
  }

  function endReply() {
    reply.clear();
    input.removeAttribute('aria-describedby');
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (e) => {
    if (mentions.onKey(e)) return;
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === 'Escape' && reply.id()) {
      e.preventDefault();
      endReply();
    }
  });
  input.addEventListener('input', () => {
    grow();
    if (input.value.trim()) typing.input();
    else typing.stop();
  });
  input.addEventListener('blur', () => typing.stop());
  fileInput.addEventListener('change', () => fileInput.files[0] && attach(fileInput.files[0]));
  input.addEventListener('paste', (e) => {
    const item = [...(e.clipboardData?.items || [])].find((i) => i.kind === 'file' && i.type.startsWith('image/'));
    if (!item) return;
    e.preventDefault();
    attach(item.getAsFile());
  });
  requestAnimationFrame(grow);
  window.addEventListener('resize', grow);
  const destroy = () => {
    typing.stop();
    mentions.destroy();
    window.removeEventListener('resize', grow);
  };
  return { el: form, focus: () => input.focus(), attach, replyTo, destroy };
}

/** Make an element accept dropped image files, highlighting it while dragging. */
export function acceptDrops(el, onFile) {
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
  el.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    el.classList.add('dragging');
  });
  el.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) el.classList.remove('dragging');
  });
  el.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  el.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    el.classList.remove('dragging');
    const f = [...e.dataTransfer.files].find((x) => x.type.startsWith('image/'));
    if (f) onFile(f);
  });
}
