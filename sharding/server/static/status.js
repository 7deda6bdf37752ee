// shardgate live status page: polls /status about once a second and redraws.
// Plain script, no build step, no dependencies. Every value from the server is put in
// the page with textContent (never innerHTML): statement text is client input.
"use strict";

// The /status fields this page reads. tests/statuspage holds the server to this list,
// and the page warns (banner) when a server does not send one of them.
const STATUS_CONTRACT = {
  "server": ["version", "Uptime", "Threads_connected", "Questions", "draining"],
  "buckets[]": ["bucket", "slots", "capacity", "active", "waiting", "queued_high",
                "queued_low", "stalled", "oversubscribed", "completed", "queries",
                "deadlock_suspect", "deadlocks_suspected"],
  "queries[]": ["id", "name", "bucket", "parent_id", "age", "state", "children_done",
                "children_total", "children_running", "children_queued"],
  "connections[]": ["Id", "User", "Info", "Query_id"],
  "datasources[]": ["name", "kind", "max_size", "size", "idle", "in_use", "waiting",
                    "validation_failures", "acquire_timeouts", "errors", "breaker"],
  "history": ["capacity", "samples", "window"],
  "history.samples[]": ["t", "statements", "errors", "p99"],
  "history.window": ["rate", "p99"],
  "http": ["kill"],
  "": ["time"]
};

const PERIOD_MS = 1000;
const FETCH_TIMEOUT_MS = 3000;
const ARM_MS = 4000;
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  samples: new Map(),   // t (Unix second) -> history sample
  capacity: 300,
  lastSampleT: null,
  prevCompleted: new Map(),  // bucket -> [completed, time]
  bucketRate: new Map(),
  contractChecked: false,
  lastOk: 0,
};

// -- formatting --------------------------------------------------------------------

function fmtInt(n) {
  return n == null ? "–" : Math.round(n).toLocaleString("en-US");
}

