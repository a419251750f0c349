// Room settings dialog: about/AI settings (owner/admin), AI cost and budget, invites, members, leave/clear/delete.
import { api, enc } from './api.js';
import { clearRoom, deleteRoom, fetchRoom, leaveRoom, loadModels, updateRoom } from './actions.js';
import { h, modal, field, checkField, toast, confirmDialog, submitWithStatus } from './dom.js';
import { aiModes, inviteSection, membersSection, section, select } from './members.js';
import { canManage } from './store.js';
import { money, periodNoun, usageReport } from './usage.js';

/** Provider pricing is USD per token (a string): show USD per 1M tokens. */
export function perMillion(value) {
  const n = Number(value);
  if (value === undefined || value === null || !Number.isFinite(n) || n < 0) return 'n/a';
  if (n === 0) return 'free';
  const x = n * 1e6;
  return `$${x >= 100 ? x.toFixed(0) : x >= 0.01 ? x.toFixed(2) : Number(x.toPrecision(2))}`;
}

function priceText(p) {
  if (!p) return 'price unknown';
  if (Number(p.prompt) === 0 && Number(p.completion) === 0) return 'free';
  return `${perMillion(p.prompt)} in / ${perMillion(p.completion)} out per 1M tokens`;
}

function modelFacts(m) {
  const facts = [
    `Input ${perMillion(m.pricing?.prompt)} and output ${perMillion(m.pricing?.completion)} per 1M tokens`,
    m.context_length ? `${Math.round(m.context_length / 1000)}k context` : null,
    m.supports_tools ? 'web tools' : 'no tools',
    m.supports_images ? 'reads images' : null,
  ];
  return facts.filter(Boolean).join(' · ');
}

async function fillModels(sel, info, current) {
  let data;
  try {
    data = await loadModels();
  } catch (e) {
    sel.replaceChildren(h('option', { value: current || '', text: current || 'Server default' }));
    info.textContent = `Could not load the model list: ${e.message}`;
    return;
  }
  const ids = new Set(data.models.map((m) => m.id));
  const opts = [h('option', { value: '', text: `Server default (${data.default})` })];
  for (const m of data.models)
    opts.push(h('option', { value: m.id, text: `${m.name || m.id} — ${priceText(m.pricing)}` }));
  if (current && !ids.has(current)) opts.push(h('option', { value: current, text: current }));
  sel.replaceChildren(...opts);
  sel.value = current || '';
  const show = () => {
    const m = data.models.find((x) => x.id === (sel.value || data.default));
    info.textContent = m ? modelFacts(m) : '';
  };
  sel.addEventListener('change', show);
  show();
}

