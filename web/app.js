// partybus planning page: starts a party, adds and removes inputs, and shows
// every agent's progress live over the party's WebSocket.
//
// State comes from GET /party/{id}/status (on load and after every
// reconnect); live events come from the WebSocket, which reconnects by
// itself with since=<last seq seen>. Events with seq <= the last seen are
// ignored (no duplicates); events already contained in the status snapshot
// are only logged, not applied again. No framework, no build step, no
// inline script (the page is served with a strict CSP).
'use strict';

(() => {
  // Relative to the page, so the page works under a proxy's path prefix
  // (`--public-url https://example.com/partybus`) as at the root.
  const API = new URL('api/v1/event-driven', document.baseURI).pathname;
  const AGENTS = ['input_analyzer', 'theme_agent', 'venue_agent', 'cake_agent',
    'catering_agent', 'vendor_agent', 'budget_agent', 'final_planner'];
  const AGENT_LABEL = {
    input_analyzer: 'Input analyzer', theme_agent: 'Theme', venue_agent: 'Venues',
    cake_agent: 'Cake', catering_agent: 'Catering', vendor_agent: 'Vendors',
    budget_agent: 'Budget', final_planner: 'Final planner',
  };
  const LOG_MAX = 80;

  const state = {
    partyId: null,
    token: null,
    party: null,
    lastSeq: 0, // highest seq handled
    snapshotSeq: 0, // last_seq of the latest status snapshot
    ws: null,
    live: false,
    connects: 0,
    retry: 0,
    timer: null,
    holdUntil: 0,
    deleted: false,
    exportAvailable: false,
    exportChecked: false,
    forkedFrom: null, // {party_id, seq} when the open party is a fork
    gen: 0, // bumped whenever another party is opened; stale answers are dropped
    events: [], // {seq, type, agent, replayed, connection} for the test hook
  };

  // ---------- small DOM helpers ----------
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  // Replaces a container's children, keeping keyboard focus on the element
  // with the same data-key if there was one, else moving it to `fallback`
  // (so focus is never dropped on the floor when its element goes away).
  function replace(container, nodes, fallback) {
    const active = document.activeElement;
    const key = active && container.contains(active) ? active.getAttribute('data-key') : null;
    container.replaceChildren(...nodes.flat(Infinity).filter((n) => n instanceof Node));
    if (key) {
      const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
      else if (fallback) fallback.focus();
    }
  }

  const money = (n) => '$' + Math.round(Number(n) || 0).toLocaleString('en-US');
  function range(r) {
    if (!r) return '–';
    return r.min === r.max ? money(r.min) : `${money(r.min)}–${money(r.max)}`;
  }
  function clock(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString('en-GB', { hour12: false });
  }
  function ms(v) {
    const n = Number(v) || 0;
    return n < 10 ? `${n.toFixed(2)} ms` : `${Math.round(n)} ms`;
  }
  const stars = (r) => (typeof r === 'number' ? `★ ${r.toFixed(1)}` : '');
  const cap = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : '');

  function showError(id, message) {
    const node = $(id);
    node.textContent = message || '';
    node.hidden = !message;
  }

  // ---------- HTTP ----------
  // `opts.token` speaks for another party than the open one (a fork);
  // `opts.headers` adds headers (the diff's X-Other-Token).
  async function api(method, path, body, opts) {
    const o = opts || {};
    const headers = { Accept: 'application/json', ...(o.headers || {}) };
    const token = o.token !== undefined ? o.token : state.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(API + path, {
      method, headers, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (!r.ok) {
      const e = new Error((data && data.detail) || `HTTP ${r.status}`);
      e.status = r.status;
      e.code = data && data.code;
      throw e;
    }
    return data;
  }

  const partyPath = (suffix) => `/party/${encodeURIComponent(state.partyId)}${suffix}`;

  // ---------- connection status ----------
  function setConn(kind, text) {
    const node = $('conn');
    node.dataset.state = kind;
    $('conn-text').textContent = text;
  }

  // ---------- party lifecycle ----------
  function hashParams() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    return { party: p.get('party'), token: p.get('token') };
  }

  function shareLink() {
    const token = state.token ? `&token=${encodeURIComponent(state.token)}` : '';
    return `${location.origin}${location.pathname}#party=${encodeURIComponent(state.partyId)}${token}`;
  }

  function fromHash() {
    const { party, token } = hashParams();
    if (party) {
      // Without a token only a server running with --auth off will answer.
      if (party !== state.partyId || (token || '') !== (state.token || '')) openParty(party, token || '', false);
    } else {
      showStart();
    }
  }

  function stopSocket() {
    clearTimeout(state.timer);
    state.timer = null;
    const ws = state.ws;
    state.ws = null;
    state.live = false;
    if (ws) ws.close(1000, 'leaving');
  }

  function showStart() {
    stopSocket();
    resetWhatIf();
    state.gen += 1;
    state.partyId = null;
    state.token = null;
    state.party = null;
    $('party').hidden = true;
    $('start').hidden = false;
    setConn('idle', 'Not connected');
    document.title = 'partybus · live party planner';
  }

  async function openParty(partyId, token, fresh) {
    stopSocket();
    resetWhatIf();
    state.gen += 1;
    const gen = state.gen;
    Object.assign(state, {
      partyId, token, party: null, lastSeq: 0, snapshotSeq: 0, retry: 0,
      deleted: false, events: [], connects: 0, forkedFrom: null,
    });
    known.set(partyId, token);
    $('start').hidden = true;
    $('party').hidden = false;
    $('party').classList.remove('deleted');
    $('log').replaceChildren();
    showError('party-error', '');
    $('party-id').textContent = partyId;
    $('share-link').value = shareLink();
    document.title = `partybus · ${partyId}`;
    setConn('connecting', 'Loading…');
    try {
      if (!(await loadStatus(gen))) return;
    } catch (e) {
      if (gen === state.gen) failParty(e);
      return;
    }
    // A party created here replays its whole (short) history into the
    // activity log; an opened one starts from the snapshot.
    state.lastSeq = fresh ? 0 : state.snapshotSeq;
    connect();
  }

  function failParty(e) {
    stopSocket();
    let msg = e.message;
    if (e.status === 404) msg = 'This party does not exist (it may have been deleted).';
    else if (e.status === 401) msg = 'This link has no token: ask for the full share link.';
    else if (e.status === 403) msg = 'This link’s token does not open this party.';
    showError('party-error', msg);
    setConn('closed', 'Not connected');
  }

  // Loads the snapshot; false when another party was opened meanwhile.
  async function loadStatus(gen) {
    const data = await api('GET', partyPath('/status'));
    if (gen !== state.gen) return false;
    state.party = data.party;
    state.snapshotSeq = data.party.last_seq || 0;
    state.forkedFrom = data.forked_from || data.party.forked_from || null;
    render();
    return true;
  }

  // ---------- WebSocket ----------
  function connect() {
    clearTimeout(state.timer);
    state.timer = null;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = state.token ? `token=${encodeURIComponent(state.token)}&` : '';
    const url = `${proto}//${location.host}${API}/ws/${encodeURIComponent(state.partyId)}`
      + `?${token}since=${state.lastSeq}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    state.live = false;
    setConn('connecting', state.connects ? 'Reconnecting…' : 'Connecting…');
    let connectionSeq = null;
    ws.addEventListener('message', (m) => {
      if (ws !== state.ws) return;
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'connection') {
        connectionSeq = Number(msg.last_seq) || 0;
        state.connects += 1;
        state.retry = 0;
        state.live = true;
        setConn('live', 'Live');
        return;
      }
      if (msg.type === 'pong') return;
      handleEvent(msg, connectionSeq !== null && msg.seq <= connectionSeq);
    });
    ws.addEventListener('close', () => {
      if (ws !== state.ws) return;
      state.ws = null;
      state.live = false;
      if (state.deleted) {
        setConn('closed', 'Party deleted');
        return;
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    clearTimeout(state.timer);
    const backoff = Math.min(5000, 250 * 2 ** state.retry) * (0.8 + Math.random() * 0.4);
    const delay = Math.max(backoff, state.holdUntil - Date.now());
    state.retry += 1;
    setConn('reconnecting', `Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`);
    state.timer = setTimeout(reconnect, delay);
  }

  async function reconnect() {
    state.timer = null;
    if (!state.partyId || state.deleted) return;
    const gen = state.gen;
    try {
      if (!(await loadStatus(gen))) return;
    } catch (e) {
      if (gen !== state.gen) return;
      if (e.status === 404 || e.status === 401 || e.status === 403) {
        failParty(e);
        return;
      }
      scheduleReconnect();
      return;
    }
    connect();
  }

  // ---------- events ----------
  function handleEvent(msg, replayed) {
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || seq <= state.lastSeq) return; // already handled
    state.lastSeq = seq;
    state.events.push({ seq, type: msg.type, agent: msg.agent || null, replayed, connection: state.connects });
    if (state.events.length > 2000) state.events.splice(0, state.events.length - 2000);
    // Events the status snapshot already contains are only logged.
    if (seq > state.snapshotSeq && state.party) {
      applyEvent(state.party, msg);
      state.party.last_seq = seq;
      render();
      // The original moved on: compare the fork with its new plan.
      if (wi.fork && (msg.type === 'plan_updated' || msg.type === 'budget_updated')) scheduleDiff(wi.fork);
    }
    logEvent(msg, replayed);
  }

  // Mirrors the server's store: the same event applied to the same snapshot
  // gives the same state GET .../status would return.
  function applyEvent(party, msg) {
    const p = msg.payload || {};
    const agents = party.agents || (party.agents = {});
    const agent = msg.agent;
    const blank = () => ({
      status: 'running', confidence: 0, execution_time_ms: 0, result: null, error: null,
      execution_id: p.execution_id || '', started_at: msg.timestamp, completed_at: null, runs: 0,
    });
    switch (msg.type) {
      case 'input_added':
        if (!party.inputs.some((i) => i.input_id === p.input_id)) {
          party.inputs.push({
            input_id: p.input_id, content: p.content, source_type: p.source_type,
            tags: p.tags || [], added_by: p.added_by, added_at: msg.timestamp,
            metadata: p.metadata || {}, image_url: p.image_url || null,
          });
        }
        party.status = 'planning';
        break;
      case 'input_removed':
        party.inputs = party.inputs.filter((i) => i.input_id !== p.input_id);
        party.status = 'planning';
        break;
      case 'agent_started': {
        const a = agents[agent] || (agents[agent] = blank());
        Object.assign(a, {
          status: 'running', execution_id: p.execution_id, started_at: msg.timestamp, error: null, reused_from: null,
        });
        break;
      }
      case 'agent_completed': {
        if (p.reused_from) {
          // A fork's copied result: the run was the original's.
          agents[agent] = {
            ...blank(), status: 'completed', result: msg.result, confidence: msg.confidence,
            execution_time_ms: msg.execution_time_ms, started_at: msg.timestamp,
            completed_at: msg.timestamp, reused_from: p.reused_from,
          };
          break;
        }
        const a = agents[agent] || (agents[agent] = blank());
        Object.assign(a, {
          status: 'completed', result: msg.result, confidence: msg.confidence,
          execution_time_ms: msg.execution_time_ms, completed_at: msg.timestamp, error: null,
          runs: (a.runs || 0) + 1,
        });
        break;
      }
      case 'agent_failed': {
        const a = agents[agent] || (agents[agent] = blank());
        Object.assign(a, {
          status: 'failed', result: null, confidence: 0, completed_at: msg.timestamp,
          error: { error: msg.error, error_type: p.error_type },
        });
        break;
      }
      case 'agent_data_removed':
        delete agents[agent];
        break;
      case 'budget_updated':
        party.budget = p;
        break;
      case 'plan_updated':
        party.final_plan = p;
        party.status = p.ready ? 'ready' : 'planning';
        break;
      case 'party_deleted':
        markDeleted();
        break;
      default:
        break;
    }
    party.updated_at = msg.timestamp || party.updated_at;
  }

  // The party is gone: no more reconnects, no more edits.
  function markDeleted() {
    state.deleted = true;
    $('party').classList.add('deleted');
    renderWhatIfToggle();
    showError('party-error', 'This party was deleted. Start a new one from “New party”.');
    stopSocket();
    setConn('closed', 'Party deleted');
  }

  function logEvent(msg, replayed) {
    const label = msg.agent ? AGENT_LABEL[msg.agent] || msg.agent : '';
    let text;
    switch (msg.type) {
      case 'agent_started': text = `${label} started`; break;
      case 'agent_completed':
        text = msg.reused_from || (msg.payload && msg.payload.reused_from)
          ? `${label} reused from the original` : `${label} completed in ${ms(msg.execution_time_ms)}`;
        break;
      case 'agent_failed': text = `${label} failed: ${msg.error || 'unknown error'}`; break;
      case 'agent_data_removed': text = `${label} result dropped (no relevant inputs)`; break;
      case 'budget_updated': text = `Budget updated: ${range(msg.payload && msg.payload.total_budget)}`; break;
      case 'plan_updated': text = `Plan updated: ${(msg.payload && msg.payload.completion_percent) || 0}% complete`; break;
      case 'input_added':
        text = `Input ${msg.payload && msg.payload.copied_from ? 'copied' : 'added'}: “${(msg.payload && msg.payload.content) || ''}”`;
        break;
      case 'input_removed': text = `Input removed (${(msg.payload && msg.payload.input_id) || ''})`; break;
      case 'party_created':
        text = msg.payload && msg.payload.forked_from && msg.payload.forked_from.party_id
          ? `Party forked from ${msg.payload.forked_from.party_id}` : 'Party created';
        break;
      case 'party_deleted': text = 'Party deleted'; break;
      default: text = msg.message || msg.type;
    }
    const kind = msg.type === 'agent_failed' ? 'bad' : msg.type === 'agent_completed' ? 'good' : '';
    const item = el('li', { class: kind, 'data-seq': msg.seq, 'data-type': msg.type },
      el('time', { datetime: msg.timestamp, text: clock(msg.timestamp) }),
      el('span', { text }),
      replayed && state.connects > 1
        ? el('span', { class: 'tag', text: 'missed while offline', title: 'Replayed after reconnecting' }) : null);
    const log = $('log');
    log.prepend(item);
    while (log.children.length > LOG_MAX) log.lastElementChild.remove();
  }

  // ---------- rendering ----------
  function render() {
    const party = state.party;
    if (!party) return;
    renderOverview(party);
    renderInputs(party);
    renderAgents();
    renderBudget(party.budget);
    renderPlan(party.final_plan);
    renderFacts(party.final_plan);
    renderTheme(result('theme_agent'));
    renderSuppliers();
    renderForkedFrom();
    renderWhatIfToggle();
  }

  const result = (agent) => {
    const a = state.party && state.party.agents && state.party.agents[agent];
    return a && a.result ? a.result : null;
  };

  function renderOverview(party) {
    const status = $('party-status');
    status.textContent = party.status === 'ready' ? 'Ready' : 'Planning';
    status.className = `badge ${party.status === 'ready' ? 'good' : 'info'}`;
    $('party-updated').textContent = party.updated_at ? `Updated ${clock(party.updated_at)}` : '';
    const plan = party.final_plan;
    const pct = plan ? Math.max(0, Math.min(100, plan.completion_percent | 0)) : 0;
    $('completion-fill').style.width = `${pct}%`;
    $('completion').setAttribute('aria-valuenow', String(pct));
    $('completion-text').textContent = `${pct}%`;
    const areas = plan && Array.isArray(plan.areas) ? plan.areas : [];
    replace($('areas'), areas.map((a) => el('li', { class: a.done ? 'done' : '', 'data-area': a.area },
      el('span', { class: 'mark', 'aria-hidden': 'true', text: a.done ? '✓' : '○' }),
      `${cap(a.area)} `, el('span', { class: 'sr-only', text: a.done ? '(planned)' : '(not yet planned)' }))));
  }

  function renderInputs(party) {
    const inputs = party.inputs || [];
    if (!inputs.length) {
      replace($('inputs'), [el('li', { class: 'empty', text: 'No inputs yet. Add one below.' })]);
      return;
    }
    replace($('inputs'), inputs.map((i) => el('li', { class: 'input', 'data-input-id': i.input_id },
      el('div', { class: 'input-body' },
        el('p', { class: 'input-text', text: i.content }),
        el('p', { class: 'input-meta' },
          (i.tags || []).map((t) => el('span', { class: 'chip', text: t })),
          el('span', { class: 'by', text: `${i.added_by || 'user'} · ${clock(i.added_at)}` }))),
      el('button', {
        type: 'button', class: 'remove', 'data-key': `rm-${i.input_id}`,
        'aria-label': `Remove input: ${i.content.slice(0, 60)}`,
        onclick: () => removeInput(i.input_id),
      }, 'Remove'))), $('input-text'));
  }

  function renderAgents() {
    const agents = (state.party && state.party.agents) || {};
    const names = AGENTS.filter((a) => agents[a]);
    if (!names.length) {
      replace($('agents'), [el('tr', {}, el('td', { colspan: 3, class: 'empty', text: 'Waiting for the first agent…' }))]);
      return;
    }
    replace($('agents'), names.map((name) => {
      const a = agents[name];
      const status = a.status || 'running';
      let timing;
      if (status === 'running') timing = `started ${clock(a.started_at)}`;
      else if (status === 'failed') timing = (a.error && a.error.error) || 'failed';
      else if (a.reused_from) timing = 'reused from the original';
      else timing = `${ms(a.execution_time_ms)} · ${clock(a.completed_at)}${a.runs > 1 ? ` · ${a.runs} runs` : ''}`;
      const badge = { running: 'info', completed: 'good', failed: 'bad' }[status] || 'info';
      return el('tr', {
        'data-agent': name, 'data-status': status, 'data-reused': a.reused_from ? 'true' : null,
        title: a.reused_from ? `Reused from event ${a.reused_from}` : null,
      },
        el('th', { scope: 'row', text: AGENT_LABEL[name] || name }),
        el('td', {}, el('span', { class: `badge ${badge}`, text: status })),
        el('td', { class: 'timing', text: timing }));
    }));
  }

  function renderBudget(b) {
    const box = $('budget');
    if (!b) {
      replace(box, [el('p', { class: 'empty', text: 'The budget appears once a venue, cake, caterer or vendor is found.' })]);
      return;
    }
    const rows = Object.entries(b.breakdown || {}).sort((x, y) => y[1].max - x[1].max);
    const top = Math.max(1, ...rows.map(([, r]) => r.max));
    const chart = el('ul', { class: 'bars', 'aria-label': 'Cost by category' }, rows.map(([cat, r]) => {
      const bar = el('span', { class: 'bar' });
      bar.style.width = `${Math.max(0.5, (r.max / top) * 100)}%`;
      const low = el('span', { class: 'bar-min' });
      low.style.width = r.max > 0 ? `${(r.min / r.max) * 100}%` : '0%';
      bar.append(low);
      return el('li', { 'data-cat': cat },
        el('span', { class: 'bar-label', text: cap(cat) }),
        el('span', { class: 'bar-track', 'aria-hidden': 'true' }, bar),
        el('span', { class: 'bar-value', text: range(r), title: r.note || '' }));
    }));
    const total = el('p', { class: 'total' }, el('span', { text: 'Estimated total' }),
      el('strong', { id: 'budget-total', text: range(b.total_budget) }));
    const parts = [total];
    if (b.delta && (b.delta.min || b.delta.max)) {
      const sign = (n) => (n >= 0 ? `+${money(n)}` : `−${money(-n)}`);
      parts.push(el('p', { class: 'delta', text: `Change: ${sign(b.delta.min)} to ${sign(b.delta.max)}` }));
    }
    if (b.stated_budget) {
      parts.push(el('p', { class: b.over_budget ? 'warn' : 'ok' },
        b.over_budget ? `Over your ${money(b.stated_budget)} budget` : `Within your ${money(b.stated_budget)} budget`));
    }
    parts.push(chart);
    if (Array.isArray(b.swaps) && b.swaps.length) {
      parts.push(el('h3', { text: 'Cheaper swaps' }), el('ul', { class: 'plain' },
        b.swaps.map((s) => el('li', { text: `${cap(s.category)}: ${s.alternative} instead of ${s.current} (saves ${money(s.saves)})` }))));
    }
    if (Array.isArray(b.recommendations) && b.recommendations.length) {
      parts.push(el('details', {}, el('summary', { text: 'Budget advice' }),
        el('ul', { class: 'plain' }, b.recommendations.concat(b.cost_saving_tips || []).map((t) => el('li', { text: t })))));
    }
    replace(box, parts);
  }

  function renderPlan(plan) {
    const box = $('plan');
    if (!plan) {
      replace(box, [el('p', { class: 'empty', text: 'The plan appears when the first agents finish.' })]);
      return;
    }
    const recs = (plan.recommendations || []).map((r) => el('li', { class: 'rec' },
      el('span', { class: `badge prio-${r.priority}`, text: r.priority }),
      el('span', {}, el('strong', { text: `${r.category}: ` }), r.description)));
    const steps = (plan.next_steps || []).map((s) => el('li', { text: s }));
    const checklist = (plan.checklist || []).map((c) => el('li', { class: c.done ? 'done' : '', 'data-task': c.id },
      el('span', { class: 'box', 'aria-hidden': 'true', text: c.done ? '✓' : '' }),
      el('span', { text: c.task }),
      el('span', { class: 'sr-only', text: c.done ? ' (done)' : ' (to do)' })));
    const sum = plan.checklist_summary || {};
    replace(box, [
      el('h3', { text: 'Recommendations' }),
      recs.length ? el('ul', { class: 'recs', id: 'recommendations' }, recs) : el('p', { class: 'empty', text: 'None yet.' }),
      el('h3', { text: 'Next steps' }),
      steps.length ? el('ol', { class: 'steps', id: 'next-steps' }, steps) : el('p', { class: 'empty', text: 'Nothing left to decide.' }),
      el('h3', {}, 'Checklist ', el('span', { class: 'hint', text: `${sum.completed_tasks || 0} of ${sum.total_tasks || checklist.length} done` })),
      el('ul', { class: 'checklist', id: 'checklist' }, checklist),
    ]);
  }

  // Fact names in the order they read best, with their labels; names not
  // listed here follow in name order.
  const FACTS = [
    ['theme', 'Theme'], ['guests', 'Guests'], ['ages', 'Ages'], ['birthday', 'Birthday'],
    ['date', 'Date'], ['time', 'Time'], ['city', 'City'], ['setting', 'Setting'],
    ['setting_preferred', 'Setting is a preference'], ['budget', 'Budget'],
    ['venue_budget', 'Venue budget'], ['cake_budget', 'Cake budget'],
    ['catering_budget', 'Catering budget'], ['dietary', 'Dietary needs'],
    ['flavors', 'Cake flavors'], ['cuisines', 'Cuisines'], ['vendors', 'Vendors wanted'],
    ['no_cake', 'No cake'],
  ];
  const NOTE_AGENTS = [['venue_agent', 'Venues'], ['cake_agent', 'Cake'],
    ['catering_agent', 'Catering'], ['vendor_agent', 'Vendors']];

  // A fact's value as a person reads it: dollars for the budgets, lists
  // comma-joined, booleans as yes or no.
  function factValue(name, v) {
    if (Array.isArray(v)) return v.map((x) => factValue(name, x)).join(', ');
    if (typeof v === 'number') return /budget$/.test(name) ? money(v) : String(v);
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (v === null || v === undefined) return 'unknown';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  const words = (t) => (typeof t === 'string' ? t.replace(/\s+/g, ' ').trim() : '');

  // “from "words"” with the input id as a tooltip; without words, the input
  // id; without either, nothing.
  function factSource(cls, stmt, prefix) {
    const text = words(stmt.text);
    const id = typeof stmt.input_id === 'string' ? stmt.input_id : '';
    if (!text && !id) return prefix ? el('span', { class: cls, text: prefix }) : null;
    return el('span', {
      class: cls, 'data-input-id': id || null, title: id ? `From input ${id}` : null,
    }, prefix ? `${prefix} ` : '', text ? ['from ', el('q', { text })] : `from input ${id}`);
  }

  function renderFacts(plan) {
    const box = $('understood');
    if (!plan) {
      replace(box, [el('p', { class: 'empty', text: 'What the planner read from your inputs appears with the plan.' })]);
      return;
    }
    const facts = plan.facts && typeof plan.facts === 'object' ? plan.facts : {};
    const known = new Set(FACTS.map(([k]) => k));
    const order = FACTS.filter(([k]) => facts[k])
      .concat(Object.keys(facts).filter((k) => !known.has(k) && facts[k]).sort()
        .map((k) => [k, cap(k.replace(/_/g, ' '))]));
    const rows = order.map(([name, label]) => {
      const f = facts[name];
      // Items other inputs added, each with where it came from (an item
      // without provenance is already in the value: nothing to add).
      const also = (Array.isArray(f.also_from) ? f.also_from : [])
        .filter((a) => a && (words(a.text) || a.input_id))
        .map((a) => factSource('fact-source also', a, factValue(name, a.value)));
      const sources = [factSource('fact-source', f, '')].concat(also).filter(Boolean);
      const r = f.replaced;
      return el('div', { class: 'fact', 'data-fact': name, 'data-input-id': f.input_id || null },
        el('dt', { text: label }),
        el('dd', {},
          el('span', { class: 'fact-value', text: factValue(name, f.value) }),
          sources,
          r ? factSource('fact-replaced', r, `replaces ${factValue(name, r.value)}`) : null));
    });
    const notes = NOTE_AGENTS.map(([agent, label]) => {
      const r = result(agent);
      const note = r ? words(r.note) : '';
      return note ? el('li', { 'data-agent': agent }, el('strong', { text: `${label}: ` }), note) : null;
    }).filter(Boolean);
    replace(box, [
      rows.length ? el('dl', { class: 'understood', id: 'facts-list' }, rows)
        : el('p', { class: 'empty', text: 'Nothing stated yet: mention guests, a budget, a city or a date.' }),
      notes.length ? [el('h3', { text: 'Notes from the agents' }), el('ul', { class: 'notes', id: 'agent-notes' }, notes)] : null,
    ]);
  }

  function renderTheme(t) {
    const box = $('theme');
    if (!t) {
      replace(box, [el('p', { class: 'empty', text: 'No theme detected yet.' })]);
      return;
    }
    const swatches = (t.colors || []).map((c) => {
      const sw = el('span', { class: 'swatch', 'aria-hidden': 'true' });
      if (CSS.supports('color', c)) sw.style.background = c;
      return el('li', {}, sw, c);
    });
    replace(box, [
      el('p', { class: 'theme-name' }, el('strong', { id: 'theme-name', text: cap(t.primary_theme) }),
        el('span', { class: 'hint', text: ` confidence ${Math.round((t.confidence || 0) * 100)}%` })),
      el('ul', { class: 'swatches', 'aria-label': 'Colours' }, swatches),
      el('div', { class: 'two' },
        el('div', {}, el('h3', { text: 'Decorations' }), el('ul', { class: 'plain' }, (t.decorations || []).map((d) => el('li', { text: d })))),
        el('div', {}, el('h3', { text: 'Activities' }), el('ul', { class: 'plain' }, (t.activities || []).map((d) => el('li', { text: d }))))),
    ]);
  }

  function supplierCard(kind, s, facts, extra) {
    return el('li', { class: 'supplier', 'data-kind': kind, 'data-name': s.name },
      el('div', { class: 'supplier-head' },
        el('h4', { text: s.name }),
        s.rating != null ? el('span', { class: 'rating', 'aria-label': `rated ${s.rating} of 5`, text: stars(s.rating) }) : null),
      el('dl', { class: 'facts' }, facts.filter(Boolean).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
      extra && extra.length ? el('p', { class: 'tags' }, extra.slice(0, 4).map((x) => el('span', { class: 'chip', text: x }))) : null,
      (s.match_reasons || []).length ? el('p', { class: 'why', text: s.match_reasons.slice(0, 2).join(' · ') }) : null);
  }

  // A group of supplier cards. The agent's note (why the search was
  // relaxed, or found nothing) shows above the cards, or instead of them.
  function group(title, id, kind, items, make, note, waiting) {
    const said = words(note);
    return el('section', { class: 'group', 'aria-labelledby': `${id}-h` },
      el('h3', { id: `${id}-h`, text: title }),
      items.length && said ? el('p', { class: 'note', 'data-note': kind, text: said }) : null,
      items.length ? el('ul', { class: 'cards', id }, items.map((s) => make(kind, s)))
        : el('p', { class: 'empty', 'data-note': said ? kind : null, text: said || waiting || 'Nothing yet.' }));
  }

  function renderSuppliers() {
    const venue = result('venue_agent');
    const cake = result('cake_agent');
    const catering = result('catering_agent');
    const vendor = result('vendor_agent');
    const venues = (venue && venue.recommended_venues) || [];
    const bakeries = (cake && cake.recommended_bakeries) || [];
    const caterers = (catering && catering.recommended_caterers) || [];
    const vendors = vendor ? Object.values(vendor.vendors_by_category || {}).flat() : [];
    const venueCard = (k, v) => supplierCard(k, v, [
      ['Type', cap(v.type || '')], ['City', v.city], ['Capacity', `${v.capacity} guests`],
      ['Price', v.daily_price ? `${money(v.daily_price)} / day` : v.hourly_price ? `${money(v.hourly_price)} / hour` : 'Free'],
    ], v.amenities);
    const bakeryCard = (k, b) => supplierCard(k, b, [
      ['City', b.city],
      b.price_range ? ['Price', `${money(b.price_range.small)}–${money(b.price_range.large)}`] : null,
      ['Custom', b.custom_designs ? 'Custom designs' : 'Catalogue'],
    ], (b.specialties || []).concat(b.dietary_options || []));
    const catererCard = (k, c) => supplierCard(k, c, [
      ['City', c.city], ['Per person', money(c.price_per_person)], ['Guests', `${c.min_guests}–${c.max_guests}`],
    ], (c.cuisine_types || []).concat(c.dietary_options || []));
    const vendorCard = (k, v) => supplierCard(k, v, [
      ['Category', cap(v.category)], ['City', v.city], ['Average', money(v.avg_price)],
      ['Reviews', String(v.review_count || 0)],
    ], v.services);
    const sub = (r, label) => (r ? el('p', { class: 'hint', text: label }) : null);
    replace($('suppliers'), [
      group('Venues', 'venues', 'venue', venues, venueCard, venue && venue.note, 'Waiting for the venue agent…'),
      sub(cake, cake ? `Cake: ${cake.size_recommendation} ${cake.cake_style}, about ${range(cake.estimated_cost)}` : ''),
      group('Bakeries', 'bakeries', 'bakery', bakeries, bakeryCard, cake && cake.note, 'Mention a cake to get bakery suggestions.'),
      group('Caterers', 'caterers', 'caterer', caterers, catererCard, catering && catering.note, 'Mention food or catering to get caterers.'),
      group('Vendors', 'vendors', 'vendor', vendors, vendorCard, vendor && vendor.note, 'Mention decorations, entertainment or photos to get vendors.'),
    ]);
  }

  // ---------- what if… (forks and their difference) ----------
  // The "What if…" panel edits a copy of the open party's inputs (each
  // removable, new ones added), forks the party with those changes
  // (POST …/fork), follows the fork's own WebSocket, and shows the fork's
  // plan beside the original's through the diff route, with the agents the
  // fork reused and those that re-ran. The fork's id and token stay here
  // until it is discarded (DELETE) or another party is opened; the fork
  // itself stays on the server until discarded.

  // Quiet time after the last plan or budget event before the plans are
  // compared again: a fork's replay arrives as one burst, one diff serves it.
  const DIFF_DEBOUNCE_MS = 120;
  // Failed WebSocket connects in a row before the fork's status is asked
  // for, so that a deleted fork or a revoked token is said in words.
  const FORK_CHECK_AFTER = 3;

  const wi = {
    open: false,
    removed: new Set(), // input ids of the open party the what-if leaves out
    added: [], // new inputs: {content, tags}
    fork: null, // the fork being shown (see startFork)
    from: null, // seq of the earlier plan the what-if starts from; null: now
    plans: null, // the party's plans: [{seq, at, inputs}] (see loadPlans)
  };
  // Pages of the events route read for the party's plans (1,000 events
  // each): a party of 200 inputs planned one at a time has a few thousand.
  const PLAN_PAGES_MAX = 20;
  // Tokens of the parties this page created or forked, so a fork can link
  // back to its original. Memory only, like the share link's hash.
  const known = new Map();

  const RUN_LABEL = {
    reused: 'Reused', rerun: 'Re-ran', running: 'Running', failed: 'Failed', dropped: 'Result dropped',
  };
  const REASON_LABEL = {
    capacity: 'capacity', city: 'city', price: 'price', theme: 'theme', dietary: 'dietary needs',
    setting: 'venue setting', other: 'ranking among suppliers that fit both',
  };
  const FACT_LABEL = () => Object.fromEntries(FACTS);

  // A delta {min, max} in words: "+$575", "−$50 to +$20", "No change".
  function deltaText(d) {
    if (!d) return '';
    const sign = (n) => (n > 0 ? `+${money(n)}` : n < 0 ? `−${money(-n)}` : '$0');
    if (!d.min && !d.max) return 'No change';
    return d.min === d.max ? sign(d.min) : `${sign(d.min)} to ${sign(d.max)}`;
  }

  function forkLink(id, token) {
    const t = token ? `&token=${encodeURIComponent(token)}` : '';
    return `${location.pathname}#party=${encodeURIComponent(id)}${t}`;
  }

  function canWhatIf() {
    return !!(state.party && state.party.final_plan && !state.deleted);
  }

  function renderWhatIfToggle() {
    const btn = $('whatif-toggle');
    btn.hidden = !canWhatIf() && !wi.fork;
    btn.setAttribute('aria-expanded', String(wi.open));
    if (wi.open && !wi.fork) renderWhatIfEditor();
  }

  function openWhatIf() {
    wi.open = true;
    // Read again each time: the party may have been planned since.
    wi.plans = null;
    renderWhatIfFrom();
    loadPlans();
    $('whatif').hidden = false;
    $('whatif-toggle').setAttribute('aria-expanded', 'true');
    showWhatIfView();
    $('whatif-h').focus();
  }

  function closeWhatIf() {
    wi.open = false;
    $('whatif').hidden = true;
    const btn = $('whatif-toggle');
    btn.setAttribute('aria-expanded', 'false');
    if (!btn.hidden) btn.focus();
  }

  // The editor until a fork exists, then the fork's comparison.
  function showWhatIfView() {
    const f = wi.fork;
    $('whatif-form').hidden = !!f;
    $('whatif-result').hidden = !f;
    if (f) renderFork();
    else renderWhatIfEditor();
  }

  // Forgets the what-if (another party was opened): the fork stays on the
  // server, its link was offered.
  function resetWhatIf() {
    stopFork();
    wi.fork = null;
    wi.removed.clear();
    wi.added = [];
    wi.from = null;
    wi.plans = null;
    wi.open = false;
    $('whatif').hidden = true;
    $('whatif-toggle').setAttribute('aria-expanded', 'false');
    $('whatif-text').value = '';
    $('whatif-tags').value = '';
    showError('whatif-error', '');
    $('whatif-note').textContent = '';
  }

  // The party's plans, each with the inputs it was made from, folded from
  // the events route's pages; the "Start from" choice lists them. Errors
  // leave the choice hidden: "now" still works.
  async function loadPlans() {
    const gen = state.gen;
    const plans = [];
    const inputs = new Map(); // input_id → input, in order added
    let since = 0;
    for (let page = 0; page < PLAN_PAGES_MAX; page++) {
      let data;
      try {
        data = await api('GET', partyPath(`/events?since=${since}&limit=1000`));
      } catch (_) {
        return;
      }
      if (gen !== state.gen) return;
      for (const e of data.events || []) {
        const p = e.payload || {};
        if (e.event_type === 'party.input.added') {
          inputs.set(p.input_id, { input_id: p.input_id, content: p.content || '', tags: p.tags || [] });
        } else if (e.event_type === 'party.input.removed') {
          inputs.delete(p.input_id);
        } else if (e.event_type === 'party.plan.updated') {
          plans.push({ seq: e.seq, at: e.timestamp, inputs: [...inputs.values()] });
        }
      }
      if (!data.has_more) break;
      since = data.next_since;
    }
    wi.plans = plans;
    renderWhatIfFrom();
  }

  // "Start from": now, or one of the earlier plans (newest first). Always
  // shown, disabled until earlier plans are known, so that nothing below
  // it moves when they arrive.
  function renderWhatIfFrom() {
    const earlier = (wi.plans || []).slice(0, -1).reverse();
    $('whatif-from').disabled = !earlier.length;
    if (wi.from !== null && !earlier.some((p) => p.seq === wi.from)) wi.from = null;
    const label = (p, n) => {
      const last = p.inputs[p.inputs.length - 1];
      const what = last ? `, the latest “${last.content.slice(0, 40)}”` : '';
      return `Plan ${n} (${p.inputs.length} input${p.inputs.length === 1 ? '' : 's'}${what})`;
    };
    const total = (wi.plans || []).length;
    replace($('whatif-from'), [
      el('option', { value: '', text: 'The plan now' }),
      ...earlier.map((p, i) => el('option', { value: String(p.seq), text: label(p, total - 1 - i) })),
    ]);
    $('whatif-from').value = wi.from === null ? '' : String(wi.from);
  }

  function chooseWhatIfFrom() {
    const v = $('whatif-from').value;
    wi.from = v ? Number(v) : null;
    wi.removed.clear();
    renderWhatIfEditor();
  }

  // The inputs the what-if starts from.
  function whatIfBase() {
    if (wi.from !== null) {
      const plan = (wi.plans || []).find((p) => p.seq === wi.from);
      if (plan) return plan.inputs;
    }
    return (state.party && state.party.inputs) || [];
  }

  function renderWhatIfEditor() {
    const inputs = whatIfBase();
    const ids = new Set(inputs.map((i) => i.input_id));
    for (const id of [...wi.removed]) if (!ids.has(id)) wi.removed.delete(id);
    replace($('whatif-inputs'), inputs.length ? inputs.map((i) => {
      const out = wi.removed.has(i.input_id);
      const short = i.content.slice(0, 60);
      return el('li', { class: `input${out ? ' removed' : ''}`, 'data-input-id': i.input_id },
        el('div', { class: 'input-body' },
          el('p', { class: 'input-text', text: i.content }),
          (i.tags || []).length || out ? el('p', { class: 'input-meta' },
            (i.tags || []).map((t) => el('span', { class: 'chip', text: t })),
            out ? el('span', { class: 'tag', text: 'left out' }) : null) : null),
        el('button', {
          type: 'button', class: out ? 'keep' : 'remove', 'data-key': `wi-${i.input_id}`,
          'aria-pressed': String(out),
          'aria-label': out ? `Keep input: ${short}` : `Leave out input: ${short}`,
          onclick: () => {
            if (wi.removed.has(i.input_id)) wi.removed.delete(i.input_id);
            else wi.removed.add(i.input_id);
            renderWhatIfEditor();
          },
        }, out ? 'Keep' : 'Remove'));
    }) : [el('li', { class: 'empty', text: 'The party has no inputs.' })], $('whatif-text'));
    replace($('whatif-added'), wi.added.map((a, n) => el('li', { class: 'input added', 'data-added': n },
      el('div', { class: 'input-body' },
        el('p', { class: 'input-text', text: a.content }),
        el('p', { class: 'input-meta' }, el('span', { class: 'tag new', text: 'new' }),
          a.tags.map((t) => el('span', { class: 'chip', text: t })))),
      el('button', {
        type: 'button', class: 'remove', 'data-key': `wi-add-${n}-${a.content.slice(0, 20)}`,
        'aria-label': `Drop new input: ${a.content.slice(0, 60)}`,
        onclick: () => { wi.added.splice(n, 1); renderWhatIfEditor(); },
      }, 'Remove'))), $('whatif-text'));
    const changes = wi.removed.size + wi.added.length;
    $('whatif-count').textContent = changes
      ? `${wi.removed.size} left out, ${wi.added.length} added.`
      : wi.from === null ? 'No changes yet: the fork would plan the same party.'
        : 'No changes yet: the fork would be the party as it was at that plan.';
  }

  // Adds the typed input to the what-if; false (with a message) when empty.
  function addWhatIfInput() {
    showError('whatif-error', '');
    const content = $('whatif-text').value.trim();
    if (!content) {
      showError('whatif-error', 'Type the input to add first.');
      $('whatif-text').focus();
      return false;
    }
    const tags = $('whatif-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
    wi.added.push({ content, tags });
    $('whatif-text').value = '';
    $('whatif-tags').value = '';
    renderWhatIfEditor();
    $('whatif-text').focus();
    return true;
  }

  async function tryWhatIf(ev) {
    ev.preventDefault();
    showError('whatif-error', '');
    $('whatif-note').textContent = '';
    // Typed but not added yet: the user means it.
    if ($('whatif-text').value.trim() && !addWhatIfInput()) return;
    const changes = [...wi.removed].map((id) => ({ remove: id }))
      .concat(wi.added.map((a) => ({ add: { content: a.content, tags: a.tags } })));
    const body = wi.from === null ? { changes } : { changes, at_seq: wi.from };
    const btn = $('whatif-try');
    btn.disabled = true;
    const gen = state.gen;
    try {
      const created = await api('POST', partyPath('/fork'), body);
      if (gen !== state.gen) return;
      startFork(created);
      $('whatif-h').focus();
    } catch (e) {
      if (gen === state.gen) showError('whatif-error', `Could not try it: ${e.message}`);
    } finally {
      btn.disabled = false;
    }
  }

  function startFork(created) {
    stopFork();
    known.set(state.partyId, state.token);
    known.set(created.party_id, created.party_token);
    const from = created.forked_from || {};
    wi.fork = {
      partyId: created.party_id,
      token: created.party_token,
      origin: state.partyId,
      originToken: state.token,
      forkedSeq: from.seq,
      gen: state.gen,
      ws: null, timer: null, retry: 0, failures: 0,
      lastSeq: 0,
      agents: {}, // agent → {run, reusedFrom}
      planSeen: false,
      diff: null, diffSeq: -1, diffTimer: null, diffBusy: false, diffAgain: false,
      gone: false,
      discarding: false,
    };
    showWhatIfView();
    connectFork(wi.fork);
  }

  function stopFork() {
    const f = wi.fork;
    if (!f) return;
    f.gone = true;
    clearTimeout(f.timer);
    clearTimeout(f.diffTimer);
    const ws = f.ws;
    f.ws = null;
    if (ws) ws.close(1000, 'leaving');
  }

  function connectFork(f) {
    if (f.gone || f !== wi.fork) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}${API}/ws/${encodeURIComponent(f.partyId)}`
      + `?token=${encodeURIComponent(f.token)}&since=${f.lastSeq}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (_) {
      retryFork(f);
      return;
    }
    f.ws = ws;
    ws.addEventListener('message', (m) => {
      if (ws !== f.ws) return;
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (!msg || typeof msg !== 'object' || msg.type === 'pong') return;
      if (msg.type === 'connection') {
        f.retry = 0;
        f.failures = 0;
        scheduleDiff(f);
        return;
      }
      forkEvent(f, msg);
    });
    ws.addEventListener('close', () => {
      if (ws !== f.ws) return;
      f.ws = null;
      retryFork(f);
    });
  }

  async function retryFork(f) {
    if (f.gone || f.discarding || f !== wi.fork) return;
    f.failures += 1;
    if (f.failures >= FORK_CHECK_AFTER) {
      // Ask the API why: a deleted fork or a bad token is said in its words.
      try {
        await api('GET', `/party/${encodeURIComponent(f.partyId)}/status`, undefined, { token: f.token });
      } catch (e) {
        if (e.status && e.status < 500) {
          forkGone(f, `The fork cannot be followed: ${e.message}`);
          return;
        }
      }
    }
    const delay = Math.min(5000, 250 * 2 ** f.retry) * (0.8 + Math.random() * 0.4);
    f.retry += 1;
    clearTimeout(f.timer);
    f.timer = setTimeout(() => connectFork(f), delay);
  }

  function forkGone(f, message) {
    stopFork();
    showError('whatif-error', message);
    renderFork();
  }

  // One event of the fork's stream: which agents were reused, which re-ran.
  function forkEvent(f, msg) {
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || seq <= f.lastSeq) return;
    f.lastSeq = seq;
    const p = msg.payload || {};
    const a = msg.agent;
    const reusedFrom = msg.reused_from || p.reused_from || null;
    switch (msg.type) {
      case 'agent_started':
        f.agents[a] = { run: 'running', reusedFrom: (f.agents[a] || {}).reusedFrom || null };
        break;
      case 'agent_completed':
        if (reusedFrom) f.agents[a] = { run: 'reused', reusedFrom };
        else f.agents[a] = { run: 'rerun', reusedFrom: (f.agents[a] || {}).reusedFrom || null };
        break;
      case 'agent_failed':
        f.agents[a] = { run: 'failed', error: msg.error || '' };
        break;
      case 'agent_data_removed':
        f.agents[a] = { run: 'dropped' };
        break;
      case 'plan_updated':
        f.planSeen = true;
        scheduleDiff(f);
        break;
      case 'budget_updated':
        scheduleDiff(f);
        break;
      case 'party_deleted':
        // Deleted elsewhere; our own discard says so itself.
        if (!f.discarding) forkGone(f, 'The fork was deleted.');
        return;
      default:
        break;
    }
    renderFork();
  }

  function scheduleDiff(f) {
    if (!f || f.gone) return;
    clearTimeout(f.diffTimer);
    f.diffTimer = setTimeout(() => fetchDiff(f), DIFF_DEBOUNCE_MS);
  }

  // Compares the original with the fork; one request at a time, and one
  // more when events came in meanwhile.
  async function fetchDiff(f) {
    if (f.gone || f !== wi.fork) return;
    if (f.diffBusy) { f.diffAgain = true; return; }
    f.diffBusy = true;
    const seq = f.lastSeq;
    try {
      const d = await api('GET',
        `/party/${encodeURIComponent(f.origin)}/diff/${encodeURIComponent(f.partyId)}`,
        undefined, { token: f.originToken, headers: { 'X-Other-Token': f.token } });
      if (f.gone || f !== wi.fork) return;
      f.diff = d;
      f.diffSeq = seq;
      showError('whatif-error', '');
      renderFork();
    } catch (e) {
      if (f === wi.fork && !f.gone) showError('whatif-error', `Could not compare the plans: ${e.message}`);
    } finally {
      f.diffBusy = false;
      if (f.diffAgain) {
        f.diffAgain = false;
        scheduleDiff(f);
      }
    }
  }

  async function discardFork() {
    const f = wi.fork;
    if (!f) return;
    showError('whatif-error', '');
    const btn = $('whatif-discard');
    btn.disabled = true;
    f.discarding = true; // its stream's party_deleted and close are expected
    try {
      await api('DELETE', `/party/${encodeURIComponent(f.partyId)}`, undefined, { token: f.token });
    } catch (e) {
      // Already gone is what discarding wants.
      if (e.status !== 404) {
        f.discarding = false;
        showError('whatif-error', `Could not discard the fork: ${e.message}`);
        btn.disabled = false;
        if (!f.ws && !f.gone) connectFork(f);
        return;
      }
    }
    btn.disabled = false;
    stopFork();
    known.delete(f.partyId);
    wi.fork = null;
    showWhatIfView();
    $('whatif-note').textContent = `Fork ${f.partyId} discarded. The what-if is as you left it: change it and try again.`;
    $('whatif-try').focus();
  }

  // The fork's header, its agents and, once compared, both plans side by side.
  function renderFork() {
    const f = wi.fork;
    if (!f || $('whatif-result').hidden) return;
    const runs = Object.values(f.agents);
    const running = runs.some((r) => r.run === 'running');
    const badge = $('whatif-state');
    // Ready: no agent at work and a plan compared (one the fork made, or
    // the copied one when the what-if changed nothing).
    const ready = !running && !!f.diff
      && (f.planSeen || (f.diff.completion && f.diff.completion.b_status === 'ready'));
    badge.textContent = f.gone ? 'Stopped' : ready ? 'Ready' : 'Planning…';
    badge.className = `badge ${f.gone ? 'bad' : ready ? 'good' : 'info'}`;
    badge.dataset.state = f.gone ? 'stopped' : ready ? 'ready' : 'planning';
    $('whatif-fork-text').textContent = `Fork ${f.partyId} of ${f.origin}`
      + (f.forkedSeq != null ? ` at event ${f.forkedSeq}` : '');
    const open = $('whatif-open');
    open.href = forkLink(f.partyId, f.token);
    open.hidden = f.gone;
    $('whatif-discard').hidden = f.gone;
    renderRuns(f);
    renderCompare(f);
  }

  function renderRuns(f) {
    const names = AGENTS.filter((a) => f.agents[a])
      .concat(Object.keys(f.agents).filter((a) => !AGENTS.includes(a)).sort());
    const count = (run) => names.filter((n) => f.agents[n].run === run).length;
    $('whatif-runs').textContent = names.length
      ? ` ${count('reused')} reused from the original, ${count('rerun') + count('running')} ran again` : '';
    if (!names.length) {
      replace($('whatif-agents'), [el('li', { class: 'empty', text: 'Waiting for the fork’s agents…' })]);
      return;
    }
    replace($('whatif-agents'), names.map((name) => {
      const r = f.agents[name];
      const kind = { reused: 'good', rerun: 'info', running: 'info', failed: 'bad', dropped: '' }[r.run] || '';
      let why = '';
      if (r.run === 'reused') why = 'its inputs did not change: the original’s result';
      else if (r.run === 'rerun') why = r.reusedFrom ? 'reused, then ran again for the change' : 'ran again for the change';
      else if (r.run === 'failed') why = r.error;
      return el('li', {
        'data-agent': name, 'data-run': r.run,
        title: r.reusedFrom ? `Reused from event ${r.reusedFrom}` : null,
      }, el('strong', { text: AGENT_LABEL[name] || name }),
      el('span', { class: `badge ${kind}`, text: RUN_LABEL[r.run] || r.run }),
      why ? el('span', { class: 'hint', text: why }) : null);
    }));
  }

  // One row of the comparison: what, the original's side, the fork's side,
  // and the difference.
  function compareRow(kind, key, change, label, a, b, diff) {
    const cell = (col, v) => el('td', { 'data-col': col, 'data-label': col === 'a' ? 'Original' : col === 'b' ? 'What if' : 'Difference' },
      Array.isArray(v) ? v : [v]);
    return el('tr', { class: `cmp ${change}`, 'data-kind': kind, 'data-key': key, 'data-change': change },
      el('th', { scope: 'row', text: label }), cell('a', a), cell('b', b), cell('d', diff));
  }

  function sideCell(side) {
    if (!side || (!side.done && !side.supplier && side.value == null)) return el('span', { class: 'none', text: 'Not planned' });
    const s = side.supplier;
    if (s) {
      const sub = [s.city, s.capacity != null ? `capacity ${s.capacity}` : null, money(s.price)].filter(Boolean).join(' · ');
      return [el('span', { class: 'side-main', text: s.name }), el('span', { class: 'side-sub', text: sub })];
    }
    return el('span', { class: 'side-main', text: side.value != null ? String(side.value) : 'Planned' });
  }

  const CHANGE_LABEL = {
    same: 'Same', changed: 'Changed', gained: 'Only in the what-if', lost: 'Only in the original',
  };

  function changeCell(change, reasons) {
    const why = (reasons || []).map((r) => REASON_LABEL[r] || r);
    return [el('span', { class: `change ${change}`, text: CHANGE_LABEL[change] || change }),
      why.length ? el('span', { class: 'side-sub reasons', 'data-reasons': (reasons || []).join(' ') }, `because of ${why.join(', ')}`) : null];
  }

  function renderCompare(f) {
    const box = $('whatif-compare-box');
    const d = f.diff;
    if (!d) {
      replace($('whatif-summary'), []);
      replace(box, [el('p', { class: 'empty', text: 'The plans are compared once the fork has a plan.' })]);
      return;
    }
    replace($('whatif-summary'), (d.summary || []).length
      ? d.summary.map((t) => el('li', { text: t }))
      : [el('li', { class: 'empty', text: 'The plans do not differ.' })]);
    const labels = FACT_LABEL();
    const section = (title, rows) => (rows.length ? el('tbody', {},
      el('tr', { class: 'section' }, el('th', { colspan: 4, scope: 'colgroup', text: title })), rows) : null);
    const facts = (d.facts || []).map((x) => {
      const a = x.a == null ? 'not stated' : factValue(x.fact, x.a);
      const b = x.b == null ? 'not stated' : factValue(x.fact, x.b);
      const src = (s) => (s && s.text ? el('span', { class: 'side-sub', title: s.input_id ? `From input ${s.input_id}` : null }, 'from ', el('q', { text: words(s.text) })) : null);
      return compareRow('fact', x.fact, 'changed', labels[x.fact] || cap(x.fact.replace(/_/g, ' ')),
        [el('span', { class: 'side-main', text: a }), src(x.a_source)],
        [el('span', { class: 'side-main', text: b }), src(x.b_source)],
        el('span', { class: 'change changed', text: `${a} → ${b}` }));
    });
    const areas = (d.areas || []).map((x) => compareRow('area', x.area, x.change,
      cap(x.area.replace(/^vendors\//, 'vendors: ')), sideCell(x.a), sideCell(x.b), changeCell(x.change, x.reasons)));
    const bd = d.budget || {};
    const budget = (bd.categories || []).map((c) => compareRow('budget', c.category, c.change, cap(c.category),
      c.a ? range(c.a) : '–', c.b ? range(c.b) : '–',
      [el('span', { class: `change ${c.change}`, text: deltaText(c.delta) }),
        c.change === 'gained' || c.change === 'lost' ? el('span', { class: 'side-sub', text: CHANGE_LABEL[c.change] }) : null]));
    const totalChange = bd.delta && (bd.delta.min || bd.delta.max) ? 'changed' : 'same';
    budget.push(compareRow('total', 'total', totalChange, 'Total',
      el('strong', { text: range(bd.a_total) }), el('strong', { text: range(bd.b_total) }),
      el('strong', { class: `change ${totalChange}`, text: deltaText(bd.delta) })));
    if (bd.a_stated != null || bd.b_stated != null) {
      const st = bd.a_stated === bd.b_stated ? 'same' : 'changed';
      const says = (n) => (n == null ? 'not stated' : money(n));
      budget.push(compareRow('stated', 'stated', st, 'Your budget', says(bd.a_stated), says(bd.b_stated),
        el('span', { class: `change ${st}`, text: st === 'same' ? 'Same' : `${says(bd.a_stated)} → ${says(bd.b_stated)}` })));
    }
    const c = d.completion || {};
    const cChange = c.delta || c.a_status !== c.b_status ? 'changed' : 'same';
    const pts = (n) => (n > 0 ? `+${n}` : n < 0 ? `−${-n}` : '±0');
    const completion = [compareRow('completion', 'completion', cChange, 'Completion',
      `${c.a || 0}% · ${c.a_status || ''}`, `${c.b || 0}% · ${c.b_status || ''}`,
      el('span', { class: `change ${cChange}`, text: `${pts(c.delta || 0)} points` }))];
    replace(box, [el('table', { class: 'compare', id: 'whatif-compare' },
      el('caption', { class: 'sr-only', text: 'The original plan beside the what-if plan, with their differences' }),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: 'What' }),
        el('th', { scope: 'col' }, 'Original ', el('span', { class: 'mono', text: f.origin })),
        el('th', { scope: 'col' }, 'What if ', el('span', { class: 'mono', text: f.partyId })),
        el('th', { scope: 'col', text: 'Difference' }))),
      section('Facts', facts), section('Areas', areas), section('Budget', budget),
      section('Completion', completion))]);
  }

  function renderForkedFrom() {
    const node = $('forked-from');
    const ff = state.forkedFrom;
    if (!ff || !ff.party_id) {
      node.hidden = true;
      node.replaceChildren();
      return;
    }
    const token = known.get(ff.party_id);
    node.hidden = false;
    node.replaceChildren('Forked from ',
      token !== undefined
        ? el('a', { href: forkLink(ff.party_id, token), class: 'mono', text: ff.party_id })
        : el('span', { class: 'mono', text: ff.party_id }),
      ff.seq != null ? ` at event ${ff.seq}` : '');
  }

  // ---------- actions ----------
  async function createParty(ev) {
    ev.preventDefault();
    showError('create-error', '');
    const lines = $('create-text').value.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) {
      showError('create-error', 'Describe the party first (one idea per line).');
      $('create-text').focus();
      return;
    }
    const btn = $('create-btn');
    btn.disabled = true;
    try {
      state.token = null;
      const created = await api('POST', '/party', { initial_inputs: lines.map((content) => ({ content })) });
      history.pushState(null, '', `${location.pathname}#party=${encodeURIComponent(created.party_id)}&token=${encodeURIComponent(created.party_token)}`);
      $('create-text').value = '';
      await openParty(created.party_id, created.party_token, true);
      $('party-h').setAttribute('tabindex', '-1');
      $('party-h').focus();
    } catch (e) {
      showError('create-error', `Could not create the party: ${e.message}`);
    } finally {
      btn.disabled = false;
    }
  }

  async function addInput(ev) {
    ev.preventDefault();
    showError('input-error', '');
    const content = $('input-text').value.trim();
    if (!content) {
      showError('input-error', 'Type something to add.');
      $('input-text').focus();
      return;
    }
    const tags = $('input-tags').value.split(',').map((t) => t.trim()).filter(Boolean);
    const btn = $('input-btn');
    btn.disabled = true;
    try {
      await api('POST', partyPath('/input'), { content, tags });
      $('input-text').value = '';
      $('input-tags').value = '';
      $('input-text').focus();
    } catch (e) {
      showError('input-error', `Could not add the input: ${e.message}`);
    } finally {
      btn.disabled = false;
    }
  }

  async function removeInput(inputId) {
    showError('input-error', '');
    try {
      await api('DELETE', partyPath(`/input/${encodeURIComponent(inputId)}`));
    } catch (e) {
      showError('input-error', `Could not remove the input: ${e.message}`);
    }
  }

  async function copyShare() {
    const input = $('share-link');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (_) {
      input.select();
      document.execCommand('copy');
    }
    $('share-copy').textContent = 'Copied';
    setTimeout(() => { $('share-copy').textContent = 'Copy'; }, 1500);
  }

  async function detectExport() {
    try {
      const r = await fetch('openapi.json', { cache: 'no-store' });
      const doc = await r.json();
      state.exportAvailable = Object.keys(doc.paths || {}).some((p) => /\/party\/\{party_id\}\/export$/.test(p));
    } catch (_) {
      state.exportAvailable = false;
    }
    $('export').hidden = !state.exportAvailable;
    state.exportChecked = true;
  }

  // The export route's answer as a Blob (the token goes in a header, never a URL).
  async function fetchExport(format) {
    const r = await fetch(`${API}${partyPath(`/export?format=${encodeURIComponent(format)}`)}`, {
      headers: state.token ? { Authorization: `Bearer ${state.token}` } : {}, cache: 'no-store',
    });
    if (!r.ok) {
      let detail = `HTTP ${r.status}`;
      try { detail = (await r.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return r.blob();
  }

  async function exportAs(format) {
    showError('party-error', '');
    try {
      const url = URL.createObjectURL(await fetchExport(format));
      const a = el('a', { href: url, download: `${state.partyId}.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      showError('party-error', `Export failed: ${e.message}`);
    }
  }

  // Two steps: the first click arms the button, a second within 4 s deletes.
  let deleteArmed = null;
  async function deleteParty() {
    const btn = $('delete-party');
    if (!deleteArmed) {
      btn.textContent = 'Click again to delete';
      btn.classList.add('armed');
      deleteArmed = setTimeout(() => {
        deleteArmed = null;
        btn.textContent = 'Delete party';
        btn.classList.remove('armed');
      }, 4000);
      return;
    }
    clearTimeout(deleteArmed);
    deleteArmed = null;
    btn.textContent = 'Delete party';
    btn.classList.remove('armed');
    try {
      await api('DELETE', partyPath(''));
      markDeleted();
    } catch (e) {
      showError('party-error', `Could not delete the party: ${e.message}`);
    }
  }

  // ---------- start ----------
  function init() {
    $('create-form').addEventListener('submit', createParty);
    $('create-text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('create-form').requestSubmit();
    });
    $('input-form').addEventListener('submit', addInput);
    $('input-text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('input-form').requestSubmit(); }
    });
    $('share-copy').addEventListener('click', copyShare);
    $('export-json').addEventListener('click', () => exportAs('json'));
    $('export-csv').addEventListener('click', () => exportAs('csv'));
    $('delete-party').addEventListener('click', deleteParty);
    $('whatif-toggle').addEventListener('click', () => (wi.open ? closeWhatIf() : openWhatIf()));
    $('whatif-close').addEventListener('click', closeWhatIf);
    $('whatif').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); closeWhatIf(); }
    });
    $('whatif-add').addEventListener('click', addWhatIfInput);
    $('whatif-from').addEventListener('change', chooseWhatIfFrom);
    // Enter in either field adds the input to the what-if; "Try it" is a
    // deliberate click (or Enter on the button itself).
    for (const id of ['whatif-text', 'whatif-tags']) {
      $(id).addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); addWhatIfInput(); }
      });
    }
    $('whatif-form').addEventListener('submit', tryWhatIf);
    $('whatif-discard').addEventListener('click', discardFork);
    window.addEventListener('hashchange', fromHash);
    window.addEventListener('popstate', fromHash);
    detectExport();
    fromHash();
  }

  // Hooks for the end-to-end test (and for poking around in devtools).
  window.__partybus = {
    // Drops the WebSocket as a network failure would; the page reconnects
    // by itself, not before holdMs have passed.
    dropSocket(holdMs) {
      state.holdUntil = Date.now() + (Number(holdMs) || 0);
      if (state.ws) state.ws.close(4000, 'dropped by test hook');
    },
    // What the export buttons would download, as text.
    exportText(format) {
      return fetchExport(format).then((b) => b.text());
    },
    info() {
      return {
        partyId: state.partyId, lastSeq: state.lastSeq, snapshotSeq: state.snapshotSeq,
        connects: state.connects, live: state.live, exportAvailable: state.exportAvailable,
        exportChecked: state.exportChecked,
        events: state.events.slice(),
        whatif: wi.fork ? {
          forkId: wi.fork.partyId, token: wi.fork.token, lastSeq: wi.fork.lastSeq,
          diffSeq: wi.fork.diffSeq, agents: JSON.parse(JSON.stringify(wi.fork.agents)),
        } : null,
      };
    },
  };

  init();
})();
