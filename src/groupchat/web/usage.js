// AI spending views: money and period wording, a UsageReport (chart + tables), one's own usage.
import { api } from './api.js';
import { barChart } from './chart.js';
import { h, nameOf } from './dom.js';

const PERIOD_WORDS = { day: 'today', week: 'this week', month: 'this month' };
const PERIOD_NOUNS = { day: 'day', week: 'week', month: 'month' };

/** US dollars: cents from one dollar up; below it two significant digits (AI answers cost fractions of a cent). */
export function money(value) {
  const n = Number(value) || 0;
  const shown = n >= 1 ? n : Number(n.toPrecision(2));
  const cents = n >= 1 ? 2 : 6;
  return `$${shown.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: cents })}`;
}

/** "today", "this week", "this month". */
export function periodWords(period) {
  return PERIOD_WORDS[period] || `this ${period}`;
}

/** "day", "week", "month": the length of a budget period. */
export function periodNoun(period) {
  return PERIOD_NOUNS[period] || period;
}

/** When a period ends, in UTC: "at 00:00 UTC" today/tomorrow, else with its date. */
export function resetsText(iso, period) {
  const d = new Date(iso);
  const time = d.toLocaleTimeString('en-GB', { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' });
  if (period === 'day') return `at ${time} UTC`;
  const date = d.toLocaleDateString('en-GB', { timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long' });
  return `on ${date} at ${time} UTC`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function dayDate(date, opts) {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString('en-GB', { timeZone: 'UTC', ...opts });
}

/** A data table with a caption; `numeric` marks the right-aligned columns by index. */
function dataTable(caption, head, rows, numeric = []) {
  const row = (tag, cells) =>
    h(
      'tr',
      {},
      cells.map((text, i) =>
        h(tag, { class: numeric.includes(i) ? 'num' : null, scope: tag === 'th' ? 'col' : null, text }),
      ),
    );
  return h(
    'table',
    { class: 'data' },
    h('caption', { text: caption }),
    h('thead', {}, row('th', head)),
    h(
      'tbody',
      {},
      rows.map((r) => row('td', r)),
    ),
  );
}

function summary(report) {
  const when = periodWords(report.period);
  const parts = [`${money(report.period_cost)} spent ${when} on ${plural(report.answers_period, 'AI answer')}.`];
  if (report.budget != null) {
    parts.push(`Budget ${money(report.budget)} per ${periodNoun(report.period)}, ${money(report.remaining)} left.`);
  } else if ('budget' in report) parts.push('No budget is set.');
  parts.push(`The period resets ${resetsText(report.resets_at, report.period)}.`);
  return h('p', { class: 'usage-summary', text: parts.join(' ') });
}

function dailyChart(report, subject) {
  const days = report.days || [];
  const total = days.reduce((n, d) => n + d.cost, 0);
  const peak = days.reduce((best, d) => (d.cost > (best ? best.cost : -1) ? d : best), null);
  const day = (d) => dayDate(d.date, { day: 'numeric', month: 'long' });
  const span = days.length ? `${day(days[0])} to ${day(days.at(-1))}` : '';
  const desc =
    total > 0
      ? `Daily AI cost from ${span}: ${money(total)} in all, highest ${money(peak.cost)} on ${day(peak)}.`
      : `No AI cost from ${span}.`;
  const points = days.map((d) => ({
    label: dayDate(d.date, { day: 'numeric', month: 'long', year: 'numeric' }),
    short: dayDate(d.date, { day: 'numeric', month: 'short' }),
    value: d.cost,
    text: `${money(d.cost)}, ${plural(d.answers, 'answer')}`,
  }));
  const title = `${subject}: AI cost per day, last ${plural(days.length, 'day')}`;
  return h('figure', { class: 'chart-box' }, barChart({ title, desc, points, format: money }));
}

function dailyTable(report) {
  const rows = [...(report.days || [])]
    .reverse()
    .map((d) => [
      dayDate(d.date, { day: 'numeric', month: 'short', year: 'numeric' }),
      String(d.answers),
      d.prompt_tokens.toLocaleString('en-US'),
      d.completion_tokens.toLocaleString('en-US'),
      money(d.cost),
    ]);
  const table = dataTable(
    'AI use per day, newest first',
    ['Day', 'Answers', 'Tokens in', 'Tokens out', 'Cost'],
    rows,
    [1, 2, 3, 4],
  );
  return h('details', { class: 'usage-days' }, h('summary', { text: 'Show the numbers per day' }), table);
}

function breakdown(caption, first, items, name) {
  if (!items || !items.length) return null;
  const rows = items.map((x) => [name(x), String(x.answers), money(x.cost)]);
  return dataTable(caption, [first, 'Answers', 'Cost'], rows, [1, 2]);
}

/** A UsageReport: summary, daily chart with its numbers, and the by-room/model/user tables. */
export function usageReport(report, subject) {
  const n = (report.days || []).length;
  return h(
    'div',
    { class: 'usage' },
    summary(report),
    dailyChart(report, subject),
    dailyTable(report),
    breakdown(`Cost by room, last ${n} days`, 'Room', report.by_room, (x) => x.name),
    breakdown(`Cost by model, last ${n} days`, 'Model', report.by_model, (x) => x.model),
    breakdown(
      `Cost by person, last ${n} days`,
      'Person',
      report.by_user,
      (x) => `${nameOf(x.user)} (@${x.user.username})`,
    ),
  );
}

/** The signed-in person's AI spending this period and their limit, as a paragraph (and meter). */
export async function ownUsage() {
  const u = await api.get('/api/usage');
  const when = periodWords(u.period);
  const answers = plural(u.answers, 'AI answer');
  const resets = `It resets ${resetsText(u.resets_at, u.period)}.`;
  if (u.limit == null) {
    return [h('p', { text: `Your ${answers} ${when} cost ${money(u.cost)}. There is no limit on your AI use.` })];
  }
  const text = `You have used ${money(u.cost)} of your ${money(u.limit)} AI allowance ${when} (${answers}). ${resets}`;
  const meter = h('meter', {
    class: 'usage-meter',
    min: '0',
    max: String(u.limit),
    value: String(Math.min(u.cost, u.limit)),
    'aria-label': `AI allowance used ${when}`,
  });
  return [h('p', { text }), meter];
}