function aboutForm(room) {
  const name = h('input', { type: 'text', required: true, maxlength: '100', value: room.name });
  const desc = h('textarea', { rows: '2', maxlength: '1000', value: room.description || '' });
  const pub = h('input', { type: 'checkbox', checked: room.is_public });
  const mode = select(aiModes(), room.ai_mode);
  const model = h('select', {}, h('option', { value: room.ai_model || '', text: 'Loading models…' }));
  const info = h('p', { class: 'hint', 'aria-live': 'polite' });
  const prompt = h('textarea', { rows: '4', maxlength: '8000', value: room.ai_system_prompt || '' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const save = h('button', { type: 'submit', class: 'btn primary', text: 'Save changes' });
  const modelField = field('AI model', model);
  modelField.append(info);
  const form = h(
    'form',
    { class: 'stack' },
    field('Room name', name),
    field('Description', desc),
    checkField('Public room', pub, 'Anyone signed in can find and join it.'),
    field('AI answers', mode),
    modelField,
    field('System prompt', prompt, 'Instructions the AI follows in this room. Leave empty for the server default.'),
    h('div', { class: 'actions' }, status, save),
  );
  fillModels(model, info, room.ai_model);
  submitWithStatus(form, save, status, 'Saving…', async () => {
    await updateRoom(room.id, {
      name: name.value.trim(),
      description: desc.value.trim(),
      is_public: pub.checked,
      ai_mode: mode.value,
      ai_model: model.value || null,
      ai_system_prompt: prompt.value.trim() || null,
    });
    return 'Saved.';
  });
  return form;
}

function aboutView(room) {
  const mode = aiModes().find(([v]) => v === room.ai_mode);
  return [
    h('p', { text: room.description || 'No description.' }),
    h('p', {
      class: 'hint',
      text: `AI answers: ${mode ? mode[1] : room.ai_mode}. Only owners and admins can change the settings.`,
    }),
  ];
}

function budgetForm(room, period, reload) {
  const value = room.ai_budget_usd == null ? '' : String(room.ai_budget_usd);
  const input = h('input', { type: 'number', min: '0', max: '1000000', step: '0.01', inputmode: 'decimal', value });
  const status = h('p', { class: 'form-status', role: 'status' });
  const save = h('button', { type: 'submit', class: 'btn', text: 'Save budget' });
  const hint = 'Leave empty for the server’s limit. Where the server sets one too, the lower of the two applies.';
  const form = h(
    'form',
    { class: 'stack budget-form' },
    field(`AI budget per ${periodNoun(period)} (USD)`, input, hint),
    h('div', { class: 'actions' }, status, save),
  );
  submitWithStatus(form, save, status, 'Saving…', async () => {
    const budget = input.value.trim() === '' ? null : Number(input.value);
    room.ai_budget_usd = (await updateRoom(room.id, { ai_budget_usd: budget })).ai_budget_usd;
    reload();
    return budget == null ? 'Saved: the server’s limit applies.' : `Saved: ${money(budget)}.`;
  });
  return form;
}

/** The room's AI cost over 30 days (chart and tables), its budget and what is left this period. */
function usageSection(room) {
  const report = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading', text: 'Loading…' }));
  const sec = section('AI cost', report);
  let form = null;
  const load = () =>
    api
      .get(`/api/rooms/${enc(room.id)}/usage?days=30`)
      .then((r) => {
        report.replaceChildren(usageReport(r, room.name));
        if (!form && canManage(room)) sec.append((form = budgetForm(room, r.period, load)));
      })
      .catch((e) => report.replaceChildren(h('p', { class: 'hint', text: `Could not load the AI cost: ${e.message}` })))
      .finally(() => report.removeAttribute('aria-busy'));
  load();
  return sec;
}

function dangerButton(label, title, text, run, dlg) {
  const btn = h('button', { type: 'button', class: 'btn danger-outline', text: label });
  btn.addEventListener('click', async () => {
    if (!(await confirmDialog(title, text, label))) return;
    try {
      await run();
      dlg.close();
    } catch (e) {
      toast(e.message, 'error');
    }
  });
  return btn;
}

function dangerSection(room, dlg) {
  const items = [];
  if (room.my_role !== 'owner')
    items.push(
      dangerButton(
        'Leave room',
        'Leave this room?',
        `You will stop receiving messages from ${room.name}.`,
        () => leaveRoom(room.id),
        dlg,
      ),
    );
  if (canManage(room))
    items.push(
      dangerButton(
        'Clear messages',
        'Clear all messages?',
        'Every message in this room is deleted for everyone. This cannot be undone.',
        () => clearRoom(room.id),
        dlg,
      ),
    );
  if (room.my_role === 'owner')
    items.push(
      dangerButton(
        'Delete room',
        'Delete this room?',
        `${room.name} and all its messages are deleted for everyone. This cannot be undone.`,
        () => deleteRoom(room.id),
        dlg,
      ),
    );
  return section(canManage(room) ? 'Danger zone' : 'Leave', h('div', { class: 'danger-actions' }, items));
}

/** Open the settings dialog of a room. */
export async function openRoomSettings(roomId) {
  const body = h('div', { class: 'settings' }, h('p', { class: 'loading', text: 'Loading…' }));
  let members = null;
  const dlg = modal('Room settings', body, { cls: 'wide', onClose: () => members && members.dispose() });
  let room;
  try {
    room = await fetchRoom(roomId);
  } catch (e) {
    body.replaceChildren(h('p', { class: 'error', text: e.message }));
    return;
  }
  members = membersSection(room);
  const about = section('About', canManage(room) ? aboutForm(room) : aboutView(room));
  body.replaceChildren(about, usageSection(room), inviteSection(room) || '', members, dangerSection(room, dlg));
}