function fmtLatency(s) {
  if (s == null) return "–";
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0)} ms`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

function fmtAge(s) {
  if (s == null) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function fmtRate(r) {
  if (r == null) return "–";
  return r < 10 ? r.toFixed(1) : fmtInt(r);
}

// -- small DOM helpers ----------------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function setText(id, text) {
  const e = document.getElementById(id);
  if (e.textContent !== text) e.textContent = text;
}

function toast(message, kind) {
  const t = document.getElementById("toast");
  t.textContent = message;
  t.className = `toast ${kind || ""}`;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// -- contract -------------------------------------------------------------------------

function missingFields(data) {
  const missing = [];
  for (const [path, fields] of Object.entries(STATUS_CONTRACT)) {
    const isList = path.endsWith("[]");
    const parts = (isList ? path.slice(0, -2) : path).split(".").filter(Boolean);
    let obj = data;
    for (const p of parts) obj = obj == null ? undefined : obj[p];
    if (obj == null) { missing.push(path || "(top)"); continue; }
    const items = isList ? obj.slice(0, 1) : [obj];
    for (const item of items) {
      for (const f of fields) if (!(f in item)) missing.push(`${path}.${f}`);
    }
  }
  return missing;
}

// -- buckets --------------------------------------------------------------------------

// Load level of a bucket, worst first: what an operator must see at a glance.
function bucketLevel(b) {
  if (b.deadlock_suspect) return "deadlock";
  const queued = b.queued_high + b.queued_low;
  if (queued > 0 || b.oversubscribed > 0) return "hot";
  if (b.active >= b.slots) return "full";
  if (b.active === 0 && b.waiting === 0) return "idle";
  return b.active / b.slots < 0.5 ? "light" : "busy";
}

const LEVEL_TEXT = {
  idle: "idle", light: "light", busy: "busy", full: "all slots busy",
  hot: "work queued", deadlock: "DEADLOCK SUSPECT",
};

function renderBuckets(buckets, now) {
  const grid = document.getElementById("bucket-grid");
  const seen = new Set();
  for (const b of buckets) {
    seen.add(String(b.bucket));
    let tile = grid.querySelector(`.bucket[data-bucket="${b.bucket}"]`);
    if (!tile) {
      tile = el("div", "bucket");
      tile.dataset.bucket = b.bucket;
      const head = el("div", "bucket-head");
      head.append(el("span", "bucket-id", `#${b.bucket}`), el("span", "bucket-level"));
      const big = el("div", "bucket-load");
      big.append(el("span", "active"), el("span", "slots"));
      tile.append(head, big, el("div", "slot-bar"), el("div", "bucket-queue"),
                  el("div", "bucket-foot"));
      grid.append(tile);
    }
    // Completions per second from the change since the last refresh.
    const prev = state.prevCompleted.get(b.bucket);
    if (prev && now > prev[1]) {
      state.bucketRate.set(b.bucket, (b.completed - prev[0]) / (now - prev[1]));
    }
    state.prevCompleted.set(b.bucket, [b.completed, now]);
    const rate = state.bucketRate.get(b.bucket);
    let level = bucketLevel(b);
    // Short children come and go between two refreshes: a bucket that finished work
    // in the last second is not idle, even if nothing runs at this instant.
    if (level === "idle" && rate > 0) level = "light";
    tile.dataset.level = level;
    tile.className = `bucket lv-${level}`;
    const queued = b.queued_high + b.queued_low;
    tile.querySelector(".bucket-level").textContent = LEVEL_TEXT[level];
    tile.querySelector(".active").textContent = b.active;
    const extra = b.capacity > b.slots ? ` · cap ${b.capacity}` : "";
    tile.querySelector(".slots").textContent = ` / ${b.slots} slots${extra}`;
    // One cell per slot (and per admitted extra): the bar shows saturation exactly.
    const bar = tile.querySelector(".slot-bar");
    const cells = Math.max(b.slots, b.capacity, b.active);
    while (bar.children.length < cells) bar.append(el("i"));
    while (bar.children.length > cells) bar.lastChild.remove();
    for (let i = 0; i < cells; i++) {
      const c = bar.children[i];
      const cls = i < b.active ? (i < b.slots ? "on" : "over") : (i < b.slots ? "" : "spare");
      if (c.className !== cls) c.className = cls;
    }
    const q = tile.querySelector(".bucket-queue");
    q.textContent = "";
    const parts = [
      ["queued", queued, queued > 0 ? `queued ${queued} (high ${b.queued_high}, low ${b.queued_low})` : "queue empty"],
      ["stalled", b.stalled, `stalled ${b.stalled}`],
      ["over", b.oversubscribed, `oversubscribed ${b.oversubscribed}`],
      ["waiting", b.waiting, `lent ${b.waiting}`],
    ];
    for (const [cls, n, text] of parts) {
      if (n > 0 || cls === "queued") q.append(el("span", `chip ${cls}${n > 0 ? " nz" : ""}`, text));
    }
    const suspects = b.deadlocks_suspected ? ` · ${b.deadlocks_suspected} suspected` : "";
    tile.querySelector(".bucket-foot").textContent =
      `${b.queries} quer${b.queries === 1 ? "y" : "ies"} · ${fmtInt(b.completed)} done` +
      (rate != null ? ` · ${fmtRate(rate)}/s` : "") + suspects;
  }
  for (const tile of [...grid.children]) {
    if (!seen.has(tile.dataset.bucket)) tile.remove();
  }
}

// -- queries --------------------------------------------------------------------------

// Top-level queries oldest first, each followed by its nested queries.
function orderQueries(queries) {
  const children = new Map();
  const top = [];
  const ids = new Set(queries.map((q) => q.id));
  for (const q of queries) {
    if (q.parent_id != null && ids.has(q.parent_id)) {
      if (!children.has(q.parent_id)) children.set(q.parent_id, []);
      children.get(q.parent_id).push(q);
    } else {
      top.push(q);
    }
  }
  const out = [];
  const walk = (q, depth) => {
    out.push([q, depth]);
    for (const c of (children.get(q.id) || []).sort((a, b) => b.age - a.age)) walk(c, depth + 1);
  };
  for (const q of top.sort((a, b) => b.age - a.age)) walk(q, 0);
  return out;
}

