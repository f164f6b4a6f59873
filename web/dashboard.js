// weir dashboard. Loads the last 15 minutes from GET /stats/history, then follows GET /events
// (server-sent events, one sample a second), or polls /stats/history?since=T once a second when
// events are not available. Everything comes from this admin endpoint; nothing else is fetched.
// Server changes (drain / disable / enable) go through the admin API; the token, when the server
// asks for one, is asked once and kept in sessionStorage (this tab only).
'use strict';

(function () {
  const WINDOW_MS = 15 * 60 * 1000;
  const MIN_SPAN_MS = 60 * 1000;  // a fresh start shows its first minute, not 15 empty ones
  const TOKEN_KEY = 'weir.admin.token';
  const EVENTS_STALL_MS = 5000;  // no event for this long: switch to polling
  const POLL_MS = 1000;

  const STATE_COLORS = {
    healthy: '#2e9d5b', unhealthy: '#d64545', ejected: '#e8833a',
    draining: '#d9a520', disabled: '#7d8491', unknown: '#c3c9d4',
  };
  const CLASS_COLORS = { '2xx': '#2e9d5b', '3xx': '#2764c5', '4xx': '#e8833a', '5xx': '#d64545' };
  const PALETTE = ['#2764c5', '#e8833a', '#2e9d5b', '#9b59b6', '#d64545', '#17a2b8', '#8c6d31',
    '#e377c2', '#7f7f7f', '#bcbd22'];

  const samples = [];  // oldest first, covering at most WINDOW_MS
  let lastT = 0;
  let source = null;
  let lastEventAt = 0;
  let pollTimer = null;
  let renderPending = false;
  let tickSeconds = false;  // axis labels with seconds while the span is short
  const charts = {};
  const upstreamViews = new Map();  // upstream name -> its section, timeline rows and charts
  const serverRows = new Map();     // "upstream\0address" -> table row

  // ------------------------------------------------------------------------------------------
  // small helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function pad2(n) { return n < 10 ? '0' + n : String(n); }

  function clock(ms) {
    const d = new Date(ms);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function shortClock(ms) {
    const d = new Date(ms);
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function number(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n * 100) / 100);
  }

  function colorOf(i) { return PALETTE[i % PALETTE.length]; }

  function setMode(mode) {
    document.body.dataset.mode = mode;
    $('live').textContent = {
      connecting: 'connecting…', events: 'live', polling: 'live (polling)', offline: 'offline',
    }[mode] || mode;
  }

  let noticeTimer = null;
  function notice(text, isError) {
    const n = $('notice');
    n.textContent = text;
    n.classList.toggle('error', !!isError);
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, isError ? 10000 : 4000);
  }

  // ------------------------------------------------------------------------------------------
  // charts

  function lineChart(canvas, yFormat) {
    return new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        spanGaps: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        elements: { point: { radius: 0, hitRadius: 4 }, line: { borderWidth: 1.6, tension: 0 } },
        scales: {
          x: {
            type: 'linear',
            ticks: {
              callback: (v) => (tickSeconds ? clock(v) : shortClock(v)),
              maxRotation: 0,
              autoSkipPadding: 16,
            },
            grid: { color: '#eef1f5' },
          },
          y: {
            beginAtZero: true,
            ticks: { callback: (v) => (yFormat ? yFormat(v) : number(v)), maxTicksLimit: 6 },
            grid: { color: '#eef1f5' },
          },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, padding: 8 } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? clock(items[0].parsed.x) : ''),
              label: (item) => item.dataset.label + ': ' +
                (item.parsed.y === null ? '–' : (yFormat ? yFormat(item.parsed.y) : number(item.parsed.y))),
            },
          },
        },
      },
    });
  }

  // Replaces the chart's series (matched by key, so colours and hidden state stay) and its
  // x range, then redraws without animation.
  function setSeries(chart, series, xMin, xMax) {
    const byKey = new Map(chart.data.datasets.map((d) => [d.key, d]));
    chart.data.datasets = series.map((s) => {
      const d = byKey.get(s.key) || { key: s.key, fill: false, pointRadius: 0 };
      d.label = s.label;
      d.data = s.data;
      d.borderColor = s.color;
      d.backgroundColor = s.color;
      return d;
    });
    chart.options.scales.x.min = xMin;
    chart.options.scales.x.max = xMax;
    chart.options.plugins.legend.display = series.length > 1;
    chart.update('none');
  }

  function series(key, label, color, pick) {
    return { key, label, color, data: samples.map((s) => ({ x: s.t, y: pick(s) })) };
  }

  // A quantile of 0 means no request ended in that second: a gap, not a zero.
  function latency(s, q) {
    const v = s.latency_ms ? s.latency_ms[q] : 0;
    return v > 0 ? v : null;
  }

  function renderOverview(xMin, xMax) {
    setSeries(charts.requests, [series('requests', 'requests/s', '#2764c5', (s) => s.requests)],
      xMin, xMax);
    setSeries(charts.responses, ['2xx', '3xx', '4xx', '5xx'].map((c) =>
      series(c, c, CLASS_COLORS[c], (s) => (s.responses ? s.responses[c] || 0 : 0))), xMin, xMax);
    setSeries(charts.latency, [
      series('p50', 'p50', '#2e9d5b', (s) => latency(s, 'p50')),
      series('p90', 'p90', '#e8833a', (s) => latency(s, 'p90')),
      series('p99', 'p99', '#d64545', (s) => latency(s, 'p99')),
    ], xMin, xMax);
    setSeries(charts.connections,
      [series('open', 'open connections', '#9b59b6', (s) => s.connections_open)], xMin, xMax);
    setSeries(charts.bytes, [
      series('in', 'in', '#17a2b8', (s) => s.bytes_in),
      series('out', 'out', '#8c6d31', (s) => s.bytes_out),
    ], xMin, xMax);
  }

  // ------------------------------------------------------------------------------------------
  // upstreams: a health timeline, requests/s and p99 per server

  function upstreamView(name) {
    let view = upstreamViews.get(name);
    if (view) return view;
    const section = el('div', 'upstream');
    section.dataset.upstream = name;
    section.appendChild(el('h3', null, name));
    const grid = el('div', 'grid');
    const timelineCard = el('figure', 'card timeline-card');
    timelineCard.appendChild(el('figcaption', null, 'Server state over time'));
    const timeline = el('div', 'timeline');
    timelineCard.appendChild(timeline);
    const axis = el('div', 'tl-axis');
    axis.appendChild(el('span'));
    axis.appendChild(el('span', null, 'now'));
    timelineCard.appendChild(axis);
    grid.appendChild(timelineCard);
    const makeChart = (caption, format) => {
      const card = el('figure', 'card');
      card.appendChild(el('figcaption', null, caption));
      const box = el('div', 'chart');
      const canvas = el('canvas');
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', caption + ' of ' + name);
      box.appendChild(canvas);
      card.appendChild(box);
      grid.appendChild(card);
      return lineChart(canvas, format);
    };
    const requests = makeChart('Requests per second by server');
    const p99 = makeChart('p99 latency (ms) by server', (v) => number(v));
    section.appendChild(grid);
    $('upstream-list').appendChild(section);
    view = { section, timeline, axis, rows: new Map(), requests, p99 };
    upstreamViews.set(name, view);
    return view;
  }

  function timelineRow(view, address) {
    let row = view.rows.get(address);
    if (row) return row;
    const div = el('div', 'tl-row');
    div.dataset.server = address;
    const label = el('span', 'tl-label', address);
    label.title = address;
    const canvas = el('canvas', 'tl-canvas');
    canvas.setAttribute('role', 'img');
    div.appendChild(label);
    div.appendChild(canvas);
    view.timeline.appendChild(div);
    row = { div, canvas };
    view.rows.set(address, row);
    return row;
  }

  function drawTimeline(row, states, xMin, xMax) {
    const canvas = row.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, width, height);
    const scale = width / (xMax - xMin);
    // Each sample covers the second before its time; runs of one state are drawn as one box.
    let runStart = null;
    let runState = null;
    let runEnd = null;
    const flush = () => {
      if (runState === null) return;
      const x0 = Math.max(0, (runStart - xMin) * scale);
      const x1 = Math.min(width, (runEnd - xMin) * scale);
      ctx.fillStyle = STATE_COLORS[runState] || STATE_COLORS.unknown;
      ctx.fillRect(Math.floor(x0), 0, Math.max(1, Math.ceil(x1 - x0)), height);
    };
    for (const p of states) {
      const start = p.t - 1000;
      if (runState === p.state && start - runEnd < 1500) {
        runEnd = p.t;
        continue;
      }
      flush();
      runStart = start;
      runEnd = p.t;
      runState = p.state;
    }
    flush();
  }

  function renderUpstreams(xMin, xMax) {
    const newest = samples[samples.length - 1];
    const current = new Set((newest.upstreams || []).map((u) => u.name));
    for (const [name, view] of upstreamViews) {
      if (current.has(name)) continue;
      view.requests.destroy();
      view.p99.destroy();
      view.section.remove();
      upstreamViews.delete(name);
    }
    // Per server, from every sample: its state, requests/s and p99.
    const perServer = new Map();
    for (const s of samples) {
      for (const u of s.upstreams || []) {
        for (const v of u.servers) {
          const key = u.name + '\u0000' + v.address;
          let e = perServer.get(key);
          if (!e) { e = { states: [], requests: [], p99: [] }; perServer.set(key, e); }
          e.states.push({ t: s.t, state: v.state });
          e.requests.push({ x: s.t, y: v.requests });
          e.p99.push({ x: s.t, y: v.p99_ms > 0 ? v.p99_ms : null });
        }
      }
    }
    for (const u of newest.upstreams || []) {
      const view = upstreamView(u.name);
      const addresses = new Set(u.servers.map((v) => v.address));
      for (const [address, row] of view.rows) {
        if (!addresses.has(address)) { row.div.remove(); view.rows.delete(address); }
      }
      const reqSeries = [];
      const p99Series = [];
      u.servers.forEach((v, i) => {
        const e = perServer.get(u.name + '\u0000' + v.address);
        const row = timelineRow(view, v.address);
        row.div.dataset.state = v.state;
        row.canvas.setAttribute('aria-label', v.address + ': ' + v.state + ' now');
        drawTimeline(row, e.states, xMin, xMax);
        reqSeries.push({ key: v.address, label: v.address, color: colorOf(i), data: e.requests });
        p99Series.push({ key: v.address, label: v.address, color: colorOf(i), data: e.p99 });
      });
      view.axis.firstChild.textContent = clock(xMin);
      setSeries(view.requests, reqSeries, xMin, xMax);
      setSeries(view.p99, p99Series, xMin, xMax);
    }
  }

  // ------------------------------------------------------------------------------------------
  // routes: requests/s and error rate

  function renderRoutes(xMin, xMax) {
    const perRoute = new Map();
    for (const s of samples) {
      for (const r of s.routes || []) {
        const key = r.listener + '#' + r.index;
        let e = perRoute.get(key);
        if (!e) { e = { label: '', requests: [], errors: [] }; perRoute.set(key, e); }
        e.label = r.listener + ' #' + r.index + ': ' + r.label;
        e.requests.push({ x: s.t, y: r.requests });
        e.errors.push({ x: s.t, y: r.requests > 0 ? (100 * r.errors) / r.requests : null });
      }
    }
    const newest = samples[samples.length - 1];
    const live = (newest.routes || []).map((r) => r.listener + '#' + r.index);
    const req = [];
    const err = [];
    live.forEach((key, i) => {
      const e = perRoute.get(key);
      req.push({ key, label: e.label, color: colorOf(i), data: e.requests });
      err.push({ key, label: e.label, color: colorOf(i), data: e.errors });
    });
    setSeries(charts.routeRequests, req, xMin, xMax);
    setSeries(charts.routeErrors, err, xMin, xMax);
  }

  // ------------------------------------------------------------------------------------------
  // servers table

  function actionButton(action, label, upstream, address) {
    const b = el('button', null, label);
    b.type = 'button';
    b.dataset.action = action;
    b.dataset.upstream = upstream;
    b.dataset.server = address;
    return b;
  }

  function renderTable() {
    const newest = samples[samples.length - 1];
    const body = $('server-rows');
    const seen = new Set();
    for (const u of newest.upstreams || []) {
      for (const v of u.servers) {
        const key = u.name + '\u0000' + v.address;
        seen.add(key);
        let row = serverRows.get(key);
        if (!row) {
          row = el('tr');
          row.dataset.upstream = u.name;
          row.dataset.server = v.address;
          const cells = ['', 'addr', '', 'num', 'num', 'num', 'num', 'num', ''];
          for (const c of cells) row.appendChild(el('td', c || null));
          row.cells[0].textContent = u.name;
          row.cells[1].textContent = v.address;
          const actions = el('div', 'actions');
          actions.appendChild(actionButton('drain', 'Drain', u.name, v.address));
          actions.appendChild(actionButton('disable', 'Disable', u.name, v.address));
          actions.appendChild(actionButton('enable', 'Enable', u.name, v.address));
          row.cells[8].appendChild(actions);
          serverRows.set(key, row);
        }
        row.dataset.state = v.state;
        row.dataset.admin = v.admin;
        const badge = row.cells[2].firstChild || row.cells[2].appendChild(el('span'));
        badge.className = 'badge state-' + v.state;
        badge.textContent = v.state === 'unknown' ? 'not checked' : v.state;
        badge.title = 'admin: ' + v.admin + ', health: ' + v.health;
        row.cells[3].textContent = String(v.weight);
        row.cells[4].textContent = String(v.in_flight);
        row.cells[5].textContent = number(v.requests);
        row.cells[6].textContent = v.p99_ms > 0 ? number(v.p99_ms) : '–';
        row.cells[7].textContent = String(v.requests_total);
        for (const b of row.cells[8].querySelectorAll('button')) {
          if (b.dataset.busy) continue;
          b.disabled = (b.dataset.action === 'drain' && v.admin === 'draining') ||
            (b.dataset.action === 'disable' && v.admin === 'disabled') ||
            (b.dataset.action === 'enable' && v.admin === 'enabled');
        }
        body.appendChild(row);  // keeps the sample's order
      }
    }
    for (const [key, row] of serverRows) {
      if (!seen.has(key)) { row.remove(); serverRows.delete(key); }
    }
    const empty = body.querySelector('tr.empty');
    if (empty && serverRows.size > 0) empty.remove();
  }

  // ------------------------------------------------------------------------------------------
  // status: generation and last reload

  function renderStatus(generation, reload) {
    if (generation !== undefined && generation !== null) {
      $('generation').textContent = 'generation ' + generation;
    }
    if (!reload) return;
    const r = $('reload');
    r.textContent = '';
    r.appendChild(document.createTextNode('last reload ' +
      (reload.at_unix_ms ? new Date(reload.at_unix_ms).toLocaleString() : '–') + ': '));
    r.appendChild(el('span', reload.ok ? 'reload-ok' : 'reload-failed', reload.ok ? 'ok' : 'failed'));
    r.title = reload.at || '';
    const box = $('reload-errors');
    const list = $('reload-error-list');
    list.textContent = '';
    if (!reload.ok) {
      for (const e of reload.errors || []) list.appendChild(el('li', null, e));
    }
    box.hidden = reload.ok;
  }

  // ------------------------------------------------------------------------------------------
  // data in

  function ingest(list) {
    let added = 0;
    for (const s of list || []) {
      if (!s || typeof s.t !== 'number' || s.t <= lastT) continue;  // duplicate or out of order
      samples.push(s);
      lastT = s.t;
      added++;
    }
    const oldest = lastT - WINDOW_MS;
    let drop = 0;
    while (drop < samples.length && samples[drop].t <= oldest) drop++;
    if (drop) samples.splice(0, drop);
    if (added) scheduleRender();
    return added;
  }

  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    // Hidden tabs skip frames: the page catches up when shown again.
    requestAnimationFrame(() => {
      renderPending = false;
      render();
    });
  }

  function render() {
    document.body.dataset.samples = String(samples.length);
    if (!samples.length) return;
    // Up to the last 15 minutes: from the oldest sample kept, and at least a minute.
    const xMax = samples[samples.length - 1].t;
    const xMin = Math.max(xMax - WINDOW_MS, Math.min(samples[0].t - 1000, xMax - MIN_SPAN_MS));
    tickSeconds = xMax - xMin < 5 * 60 * 1000;
    renderOverview(xMin, xMax);
    renderUpstreams(xMin, xMax);
    renderRoutes(xMin, xMax);
    renderTable();
  }

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) throw new Error(url + ': ' + r.status);
    return r.json();
  }

  async function loadHistory() {
    try {
      const h = await getJson('/stats/history');
      ingest(h.samples);
      renderStatus(h.generation, h.reload);
      if (!samples.length) render();
      return true;
    } catch (e) {
      setMode('offline');
      return false;
    }
  }

  function startEvents() {
    if (!window.EventSource) {
      startPolling();
      return;
    }
    source = new EventSource('/events?since=' + lastT);
    lastEventAt = Date.now();
    source.onopen = () => setMode('events');
    source.onmessage = (e) => {
      lastEventAt = Date.now();
      setMode('events');
      let s;
      try { s = JSON.parse(e.data); } catch (err) { return; }
      ingest([s]);
      renderStatus(s.generation, s.reload);
    };
    source.onerror = () => {
      // CONNECTING: the browser retries by itself. CLOSED: it gave up (e.g. 503, too many
      // followers): poll instead.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        startPolling();
      } else {
        setMode('connecting');
      }
    };
  }

  function startPolling() {
    if (source) { source.close(); source = null; }
    if (pollTimer) return;
    const poll = async () => {
      try {
        const h = await getJson('/stats/history?since=' + lastT);
        ingest(h.samples);
        renderStatus(h.generation, h.reload);
        setMode('polling');
      } catch (e) {
        setMode('offline');
      }
    };
    poll();
    pollTimer = setInterval(poll, POLL_MS);
  }

  // Events that stop without an error (a proxy in between buffering them): poll instead.
  setInterval(() => {
    if (source && Date.now() - lastEventAt > EVENTS_STALL_MS) startPolling();
  }, 1000);

  // ------------------------------------------------------------------------------------------
  // server changes

  function askToken(message) {
    const dialog = $('token-dialog');
    const input = $('token-input');
    $('token-message').textContent = message;
    input.value = '';
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => {
        const token = input.value.trim();
        input.value = '';
        resolve(dialog.returnValue === 'ok' && token ? token : null);
      }, { once: true });
      dialog.showModal();
      input.focus();
    });
  }

  async function changeServer(button) {
    const { action, upstream, server } = button.dataset;
    const url = '/upstreams/' + encodeURIComponent(upstream) + '/servers/' +
      encodeURIComponent(server) + '/' + action;
    let token = sessionStorage.getItem(TOKEN_KEY);
    button.dataset.busy = '1';
    button.disabled = true;
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const headers = {};
        if (token) headers.Authorization = 'Bearer ' + token;
        const r = await fetch(url, { method: 'POST', headers, cache: 'no-store', credentials: 'omit' });
        if (r.status === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          token = await askToken(attempt === 0 && !token
            ? 'This change needs the admin token (kept for this tab only).'
            : 'That token was refused. Admin token:');
          if (!token) return;
          sessionStorage.setItem(TOKEN_KEY, token);
          continue;
        }
        let body = null;
        try { body = await r.json(); } catch (e) { body = null; }
        if (!r.ok) {
          notice(action + ' ' + upstream + ' ' + server + ' failed: ' +
            ((body && body.error) || r.status), true);
          return;
        }
        notice(upstream + ' ' + server + ': ' + ((body && body.server && body.server.state) || action));
        return;
      }
    } catch (e) {
      notice(action + ' ' + upstream + ' ' + server + ' failed: ' + e.message, true);
    } finally {
      delete button.dataset.busy;
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // start

  function init() {
    if (!window.Chart) {
      notice('Chart.js did not load: charts are unavailable.', true);
      return;
    }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.font.size = 11;
    Chart.defaults.color = '#5d6677';
    charts.requests = lineChart($('chart-requests'));
    charts.responses = lineChart($('chart-responses'));
    charts.latency = lineChart($('chart-latency'), (v) => number(v));
    charts.connections = lineChart($('chart-connections'));
    charts.bytes = lineChart($('chart-bytes'), (v) => bytes(v) + '/s');
    charts.routeRequests = lineChart($('chart-route-requests'));
    charts.routeErrors = lineChart($('chart-route-errors'), (v) => number(v) + '%');
    $('server-rows').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-action]');
      if (b && !b.disabled) changeServer(b);
    });
    window.addEventListener('resize', scheduleRender);
    loadHistory().then((ok) => {
      if (ok) {
        startEvents();
      } else {
        startPolling();  // keeps trying once a second
      }
    });
  }

  init();
})();
