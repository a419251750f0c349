// The sidebar: room list with previews and unread marks, new room and public room dialogs, the user's footer.
import { api } from './api.js';
import { createRoom, joinPublicRoom, signOut } from './actions.js';
import { h, avatar, nameOf, srOnly, iconButton, field, checkField, modal, toast, shortWhen } from './dom.js';
import { icon } from './icons.js';
import { aiModes, select } from './members.js';
import { openProfile } from './profile.js';
import { navigate } from './router.js';
import { notifyButton } from './notify.js';
import { openSearch } from './search.js';
import { state, on, roomData, sortedRooms } from './store.js';
import { countsText } from './unread.js';

let list = null;
let footer = null;

function previewText(m) {
  if (!m) return 'No messages yet';
  const who = m.author_type === 'ai' ? 'AI' : m.author_type === 'system' ? '' : nameOf(m.author);
  // A rough plain-text view of the Markdown source is enough for a one-line preview.
  const plain = m.content.replace(/[*_~`#>]+/g, '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
  const text = plain.replace(/\s+/g, ' ').trim() || (m.image_url ? 'Image' : '');
  return who ? `${who}: ${text}` : text;
}

function badges(d) {
  const mention = d.mentions > 0 ? h('span', { class: 'badge mention', text: `@${d.mentions}` }) : null;
  if (d.unread > 0) return h('span', { class: 'badges', 'aria-hidden': 'true' }, mention, h('span', { class: 'badge', text: String(d.unread) }));
  return d.mark ? h('span', { class: 'dot', 'aria-hidden': 'true' }) : null;
}

function roomItem(room) {
  const d = roomData(room.id);
  const counts = countsText(d);
  const link = h(
    'a',
    {
      href: `/rooms/${encodeURIComponent(room.id)}`,
      'data-route': '',
      class: `room-item${counts ? ' unread' : ''}`,
      'aria-current': room.id === state.current ? 'page' : null,
    },
    h('span', { class: 'room-icon', 'aria-hidden': 'true' }, icon(room.is_public ? 'hash' : 'lock')),
    h(
      'span',
      { class: 'room-text' },
      h('span', { class: 'room-name', text: room.name }),
      h('span', { class: 'room-preview', text: previewText(d.last) }),
    ),
    h(
      'span',
      { class: 'room-meta' },
      d.last ? h('time', { datetime: d.last.created_at, text: shortWhen(d.last.created_at) }) : null,
      badges(d),
    ),
    counts ? srOnly(`, ${counts}`) : null,
  );
  return h('li', {}, link);
}

/** Re-render the room list (keeping keyboard focus) and the unread count in the title. */
export function renderRoomList() {
  if (!list) return;
  const rooms = sortedRooms();
  const total = rooms.reduce((n, r) => n + roomData(r.id).unread, 0);
  document.title = total ? `(${total}) GroupChat` : 'GroupChat';
  if (!rooms.length) {
    list.replaceChildren(
      h(
        'li',
        { class: 'list-empty' },
        h('p', { text: 'No rooms yet.' }),
        h('p', { class: 'hint', text: 'Create one, or browse the public rooms.' }),
      ),
    );
    return;
  }
  const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
  list.replaceChildren(...rooms.map(roomItem));
  if (focused) list.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
}

/** The link to /admin, shown to server admins only. */
function adminLink() {
  const label = 'Server admin';
  return h(
    'a',
    { href: '/admin', 'data-route': '', class: 'icon-btn', 'aria-label': label, title: label },
    icon('shield'),
  );
}

function renderFooter() {
  if (!footer || !state.me) return;
  footer.replaceChildren(
    avatar(state.me, 'sm'),
    h(
      'div',
      { class: 'me-text' },
      h('span', { class: 'me-name', text: nameOf(state.me) }),
      h('span', { class: 'me-sub', text: `@${state.me.username}` }),
    ),
    iconButton('user', 'Profile', openProfile),
    state.me.is_admin ? adminLink() : null,
    iconButton('logout', 'Sign out', () => signOut()),
  );
}

/** The bell asking for notification permission; gone once the browser has an answer. */
function renderBell() {
  const bell = notifyButton(() => {
    const focus = document.activeElement === bell;
    bell.remove();
    if (focus) document.querySelector('.side-head .icon-btn')?.focus();
  });
  return bell;
}

/** Build the sidebar element. */
export function createSidebar() {
  list = h('ul', { class: 'room-list' });
  footer = h('footer', { class: 'me' });
  const head = h(
    'header',
    { class: 'side-head' },
    h(
      'a',
      { href: '/', 'data-route': '', class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, icon('chat')),
      'GroupChat',
    ),
    renderBell(),
    iconButton('compass', 'Browse public rooms', openBrowse),
    iconButton('plus', 'New room', openCreate),
  );
  const side = h(
    'aside',
    { class: 'sidebar' },
    head,
    h('button', { type: 'button', class: 'search-open', onclick: () => openSearch() }, icon('search'), 'Search messages'),
    h('nav', { class: 'rooms-nav', 'aria-label': 'Your rooms' }, h('h2', { class: 'side-title', text: 'Rooms' }), list),
    footer,
  );
  renderRoomList();
  renderFooter();
  return side;
}

function openCreate() {
  const name = h('input', { type: 'text', required: true, maxlength: '100', autocomplete: 'off' });
  const desc = h('textarea', { rows: '2', maxlength: '1000' });
  const pub = h('input', { type: 'checkbox' });
  const mode = select(aiModes(), 'mention');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary', text: 'Create room' });
  const form = h(
    'form',
    { class: 'stack' },
    field('Room name', name),
    field('Description', desc),
    checkField('Public room', pub, 'Anyone signed in can find and join it.'),
    field('AI answers', mode),
    error,
    h('div', { class: 'actions' }, submit),
  );
  const dlg = modal('New room', form);
  name.focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      const room = await createRoom({
        name: name.value.trim(),
        description: desc.value.trim(),
        is_public: pub.checked,
        ai_mode: mode.value,
      });
      dlg.close();
      navigate(`/rooms/${encodeURIComponent(room.id)}`);
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
    }
  });
}

function publicItem(room, dlg) {
  const member = state.rooms.has(room.id);
  const btn = h(
    'button',
    { type: 'button', class: member ? 'btn small' : 'btn small primary' },
    member ? 'Open' : 'Join',
    srOnly(` ${room.name}`),
  );
  btn.addEventListener('click', async () => {
    try {
      if (!member) await joinPublicRoom(room.id);
      dlg.close();
      navigate(`/rooms/${encodeURIComponent(room.id)}`);
    } catch (e) {
      toast(e.message, 'error');
    }
  });
  const meta = `${room.member_count} member${room.member_count === 1 ? '' : 's'}`;
  return h(
    'li',
    { class: 'public-room' },
    h('span', { class: 'room-icon', 'aria-hidden': 'true' }, icon('hash')),
    h(
      'div',
      { class: 'room-text' },
      h('span', { class: 'room-name', text: room.name }),
      h('span', { class: 'room-preview', text: room.description || meta }),
      room.description ? h('span', { class: 'hint', text: meta }) : null,
    ),
    btn,
  );
}

async function openBrowse() {
  const filter = h('input', { type: 'search', autocomplete: 'off' });
  const items = h('ul', { class: 'public-list' }, h('li', { class: 'loading', text: 'Loading…' }));
  const dlg = modal('Public rooms', [field('Filter', filter), items], { cls: 'wide' });
  let rooms = [];
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = rooms.filter((r) => !q || `${r.name} ${r.description}`.toLowerCase().includes(q));
    items.replaceChildren(
      ...(shown.length
        ? shown.map((r) => publicItem(r, dlg))
        : [
            h('li', {
              class: 'list-empty',
              text: rooms.length ? 'No room matches.' : 'There are no public rooms yet.',
            }),
          ]),
    );
  };
  filter.addEventListener('input', render);
  try {
    rooms = (await api.get('/api/rooms?scope=public')).rooms;
    render();
  } catch (e) {
    items.replaceChildren(h('li', { class: 'form-error', text: e.message }));
  }
}

on('rooms', renderRoomList);
on('me', renderFooter);