function queryRow(q) {
  const tr = el("tr");
  tr.dataset.queryId = q.id;
  const cells = ["num qid", "num conn", "num bucket", "stmt", "progress-col", "num running",
                 "num queued", "num age", "qstate", "actions"];
  for (const cls of cells) tr.append(el("td", cls));
  const prog = el("div", "progress");
  prog.append(el("div", "fill"), el("span", "progress-text"));
  tr.querySelector(".progress-col").append(prog);
  const kill = el("button", "kill", "Kill");
  kill.type = "button";
  kill.dataset.queryId = q.id;
  kill.title = "KILL QUERY: cancel this query (click twice)";
  kill.addEventListener("click", () => onKill(kill, q.id));
  tr.querySelector(".actions").append(kill);
  return tr;
}

function renderQueries(queries, connections) {
  const tbody = document.querySelector("#query-table tbody");
  const byQuery = new Map();
  for (const c of connections) if (c.Query_id != null) byQuery.set(c.Query_id, c);
  const rows = new Map([...tbody.children].map((tr) => [tr.dataset.queryId, tr]));
  const ordered = orderQueries(queries);
  let before = tbody.firstChild;
  for (const [q, depth] of ordered) {
    const key = String(q.id);
    let tr = rows.get(key);
    if (!tr) tr = queryRow(q);
    rows.delete(key);
    if (tr !== before) tbody.insertBefore(tr, before);
    before = tr.nextSibling;
    const conn = byQuery.get(q.id);
    const total = q.children_total;
    const done = q.children_done;
    tr.dataset.done = done;
    tr.dataset.total = total == null ? "" : total;
    tr.className = `${depth ? "nested" : ""} ${q.state === "cancelling" ? "cancelling" : ""}`.trim();
    tr.querySelector(".qid").textContent = q.id;
    tr.querySelector(".conn").textContent = conn ? conn.Id : "–";
    tr.querySelector(".bucket").textContent = q.bucket;
    const stmt = tr.querySelector(".stmt");
    const text = conn && conn.Info ? conn.Info : q.name;
    stmt.textContent = (depth ? "↳ ".padStart(depth * 2 + 2, " ") : "") + text;
    stmt.title = text;
    const fill = tr.querySelector(".fill");
    const ptext = tr.querySelector(".progress-text");
    if (total) {
      const pct = Math.min(100, (100 * done) / total);
      fill.style.width = `${pct.toFixed(1)}%`;
      fill.parentElement.classList.remove("unknown");
      ptext.textContent = `${fmtInt(done)} / ${fmtInt(total)} · ${pct.toFixed(0)}%`;
    } else {
      fill.style.width = "100%";
      fill.parentElement.classList.add("unknown");
      ptext.textContent = `${fmtInt(done)} done`;
    }
    tr.querySelector(".running").textContent = q.children_running;
    tr.querySelector(".queued").textContent = q.children_queued;
    tr.querySelector(".age").textContent = fmtAge(q.age);
    tr.querySelector(".qstate").textContent = q.state;
  }
  for (const tr of rows.values()) tr.remove();
  document.getElementById("no-queries").hidden = queries.length > 0;
  document.getElementById("query-table").hidden = queries.length === 0;
}

