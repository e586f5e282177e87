'use strict';
// ferry's dashboard. Everything shown comes from the status function's `overview` view,
// fetched relative to this page's own URL (with its function key, when it has one).
// Untrusted text (resource names, reasons, alert messages) only ever goes into the page
// through textContent or DOM properties, never as markup.
(function () {
  const PAGE_SIZE = 50;
  const FETCH_TOP = 500;
  const OUTCOMES = ['succeeded', 'failed', 'restarted', 'superseded', 'expired', 'rejected', 'inflight', 'pending'];
  const st = { chains: [], alerts: [], at: null, filter: '', behind: false, page: 0 };

  const byId = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function lastSegment(id) {
    if (typeof id !== 'string') return '';
    const parts = id.split('/').filter(Boolean);
    return parts.length ? parts[parts.length - 1] : id;
  }
  function outcomeClass(o) {
    const k = String(o || '').toLowerCase();
    return OUTCOMES.includes(k) ? 'o-' + k : (k === 'starting' || k === 'restarting' ? 'o-inflight' : 'o-pending');
  }
  function ago(fromIso, nowMs) {
    const t = Date.parse(fromIso);
    if (!Number.isFinite(t)) return '';
    const m = Math.max(0, Math.round((nowMs - t) / 60000));
    if (m < 120) return m + ' min';
    const h = m / 60;
    return h < 48 ? h.toFixed(1) + ' h' : (h / 24).toFixed(1) + ' d';
  }
  function hours(h) { return typeof h === 'number' ? h.toFixed(1) + ' h' : '—'; }

  // The Functions host keeps the key in `code`: pass it on to the data requests.
  function dataUrl(after) {
    const u = new URL('overview', window.location.href);
    const code = new URLSearchParams(window.location.search).get('code');
    u.search = '';
    if (code) u.searchParams.set('code', code);
    u.searchParams.set('top', String(FETCH_TOP));
    if (after) u.searchParams.set('after', after);
    return u.toString();
  }

  async function load() {
    const chains = [];
    const alerts = [];
    let after = null;
    let at = null;
    do {
      const r = await fetch(dataUrl(after), { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!r.ok) throw new Error('the status function answered ' + r.status);
      const body = await r.json();
      for (const c of body.chains || []) chains.push(c);
      for (const a of body.alerts || []) alerts.push(a);
      at = body.at || at;
      after = typeof body.next === 'string' ? body.next : null;
    } while (after);
    alerts.sort((a, b) => String(b.at).localeCompare(String(a.at)));
    st.chains = chains.map(prepare);
    // Behind first, then by RPO, worst first: what needs a person is at the top.
    st.chains.sort((a, b) => (b.level - a.level) || (b.rpoHours - a.rpoHours) || a.label.localeCompare(b.label));
    st.alerts = alerts;
    st.at = at;
  }

  // Derived fields once, so filtering 600 chains on each keystroke is cheap.
  function prepare(c) {
    const rpo = c.rpo || null;
    const cur = rpo && typeof rpo.currentHours === 'number' ? rpo.currentHours : null;
    const obj = rpo && typeof rpo.objectiveHours === 'number' ? rpo.objectiveHours : null;
    let level = 0; // 0 unknown, 1 ok, 2 near, 3 breached
    if (rpo && rpo.breached) level = 3;
    else if (cur !== null && obj) level = cur >= 0.75 * obj ? 2 : 1;
    else if (rpo) level = 1;
    const name = c.sourceCollectionName || lastSegment(c.sourceCollection);
    const label = name + ' → ' + (c.targetRegion || '');
    const search = [name, c.targetRegion, c.sourceRegion, c.sourceVm, c.key, c.sourceCollection]
      .filter((s) => typeof s === 'string').join(' ').toLowerCase();
    return { c, level, rpoHours: cur === null ? (level === 3 ? Infinity : -1) : cur, label, name, search };
  }

  function visible() {
    const f = st.filter.trim().toLowerCase();
    return st.chains.filter((x) => (!st.behind || x.level === 3) && (!f || x.search.includes(f)));
  }

  function renderSummary() {
    const s = byId('summary');
    s.replaceChildren();
    const total = st.chains.length;
    const behind = st.chains.filter((x) => x.level === 3).length;
    const inFlight = st.chains.filter((x) => x.c.inFlight).length;
    const tiles = [
      ['chains', total, ''],
      ['behind their RPO', behind, behind ? 'bad' : 'ok'],
      ['copies in flight', inFlight, ''],
      ['recent alerts', st.alerts.length, ''],
    ];
    for (const [what, n, cls] of tiles) {
      const t = el('div', 'tile ' + cls);
      t.dataset.tile = what;
      t.append(el('b', null, n), el('span', null, what));
      s.append(t);
    }
    byId('as-of').textContent = st.at ? 'As of ' + st.at + ' (the ledger’s clock).' : '';
  }

  function renderLegend() {
    const l = byId('legend');
    l.replaceChildren(el('span', null, 'Timeline:'));
    for (const o of OUTCOMES) {
      const item = el('span');
      item.append(el('i', 'swatch ' + outcomeClass(o)), document.createTextNode(o === 'inflight' ? 'in flight' : o));
      l.append(item);
    }
  }

  function timeWindow(rows) {
    const end = Date.parse(st.at) || Date.now();
    let start = end;
    for (const x of rows) for (const b of x.c.timeline || []) {
      const t = Date.parse(b.start);
      if (Number.isFinite(t) && t < start) start = t;
    }
    return [Math.min(start, end - 3600e3), end];
  }

  function timelineCell(c, win) {
    const td = el('td');
    const track = el('div', 'track');
    track.setAttribute('role', 'img');
    const [t0, t1] = win;
    const span = t1 - t0;
    const bars = c.timeline || [];
    track.setAttribute('aria-label', bars.length + ' copies');
    for (const b of bars) {
      const s = Date.parse(b.start);
      if (!Number.isFinite(s)) continue;
      const e = b.end ? Date.parse(b.end) : t1;
      const bar = el('div', 'bar ' + outcomeClass(b.outcome));
      bar.dataset.outcome = String(b.outcome || '').toLowerCase();
      bar.style.left = (100 * (s - t0) / span).toFixed(3) + '%';
      bar.style.width = Math.max(0.3, 100 * ((Number.isFinite(e) ? e : t1) - s) / span).toFixed(3) + '%';
      let title = b.restorePoint + ': ' + b.outcome + ', ' + b.start + ' → ' + (b.end || 'open');
      if (typeof b.lastPercent === 'number') title += ', last ' + b.lastPercent + ' %';
      if (b.detail) title += ' (' + b.detail + ')';
      bar.title = title;
      track.append(bar);
    }
    td.append(track);
    return td;
  }

  function inFlightCell(c, nowMs) {
    const td = el('td');
    const f = c.inFlight;
    if (!f) { td.append(el('span', 'small', '—')); return td; }
    td.append(el('div', null, lastSegment(f.sourceRestorePoint)));
    const pct = typeof f.lastPercent === 'number' ? f.lastPercent + ' %' : 'no reading yet';
    const read = f.lastReadingAt ? ', read ' + ago(f.lastReadingAt, nowMs) + ' ago' : '';
    td.append(el('div', 'small', pct + read));
    const age = f.startedAt ? 'started ' + ago(f.startedAt, nowMs) + ' ago' : String(f.state || '');
    td.append(el('div', 'small', age + (f.attempt > 1 ? ', attempt ' + f.attempt : '')));
    return td;
  }

  // Restore drills fill `lastDrill` ({outcome, at, restoreMinutes}); until then, a dash.
  function drillCell(c, nowMs) {
    const td = el('td');
    const d = c.lastDrill;
    if (!d) { td.append(el('span', 'small', '—')); return td; }
    td.append(el('div', null, String(d.outcome || '')));
    if (d.at) td.append(el('div', 'small', ago(d.at, nowMs) + ' ago'));
    if (typeof d.restoreMinutes === 'number') td.append(el('div', 'small', d.restoreMinutes + ' min restore'));
    return td;
  }

  function renderRows() {
    const rows = visible();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    st.page = Math.min(st.page, pages - 1);
    const shown = rows.slice(st.page * PAGE_SIZE, (st.page + 1) * PAGE_SIZE);
    const nowMs = Date.parse(st.at) || Date.now();
    const win = timeWindow(shown);
    const tbody = byId('rows');
    const frag = document.createDocumentFragment();
    for (const x of shown) {
      const c = x.c;
      const tr = el('tr', 'chain-row ' + ['rpo-unknown', 'rpo-ok', 'rpo-warn', 'rpo-breached'][x.level]);
      tr.dataset.chain = c.key;
      const name = el('td');
      name.append(el('div', 'name', x.label));
      const vm = c.sourceVm ? 'VM ' + lastSegment(c.sourceVm) : '';
      name.append(el('div', 'small', [c.sourceRegion, vm].filter(Boolean).join(' · ')));
      const rpo = el('td');
      const r = c.rpo;
      rpo.append(el('span', 'rpo', r ? hours(r.currentHours) + ' / ' + hours(r.objectiveHours) : 'no rule'));
      if (x.level === 3) rpo.append(el('span', 'badge breached', 'behind'));
      const last = c.lastSuccess && c.lastSuccess.completedAt ? 'last copy ' + ago(c.lastSuccess.completedAt, nowMs) + ' ago' : 'no copy yet';
      rpo.append(el('div', 'small', last));
      tr.append(name, rpo, inFlightCell(c, nowMs), timelineCell(c, win), drillCell(c, nowMs));
      frag.append(tr);
    }
    tbody.replaceChildren(frag);
    const day = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
    byId('timeline-head').textContent = 'Copies, request to end (' + day(win[0]) + ' → ' + day(win[1]) + ' UTC)';
    byId('page-info').textContent = 'page ' + (st.page + 1) + ' of ' + pages + ' (' + rows.length + ' of ' + st.chains.length + ' chains)';
    byId('prev').disabled = st.page === 0;
    byId('next').disabled = st.page >= pages - 1;
  }

  function renderAlerts() {
    const ol = byId('alerts');
    ol.replaceChildren();
    const shown = st.alerts.slice(0, 25);
    if (!shown.length) ol.append(el('li', 'small', 'No alerts recorded.'));
    for (const a of shown) {
      const li = el('li');
      li.append(el('span', 'small', String(a.at || '') + ' '), el('span', 'sev-' + (a.severity === 'Error' ? 'Error' : 'Warning'), String(a.kind || '')));
      li.append(document.createTextNode(' ' + String(a.message || '')));
      ol.append(li);
    }
  }

  function wire() {
    byId('filter').addEventListener('input', (e) => { st.filter = e.target.value; st.page = 0; renderRows(); });
    byId('behind').addEventListener('change', (e) => { st.behind = e.target.checked; st.page = 0; renderRows(); });
    byId('prev').addEventListener('click', () => { st.page -= 1; renderRows(); });
    byId('next').addEventListener('click', () => { st.page += 1; renderRows(); });
  }

  async function main() {
    wire();
    renderLegend();
    try {
      await load();
      renderSummary();
      renderRows();
      renderAlerts();
      performance.mark('ferry-dashboard-rendered');
      document.body.dataset.state = 'ready';
    } catch (e) {
      const p = byId('error');
      p.hidden = false;
      p.textContent = 'Could not load the status: ' + (e && e.message ? e.message : String(e));
      document.body.dataset.state = 'error';
    }
  }
  main();
})();
