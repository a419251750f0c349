// Room settings sections: members (roles, removal) and invite links (create, copy, revoke).
import { api, enc } from './api.js';
import { fetchRoom } from './actions.js';
import { h, avatar, nameOf, srOnly, toast, uid, field, copyText, confirmDialog } from './dom.js';
import { state, canManage, on } from './store.js';

/** A titled section of the settings dialog. */
export function section(title, ...content) {
  const id = uid('sec');
  const heading = h('h3', { id, text: title });
  const el = h('section', { class: 'settings-section', 'aria-labelledby': id }, heading, content);
  el.heading = heading;
  return el;
}

/** A <select> from [value, label] pairs. */
/** The room AI modes as [value, label] pairs for a select. */
export function aiModes() {
  return [
    ['mention', `When mentioned (@${state.aiName})`],
    ['always', 'Every message'],
    ['off', 'Never (AI off)'],
  ];
}

export function select(options, value) {
  const el = h(
    'select',
    {},
    options.map(([v, label]) => h('option', { value: v, text: label })),
  );
  el.value = value;
  return el;
}

function actionButton(label, who, run) {
  const btn = h('button', { type: 'button', class: 'btn small' }, label, srOnly(` ${who}`));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      await run();
    } catch (e) {
      toast(e.message, 'error');
      btn.disabled = false;
    }
  });
  return btn;
}

function memberActions(room, m, reload) {
  const who = nameOf(m.user);
  const base = `/api/rooms/${enc(room.id)}/members/${enc(m.user.id)}`;
  const actions = [];
  if (room.my_role === 'owner' && m.role !== 'owner') {
    const role = m.role === 'admin' ? 'member' : 'admin';
    const label = role === 'admin' ? 'Make admin' : 'Make member';
    actions.push(actionButton(label, who, () => api.patch(base, { role }).then(reload)));
  }
  const mine = m.user.id === state.me.id;
  const mayRemove = room.my_role === 'owner' || (room.my_role === 'admin' && m.role === 'member');
  if (!mine && m.role !== 'owner' && mayRemove) {
    actions.push(
      actionButton('Remove', who, async () => {
        if (await confirmDialog('Remove member?', `${who} will no longer see ${room.name}.`, 'Remove'))
          await api.del(base).then(reload);
      }),
    );
  }
  return actions;
}

function memberItem(room, m, reload) {
  const you = m.user.id === state.me.id ? ' (you)' : '';
  return h(
    'li',
    { class: 'member-row' },
    avatar(m.user, 'sm'),
    h(
      'div',
      { class: 'member-text' },
      h('span', { class: 'member-name', text: nameOf(m.user) + you }),
      h('span', { class: 'member-sub', text: `@${m.user.username}` }),
    ),
    h('span', { class: `role role-${m.role}`, text: m.role }),
    h('div', { class: 'member-actions' }, memberActions(room, m, reload)),
  );
}

/** Members with their roles; owner can promote/demote, owner/admin can remove. */
export function membersSection(room) {
  const list = h('ul', { class: 'member-list' });
  const sec = section('Members', list);
  const order = { owner: 0, admin: 1, member: 2 };
  const render = (members) => {
    sec.heading.textContent = `Members (${members.length})`;
    const sorted = [...members].sort(
      (a, b) => order[a.role] - order[b.role] || nameOf(a.user).localeCompare(nameOf(b.user)),
    );
    list.replaceChildren(...sorted.map((m) => memberItem(room, m, reload)));
  };
  const reload = async () => {
    const fresh = await fetchRoom(room.id);
    room.my_role = fresh.my_role;
    render(fresh.members);
  };
  render(room.members || []);
  const off = on('members', ({ roomId }) => roomId === room.id && reload().catch(() => {}));
  sec.dispose = off;
  return sec;
}

function inviteMeta(inv) {
  const uses = `${inv.uses}${inv.max_uses ? ` of ${inv.max_uses}` : ''} use${inv.uses === 1 && !inv.max_uses ? '' : 's'}`;
  const ends = inv.expires_at
    ? `expires ${new Date(inv.expires_at).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' })}`
    : 'never expires';
  return `${uses} · ${ends}`;
}

function inviteItem(inv) {
  const url = new URL(inv.url, location.origin).href;
  const input = h('input', { type: 'text', readonly: true, value: url, class: 'mono' });
  input.addEventListener('focus', () => input.select());
  const copy = h('button', { type: 'button', class: 'btn small', text: 'Copy' });
  copy.addEventListener('click', async () => {
    copy.textContent = (await copyText(url, input)) ? 'Copied' : 'Copy failed';
    setTimeout(() => (copy.textContent = 'Copy'), 2000);
  });
  const item = h('li', { class: 'invite' });
  const revoke = h('button', { type: 'button', class: 'btn small danger-outline', text: 'Revoke' });
  revoke.addEventListener('click', async () => {
    try {
      await api.del(`/api/invites/${enc(inv.token)}`);
      item.remove();
      toast('Invite link revoked.');
    } catch (e) {
      toast(e.message, 'error');
    }
  });
  item.append(
    field('Invite link', input),
    h('div', { class: 'invite-row' }, h('span', { class: 'hint', text: inviteMeta(inv) }), copy, revoke),
  );
  return item;
}

function invitePayload(roomId, expiry, uses) {
  const body = { room_id: roomId, expires_in_hours: expiry === 'never' ? null : Number(expiry) };
  if (uses) body.max_uses = Number(uses);
  return body;
}

/** Invite links: create (with expiry and use limit), copy, revoke; listed for owner/admin. */
export function inviteSection(room) {
  const manage = canManage(room);
  if (!manage && !room.is_public) return null;
  const list = h('ul', { class: 'invite-list' });
  const expiry = select(
    [
      ['24', '1 day'],
      ['168', '7 days'],
      ['720', '30 days'],
      ['never', 'Never'],
    ],
    '168',
  );
  const uses = select(
    [
      ['', 'No limit'],
      ['1', '1 use'],
      ['5', '5 uses'],
      ['25', '25 uses'],
    ],
    '',
  );
  const create = h('button', { type: 'button', class: 'btn primary', text: 'Create invite link' });
  create.addEventListener('click', async () => {
    create.disabled = true;
    try {
      const inv = await api.post('/api/invites', invitePayload(room.id, expiry.value, uses.value));
      list.prepend(inviteItem(inv));
      list.querySelector('input').focus();
    } catch (e) {
      toast(e.message, 'error');
    }
    create.disabled = false;
  });
  if (manage) {
    api
      .get(`/api/invites?room_id=${enc(room.id)}`)
      .then(({ invites }) => list.append(...invites.map(inviteItem)))
      .catch((e) => toast(`Could not load invites: ${e.message}`, 'error'));
  }
  const hint = h('p', { class: 'hint', text: 'Anyone with a link can join this room until it expires or is revoked.' });
  return section(
    'Invite links',
    hint,
    h('div', { class: 'invite-controls' }, field('Expires after', expiry), field('Uses', uses), create),
    list,
  );
}