async function onKill(button, queryId) {
  if (!button.classList.contains("armed")) {
    // Two clicks: a refresh that moves rows must never turn a click into a kill.
    button.classList.add("armed");
    button.textContent = "Confirm";
    clearTimeout(button.disarm);
    button.disarm = setTimeout(() => {
      button.classList.remove("armed");
      button.textContent = "Kill";
    }, ARM_MS);
    return;
  }
  clearTimeout(button.disarm);
  button.classList.remove("armed");
  button.disabled = true;
  button.textContent = "Killing…";
  try {
    const r = await fetch("/kill", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Requested-With": "shardgate" },
      body: JSON.stringify({ query_id: queryId }),
      credentials: "same-origin",
    });
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      const where = body.connection_id != null ? ` (connection ${body.connection_id})` : "";
      toast(`Killed query ${queryId}${where}`, "ok");
    } else {
      toast(`KILL refused (${r.status}): ${body.error || r.statusText}`, "bad");
      button.disabled = false;
      button.textContent = "Kill";
    }
  } catch (err) {
    toast(`KILL failed: ${err}`, "bad");
    button.disabled = false;
    button.textContent = "Kill";
  }
}

// -- data sources ---------------------------------------------------------------------

function renderDatasources(list) {
  const tbody = document.querySelector("#ds-table tbody");
  tbody.textContent = "";
  for (const d of list) {
    const tr = el("tr");
    tr.dataset.datasource = d.name;
    tr.append(el("td", "name", d.name), el("td", "", d.kind));
    const pool = el("td", "pool-col");
    const bar = el("div", "pool-bar");
    const max = Math.max(d.max_size, d.size, 1);
    const used = el("i", "used");
    used.style.width = `${(100 * d.in_use) / max}%`;
    const idle = el("i", "idle");
    idle.style.width = `${(100 * d.idle) / max}%`;
    bar.append(used, idle);
    pool.append(bar, el("span", "pool-text", `${d.in_use} / ${d.idle} / ${d.max_size}`));
    tr.append(pool);
    const numbers = [
      ["waiting", d.waiting], ["validation", d.validation_failures],
      ["timeouts", d.acquire_timeouts], ["errors", d.errors],
    ];
    for (const [cls, n] of numbers) tr.append(el("td", `num ${cls}${n > 0 ? " warn" : ""}`, fmtInt(n)));
    const breaker = el("td");
    breaker.append(el("span", `breaker br-${d.breaker}`, d.breaker.replace("_", "-")));
    tr.append(breaker);
    tbody.append(tr);
  }
  document.getElementById("no-ds").hidden = list.length > 0;
  document.getElementById("ds-table").hidden = list.length === 0;
}

// -- sparklines -----------------------------------------------------------------------

function mergeHistory(history, now) {
  state.capacity = history.capacity;
  for (const s of history.samples) state.samples.set(s.t, s);
  const oldest = Math.floor(now) - state.capacity;
  for (const t of state.samples.keys()) if (t < oldest) state.samples.delete(t);
  const ts = [...state.samples.keys()];
  state.lastSampleT = ts.length ? Math.max(...ts) : null;
}

// Draws ``values`` (null = no data that second) over the ring's span as an area + line.
function drawSpark(svg, values, top) {
  while (svg.firstChild) svg.firstChild.remove();
  const w = 600, h = 90, pad = 4;
  const n = values.length;
  if (!n || !(top > 0)) return;
  const x = (i) => (n === 1 ? w : (i / (n - 1)) * w);
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  let runs = [], run = [];
  values.forEach((v, i) => {
    if (v == null) { if (run.length) runs.push(run); run = []; } else run.push([x(i), y(v)]);
  });
  if (run.length) runs.push(run);
  for (const r of runs) {
    const pts = r.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ");
    const area = document.createElementNS(SVG_NS, "polygon");
    area.setAttribute("points", `${r[0][0].toFixed(1)},${h} ${pts} ${r[r.length - 1][0].toFixed(1)},${h}`);
    area.setAttribute("class", "area");
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("points", pts);
    line.setAttribute("class", "line");
    svg.append(area, line);
  }
}

