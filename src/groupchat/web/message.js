// Rendering of one message row: user/AI/system messages, pending sends and live AI streams.
import { h, avatar, nameOf, timeEl, dayLabel, uid, srOnly } from './dom.js';
import { icon } from './icons.js';
import { state, isMine } from './store.js';
import { money } from './usage.js';
import { editedMark } from './history.js';
import { reactionChips } from './reactions.js';
import { authorName, replyQuote } from './reply.js';
import { messageToolbar, refocus } from './toolbar.js';

const DROP_TAGS = new Set([
  'script',
  'style',
  'iframe',
  'object',
  'embed',
  'link',
  'meta',
  'base',
  'form',
  'frame',
  'frameset',
]);
const URL_ATTRS = new Set(['href', 'src', 'xlink:href', 'action', 'formaction', 'srcset', 'poster']);

function safeUrl(value) {
  const v = value.replace(/[\u0000-\u0020\u007f]/g, '');
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(v);
  return !scheme || ['http', 'https', 'mailto'].includes(scheme[1].toLowerCase());
}

/** Parse server-sanitized content_html into an inert fragment, re-checking it (defence in depth). */
export function htmlFragment(html) {
  const tpl = document.createElement('template');
  tpl.innerHTML = html; // The only innerHTML in the client: content_html is sanitized by the server (API.md).
  for (const el of tpl.content.querySelectorAll('*')) {
    if (DROP_TAGS.has(el.localName)) {
      el.remove();
      continue;
    }
    for (const attr of [...el.attributes]) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on') || name === 'style' || name === 'srcdoc') el.removeAttribute(attr.name);
      else if (URL_ATTRS.has(name) && !safeUrl(attr.value)) el.removeAttribute(attr.name);
    }
    if (el.localName === 'a') {
      el.target = '_blank';
      el.rel = 'noopener noreferrer nofollow';
    }
  }
  return tpl.content;
}

function hostOf(url) {
  try {
    return new URL(url).hostname.replace(/^www\./, '');
  } catch {
    return String(url || 'a page');
  }
}

/** Words for a tool call: "Searching the web for “x”", "Reading example.com". */
export function toolText(tool, input, done) {
  const i = input || {};
  if (tool === 'web_search') return `${done ? 'Searched' : 'Searching'} the web for “${i.query ?? ''}”`;
  if (tool === 'fetch_page') return `${done ? 'Read' : 'Reading'} ${hostOf(i.url)}`;
  return `${done ? 'Used' : 'Using'} ${tool}`;
}

function toolItem(t, done) {
  const status = t.status === 'failed' ? 'failed' : t.status === 'finished' ? 'done' : 'busy';
  const mark =
    status === 'busy'
      ? h('span', { class: 'spinner', 'aria-hidden': 'true' })
      : icon(status === 'done' ? 'check' : 'alert');
  const suffix = status === 'failed' ? ' (failed)' : '';
  return h('li', { class: `tool ${status}` }, mark, h('span', { text: toolText(t.tool, t.input, done) + suffix }));
}

function modelName(id) {
  return String(id || '')
    .split('/')
    .pop();
}

function header(name, iso, extra, after) {
  return h(
    'header',
    { class: 'msg-head' },
    h('span', { class: 'author', text: name }),
    extra,
    iso ? timeEl(iso) : null,
    after,
  );
}

function gutter(user, iso, isAi) {
  return h('div', { class: 'gutter' }, isAi ? avatar(null) : avatar(user), iso ? timeEl(iso, 'gutter-time') : null);
}

function imageBlock(url, who) {
  return h(
    'a',
    { class: 'msg-image', href: url, target: '_blank', rel: 'noopener' },
    h('img', { src: url, alt: `Image shared by ${who}`, loading: 'lazy' }),
  );
}

function detailsBlock(meta) {
  const id = uid('ai');
  const row = (k, v) => [h('dt', { text: k }), h('dd', { text: v })];
  const tools = (meta.tools || []).map((t) => `${t.name}${t.ok ? '' : ' (failed)'}`).join(', ');
  const dl = h(
    'dl',
    { class: 'ai-details', id, hidden: true },
    row('Model', meta.model),
    row('Tokens', `${meta.prompt_tokens} prompt · ${meta.completion_tokens} completion · ${meta.total_tokens} total`),
    row('Cost', meta.cost == null ? 'not reported' : money(meta.cost)),
    row('Latency', `${(meta.latency_ms / 1000).toFixed(1)} s`),
    row('Finish', meta.finish_reason),
    tools ? row('Tools', tools) : null,
  );
  const btn = h(
    'button',
    { type: 'button', class: 'link-btn', 'aria-expanded': 'false', 'aria-controls': id },
    'Details',
  );
  btn.addEventListener('click', () => {
    dl.hidden = !dl.hidden;
    btn.setAttribute('aria-expanded', String(!dl.hidden));
  });
  return h('div', { class: 'ai-foot' }, btn, dl);
}

function aiTools(m) {
  const tools = (m.ai?.tools || []).map((t) =>
    toolItem({ tool: t.name, input: t.input, status: t.ok ? 'finished' : 'failed' }, true),
  );
  return tools.length ? h('ul', { class: 'tools' }, tools) : null;
}

function aiFooter(m) {
  const meta = m.ai;
  if (!meta) return null;
  const error = state.aiErrors.get(m.id);
  let note = null;
  if (meta.finish_reason === 'cancelled') note = error || 'Stopped before the answer was finished.';
  else if (meta.finish_reason === 'error') note = error || 'The answer was cut short by an error.';
  return [note ? h('p', { class: 'ai-note', text: note }) : null, detailsBlock(meta)];
}

