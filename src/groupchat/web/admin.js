// The /admin page (server admins): people (search, promote/demote, disable/enable), new accounts, AI cost.
import { api, enc } from './api.js';
import { h, avatar, nameOf, field, checkField, iconButton, confirmDialog, toast, srOnly, shortWhen } from './dom.js';
import { section } from './members.js';
import { navigate } from './router.js';
import { state, emit } from './store.js';
import { money, usageReport } from './usage.js';

const PAGE = 50;

function badges(u) {
  return [
    u.is_admin ? h('span', { class: 'role role-admin', text: 'admin' }) : null,
    u.disabled ? h('span', { class: 'role role-disabled', text: 'disabled' }) : null,
  ];
}

function facts(u) {
  const seen = u.last_seen_at ? `last seen ${shortWhen(u.last_seen_at)}` : 'never seen';
  return `joined ${shortWhen(u.created_at)} · ${seen} · AI this period ${money(u.ai_cost_period)}`;
}

const CHANGES = {
  promote: (u) => ['Make admin', { is_admin: true }, `${nameOf(u)} will be able to manage every account.`, false],
  demote: (u) => ['Remove admin', { is_admin: false }, `${nameOf(u)} will no longer manage accounts.`, true],
  disable: (u) => [
    'Disable',
    { disabled: true },
    `${nameOf(u)} is signed out everywhere and cannot sign in until enabled again. Rooms and messages stay.`,
    true,
  ],
  enable: (u) => ['Enable', { disabled: false }, `${nameOf(u)} will be able to sign in again.`, false],
};

async function change(u, kind, item) {
  const [label, patch, text, danger] = CHANGES[kind](u);
  if (!(await confirmDialog(`${label}: ${nameOf(u)}?`, text, label, danger))) return;
  let updated;
  try {
    updated = await api.patch(`/api/admin/users/${enc(u.id)}`, patch);
  } catch (e) {
    toast(e.message, 'error');
    return;
  }
  const fresh = userItem(updated);
  item.replaceWith(fresh);
  fresh.querySelector('button')?.focus();
  toast(`${nameOf(updated)}: ${label.toLowerCase()} done.`);
  if (updated.id === state.me.id) {
    state.me = { ...state.me, is_admin: updated.is_admin };
    emit('me');
    if (!updated.is_admin) navigate('/', true);
  }
}

function actionButton(u, kind, item) {
  const [label] = CHANGES[kind](u);
  const cls = kind === 'disable' || kind === 'demote' ? 'btn small danger-outline' : 'btn small';
  const btn = h('button', { type: 'button', class: cls }, label, srOnly(` ${nameOf(u)}`));
  btn.addEventListener('click', () => change(u, kind, item));
  return btn;
}

function userItem(u) {
  const you = u.id === state.me.id ? ' (you)' : '';
  const item = h('li', { class: 'admin-user', dataset: { id: u.id } });
  item.append(
    avatar(u, 'sm'),
    h(
      'div',
      { class: 'member-text' },
      h('span', { class: 'member-name' }, nameOf(u) + you, ' ', badges(u)),
      h('span', { class: 'member-sub', text: `@${u.username} · ${facts(u)}` }),
    ),
    h(
      'div',
      { class: 'member-actions' },
      actionButton(u, u.is_admin ? 'demote' : 'promote', item),
      actionButton(u, u.disabled ? 'enable' : 'disable', item),
    ),
  );
  return item;
}

function peopleSection() {
  const search = h('input', { type: 'search', autocomplete: 'off', spellcheck: 'false' });
  const status = h('p', { class: 'hint', role: 'status' });
  const list = h('ul', { class: 'admin-users' });
  const more = h('button', { type: 'button', class: 'btn small', text: 'Show more', hidden: true });
  let shown = 0;
  let serial = 0;
  const load = async (reset) => {
    const mine = ++serial;
    const offset = reset ? 0 : shown;
    const q = `query=${enc(search.value.trim())}&limit=${PAGE}&offset=${offset}`;
    try {
      const { users, total } = await api.get(`/api/admin/users?${q}`);
      if (mine !== serial) return;
      if (reset) list.replaceChildren();
      list.append(...users.map(userItem));
      shown = offset + users.length;
      status.textContent = total === 1 ? '1 account' : `${total} accounts`;
      more.hidden = shown >= total;
    } catch (e) {
      if (mine === serial) status.textContent = `Could not load the accounts: ${e.message}`;
    }
  };
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => load(true), 250);
  });
  more.addEventListener('click', () => load(false));
  load(true);
  const sec = section('People', field('Search people', search, 'By username or display name.'), status, list, more);
  sec.prepend = (u) => list.prepend(userItem(u));
  return sec;
}

function createSection(people) {
  const username = h('input', { type: 'text', required: true, minlength: '3', maxlength: '32', autocomplete: 'off' });
  const password = h('input', {
    type: 'password',
    required: true,
    minlength: '8',
    maxlength: '256',
    autocomplete: 'new-password',
  });
  const display = h('input', { type: 'text', maxlength: '64', autocomplete: 'off' });
  const admin = h('input', { type: 'checkbox' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn primary', text: 'Create account' });
  const form = h(
    'form',
    { class: 'stack' },
    field('Username', username),
    field('Password', password, 'At least 8 characters. Give it to the person; they can change it in their profile.'),
    field('Display name', display),
    checkField('Server admin', admin),
    error,
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    const body = { username: username.value.trim(), password: password.value, is_admin: admin.checked };
    if (display.value.trim()) body.display_name = display.value.trim();
    try {
      const user = await api.post('/api/admin/users', body);
      people.prepend(user);
      form.reset();
      toast(`Account @${user.username} created.`);
    } catch (err) {
      error.textContent = err.message;
    }
    submit.disabled = false;
  });
  return section('Create an account', form);
}

function usageSection() {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading', text: 'Loading…' }));
  api
    .get('/api/admin/usage?days=30')
    .then((report) => body.replaceChildren(usageReport(report, 'Whole server')))
    .catch((e) => body.replaceChildren(h('p', { class: 'form-error', text: `Could not load the usage: ${e.message}` })))
    .finally(() => body.removeAttribute('aria-busy'));
  return section('AI cost, last 30 days', body);
}

function header(title) {
  return h(
    'header',
    { class: 'chat-head' },
    iconButton('back', 'Back to rooms', () => navigate('/'), 'icon-btn back'),
    h('div', { class: 'chat-title' }, h('h2', { text: title })),
  );
}

/** Render the admin page into `main` (a notice for anyone who is not a server admin). */
export function showAdmin(main) {
  if (!state.me.is_admin) {
    main.replaceChildren(
      h(
        'div',
        { class: 'empty' },
        h('h2', { text: 'Server admins only' }),
        h('p', { text: 'This page is for the people who run this server.' }),
        h('a', { href: '/', 'data-route': '', class: 'btn', text: 'Back to your rooms' }),
      ),
    );
    return;
  }
  const people = peopleSection();
  main.replaceChildren(
    h(
      'section',
      { class: 'page', 'aria-label': 'Server admin' },
      header('Server admin'),
      h('div', { class: 'page-body' }, people, createSection(people), usageSection()),
    ),
  );
}