function renderTrends(history, now) {
  mergeHistory(history, now);
  const last = Math.floor(now) - 1;
  const span = Math.min(state.capacity, 300);
  const rate = [], p99 = [];
  let first = null;
  for (let t = last - span + 1; t <= last; t++) {
    const s = state.samples.get(t);
    if (s && first == null) first = t;
    if (first == null) continue;  // before the server started: draw nothing there
    rate.push(s ? s.statements : 0);
    p99.push(s ? s.p99 : null);
  }
  const rateTop = Math.max(1, ...rate);
  const p99Vals = p99.filter((v) => v != null);
  const p99Top = p99Vals.length ? Math.max(...p99Vals) * 1.1 : 0;
  drawSpark(document.querySelector("#spark-rate svg"), rate, rateTop * 1.1);
  drawSpark(document.querySelector("#spark-p99 svg"), p99, p99Top);
  const lastRate = rate.length ? rate[rate.length - 1] : null;
  setText("spark-rate-now", lastRate == null ? "–" : `${fmtInt(lastRate)} /s`);
  setText("spark-rate-peak", rate.length ? `peak ${fmtInt(Math.max(...rate))} /s` : "");
  const lastP = p99Vals.length ? p99[p99.length - 1] : null;
  setText("spark-p99-now", fmtLatency(lastP));
  setText("spark-p99-peak", p99Vals.length ? `peak ${fmtLatency(Math.max(...p99Vals))}` : "");
  const from = rate.length ? `${fmtAge(rate.length)} ago` : "";
  setText("spark-rate-from", from);
  setText("spark-p99-from", from);
}

// -- header ---------------------------------------------------------------------------

function renderHeader(data) {
  const s = data.server;
  setText("version", `${s.version} · MySQL port ${s.port}`);
  setText("kpi-uptime", fmtAge(s.Uptime));
  setText("kpi-connections", fmtInt(s.Threads_connected));
  setText("kpi-rate", fmtRate(data.history.window.rate));
  setText("kpi-p99", fmtLatency(data.history.window.p99));
  setText("kpi-queries", fmtInt(data.queries.filter((q) => q.parent_id == null).length));
  let active = 0, slots = 0;
  for (const b of data.buckets) { active += b.active; slots += b.slots; }
  setText("kpi-slots", `${active} / ${slots}`);
  setText("kill-auth", data.http.kill === "basic"
    ? "KILL asks for a [[server.users]] login; another user's query needs connection_admin" +
      " · statements shown with literals as ?"
    : "KILL allowed from this host (no users configured) · statements shown with literals as ?");
}

function showBanner(text) {
  const b = document.getElementById("banner");
  b.hidden = !text;
  b.textContent = text || "";
}

// -- loop -----------------------------------------------------------------------------

async function refresh() {
  const want = state.lastSampleT == null ? state.capacity : 5;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
  try {
    const r = await fetch(`/status?history=${want}`, { signal: ctrl.signal, cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const data = await r.json();
    if (!state.contractChecked) {
      const missing = missingFields(data);
      state.contractChecked = missing.length === 0;
      if (missing.length) console.warn("status fields missing", missing);
      showBanner(missing.length ? `This server's /status lacks: ${missing.slice(0, 6).join(", ")}` : "");
    }
    if (data.server.draining) showBanner("Server is draining (shutting down)");
    renderHeader(data);
    renderBuckets(data.buckets, data.time);
    renderQueries(data.queries, data.connections);
    renderDatasources(data.datasources);
    renderTrends(data.history, data.time);
    state.lastOk = Date.now();
    const live = document.getElementById("live");
    live.className = "live ok";
    live.textContent = `live · ${new Date(data.time * 1000).toLocaleTimeString()}`;
  } catch (err) {
    const live = document.getElementById("live");
    live.className = "live stale";
    live.textContent = `stale · ${err.name === "AbortError" ? "timeout" : err.message}`;
  } finally {
    clearTimeout(timer);
    setTimeout(refresh, PERIOD_MS);
  }
}

document.addEventListener("DOMContentLoaded", refresh);