function bodyOf(m) {
  if (!m.content_html) return null;
  return h('div', { class: 'md' }, htmlFragment(m.content_html));
}

/** The note under a message whose AI answer was refused (a spending limit), in the server's words. */
export function refusalNote(detail) {
  return h('p', { class: 'ai-refused' }, icon('alert'), h('span', { text: detail }));
}

/** A row for a stored message (the `day` divider shows when it starts a new day). */
export function renderMessage(m) {
  const row = h(
    'div',
    { class: 'row', dataset: { id: m.id } },
    h('div', { class: 'day', hidden: true }, h('span', { text: dayLabel(m.created_at) })),
  );
  row.msg = m;
  if (m.author_type === 'system') {
    row.append(h('div', { class: 'msg system' }, bodyOf(m), timeEl(m.created_at), messageToolbar(m, row)));
    return row;
  }
  const isAi = m.author_type === 'ai';
  const name = authorName(m);
  const tag = isAi && m.ai ? h('span', { class: 'tag', text: modelName(m.ai.model) }) : null;
  const cls = `msg${isAi ? ' ai' : ''}${isMine(m) ? ' mine' : ''}`;
  row.append(
    h(
      'article',
      { class: cls },
      gutter(m.author, m.created_at, isAi),
      h(
        'div',
        { class: 'msg-main' },
        header(name, m.created_at, tag, editedMark(m, () => refocus(m.id, 'history'))),
        replyQuote(m),
        isAi ? aiTools(m) : null,
        bodyOf(m),
        m.image_url ? imageBlock(m.image_url, name) : null,
        h('div', { class: 'reactions-slot' }, reactionChips(m)),
        isAi ? aiFooter(m) : null,
        state.refusals.has(m.id) ? refusalNote(state.refusals.get(m.id)) : null,
      ),
      messageToolbar(m, row),
    ),
  );
  return row;
}

/**
 * Show a message's new reactions in its row without rendering the rest again (screen readers
 * hear the chips, not the whole message once more); keeps the focus on the same chip.
 */
export function updateReactions(row, m) {
  const slot = row.querySelector('.reactions-slot');
  if (!slot) return;
  const focused = slot.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  row.msg = m;
  slot.replaceChildren(reactionChips(m) || '');
  if (!focused) return;
  const same = slot.querySelector(`[data-key="${CSS.escape(focused)}"]`);
  (same || row.querySelector('[data-key="react"]'))?.focus();
}

/** A row for a message still on its way (pending, queued or failed). */
export function renderPending(p, { onRetry, onDiscard }) {
  const me = state.me;
  const row = h('div', { class: 'row', dataset: { client: p.client_id } });
  row.msg = { author_type: 'user', author: me, created_at: p.created_at };
  const status = {
    sending: 'Sending…',
    sent: 'Sending…',
    unconfirmed: 'Sending…',
    queued: 'Waiting for connection…',
  }[p.status];
  const body = p.content ? h('div', { class: 'md plain', text: p.content }) : null;
  const image = p.preview || p.image_url ? imageBlock(p.preview || p.image_url, nameOf(me)) : null;
  const foot =
    p.status === 'failed'
      ? h(
          'div',
          { class: 'msg-status failed', role: 'alert' },
          h('span', { text: `Not sent: ${p.error}` }),
          h('button', { type: 'button', class: 'link-btn', onclick: onRetry, text: 'Retry' }),
          h('button', { type: 'button', class: 'link-btn', onclick: onDiscard, text: 'Discard' }),
        )
      : h('div', { class: 'msg-status', text: status });
  row.append(
    h(
      'article',
      { class: `msg mine pending${p.status === 'failed' ? ' failed' : ''}` },
      gutter(me, null, false),
      h(
        'div',
        { class: 'msg-main' },
        header(nameOf(me), p.created_at),
        replyQuote({ room_id: p.room_id, reply_to: p.reply }),
        body,
        image,
        foot,
      ),
    ),
  );
  return row;
}

/** A row for an AI answer that is streaming; call row.update() after the stream changes. */
export function renderStream(s, onStop) {
  const text = h('div', { class: 'md plain stream-text' });
  const tools = h('ul', { class: 'tools' });
  const thinking = h(
    'div',
    { class: 'thinking' },
    h('span', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
    'Thinking…',
  );
  const stopLabel = h('span', { text: 'Stop' });
  const stop = h('button', { type: 'button', class: 'btn small stop' }, icon('stop'), stopLabel);
  stop.addEventListener('click', () => {
    stop.disabled = true;
    stopLabel.textContent = 'Stopping…';
    onStop();
  });
  const tag = h('span', { class: 'tag' });
  const article = h(
    'article',
    { class: 'msg ai streaming', 'aria-busy': 'true' },
    gutter(null, null, true),
    h(
      'div',
      { class: 'msg-main' },
      header('AI', null, tag),
      tools,
      thinking,
      text,
      h('div', { class: 'ai-foot' }, stop, srOnly('The AI is answering')),
    ),
  );
  const row = h('div', { class: 'row stream', dataset: { stream: s.id } }, article);
  row.update = () => {
    text.textContent = s.text;
    thinking.hidden = !!s.text;
    tag.textContent = modelName(s.model);
    tag.hidden = !s.model;
    tools.replaceChildren(...s.tools.map((t) => toolItem(t, false)));
  };
  row.update();
  return row;
}

/** A short-lived note in the log, e.g. an AI error when nothing was stored. */
export function renderNote(text) {
  return h('div', { class: 'row note' }, h('div', { class: 'msg system error' }, icon('alert'), h('span', { text })));
}
