// slabcast web console: the Media tab (streams list, add, stream page).
// Plain ES2020, no build step, no libraries but hls.js (served beside this
// file, loaded only by the stream page). It talks to the HTTP API v3 on the
// same origin; the browser's Basic-auth login covers both.
"use strict";

const API = "/streamer/api/v3";
const POLL_MS = 3000;              // refresh period while the page is visible
const HISTORY_MS = 5 * 60 * 1000;  // client-side history the chart shows
const RATE_WINDOW_MS = 60 * 1000;  // errors "per minute" and "recent" look this far back

// ---- small helpers --------------------------------------------------------

const $ = (id) => document.getElementById(id);

// h builds an element: h("a", {href: "#", class: "x", onclick: f}, "text", child…).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  el.append(...kids);
  return el;
}

// Stream names may hold "/" (news/hd); each part is encoded on its own.
const namePath = (name) => name.split("/").map(encodeURIComponent).join("/");
const streamHash = (name) => "#/streams/" + encodeURIComponent(name);

function fmtBitrate(kbps) {
  if (typeof kbps !== "number" || !isFinite(kbps)) return "—";
  if (kbps >= 10000) return (kbps / 1000).toFixed(0) + " Mbit/s";
  if (kbps >= 1000) return (kbps / 1000).toFixed(1) + " Mbit/s";
  return Math.round(kbps) + " kbit/s";
}

function fmtBytes(n) {
  if (typeof n !== "number") return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + units[i];
}

function fmtAgo(ms) {
  if (typeof ms !== "number" || ms < 0) return "—";
  const sec = ms / 1000;
  if (sec < 1) return "< 1 s ago";
  if (sec < 10) return sec.toFixed(1) + " s ago";
  if (sec < 120) return Math.round(sec) + " s ago";
  if (sec < 7200) return Math.round(sec / 60) + " min ago";
  return Math.round(sec / 3600) + " h ago";
}

function fmtDuration(ms) {
  if (typeof ms !== "number" || ms < 0) return "—";
  let sec = Math.floor(ms / 1000);
  const d = Math.floor(sec / 86400); sec %= 86400;
  const hr = Math.floor(sec / 3600); sec %= 3600;
  const min = Math.floor(sec / 60); sec %= 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${String(min).padStart(2, "0")} min`;
  if (min) return `${min} min ${String(sec).padStart(2, "0")} s`;
  return `${sec} s`;
}

function fmtRate(r) {
  if (r === null) return "—";
  return r < 10 ? (Math.round(r * 10) / 10).toString() : Math.round(r).toString();
}

// statusOf gives one of running | waiting | error | stopped.
function statusOf(st) {
  const v = st && st.stats && st.stats.status;
  return ["running", "waiting", "error", "stopped"].includes(v) ? v : "stopped";
}

function light(status) {
  return h("span", { class: "light", "data-status": status, role: "img", "aria-label": status, title: status });
}

function setLight(el, status) {
  if (el.dataset.status === status) return;
  el.dataset.status = status;
  el.setAttribute("aria-label", status);
  el.title = status;
}

// ---- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, errors) {
    super(errors.map((e) => e.title || e.detail || e.code || "error").join("; "));
    this.status = status;
    this.errors = errors;
  }
}

async function api(method, path, body) {
  const opt = { method, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opt.body = JSON.stringify(body);
    opt.headers["Content-Type"] = "application/json";
  }
  let r;
  try {
    r = await fetch(API + path, opt);
  } catch (e) {
    throw new ApiError(0, [{ title: "Cannot reach slabcast: " + e.message }]);
  }
  let data = null;
  const text = r.status === 204 ? "" : await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!r.ok) {
    let errors = data && Array.isArray(data.errors) && data.errors.length ? data.errors : null;
    if (!errors) {
      const title = r.status === 401 ? "Not signed in: reload the page to sign in again"
        : r.status === 403 ? "Not allowed with these credentials"
        : `${r.status} ${r.statusText || "error"}`;
      errors = [{ status: String(r.status), title }];
    }
    throw new ApiError(r.status, errors);
  }
  return data;
}

// ---- state and history ----------------------------------------------------

const state = {
  view: "",            // "list" | "stream"
  streams: new Map(),  // name → STREAM, from the latest list poll
  history: new Map(),  // name → [{t, kbps, cc, ts}], oldest first
  listLoaded: false,
};

// record keeps a sample of st's counters for the chart and the rates; the
// TR 101 290 counters only when withTS (the stream page), to keep the
// list's history small on a headend with many streams.
function record(st, t, withTS) {
  if (!st || !st.stats) return;
  let hist = state.history.get(st.name);
  if (!hist) { hist = []; state.history.set(st.name, hist); }
  const last = hist[hist.length - 1];
  if (last && t - last.t < 500) return;
  const x = st.stats;
  hist.push({ t, kbps: typeof x.bitrate === "number" ? x.bitrate : null,
    cc: typeof x.cc_errors === "number" ? x.cc_errors : null, ts: (withTS && x.ts_errors) || null });
  while (hist.length && hist[0].t < t - HISTORY_MS) hist.shift();
}

// recent returns the samples of the last RATE_WINDOW_MS after the last
// counter reset (a restart sets the counters back to zero).
function recent(hist, get) {
  if (!hist || !hist.length) return [];
  const now = hist[hist.length - 1].t;
  let i = hist.length - 1;
  while (i > 0 && hist[i - 1].t >= now - RATE_WINDOW_MS - 1000) {
    const a = get(hist[i - 1]), b = get(hist[i]);
    if (a === null || b === null || b < a) break;
    i--;
  }
  return hist.slice(i);
}

// ccPerMinute is the continuity errors per minute over the last minute of
// polls, null until two polls a second apart exist.
function ccPerMinute(name) {
  const w = recent(state.history.get(name), (p) => p.cc);
  if (w.length < 2) return null;
  const a = w[0], b = w[w.length - 1];
  if (b.t - a.t < 1000 || a.cc === null || b.cc === null) return null;
  return (b.cc - a.cc) * 60000 / (b.t - a.t);
}

// ---- polling ----------------------------------------------------------------

let timer = 0;
let inflight = false;
let again = false;

function schedule(now) {
  clearTimeout(timer);
  timer = 0;
  if (document.visibilityState !== "visible") return;
  timer = setTimeout(tick, now ? 0 : POLL_MS);
}

async function tick() {
  if (inflight) { again = true; return; }
  inflight = true;
  try {
    if (state.view === "list") await pollList();
    else if (state.view === "stream") await streamPage.poll();
    problem(null);
  } catch (e) {
    problem(e.message);
  } finally {
    inflight = false;
    schedule(again);
    again = false;
  }
}

document.addEventListener("visibilitychange", () => schedule(true));

// problem shows (or, with null, clears) what went wrong. A poll's problem
// goes with the next good poll; an action's (sticky) stays until the user
// goes elsewhere.
let stickyProblem = false;
function problem(text, sticky) {
  if (!text && stickyProblem && sticky !== false) return;
  stickyProblem = !!(text && sticky);
  const el = $("problem");
  el.hidden = !text;
  el.textContent = text || "";
}

let noticeTimer = 0;
function notice(text) {
  const el = $("notice");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

// ---- streams list -----------------------------------------------------------

const rows = new Map(); // name → {tr, cells}

async function pollList() {
  const all = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    let q = "/streams?limit=1000&select=name,static,disabled,inputs,stats";
    if (cursor) q += "&cursor=" + encodeURIComponent(cursor);
    const d = await api("GET", q);
    all.push(...((d && d.streams) || []));
    cursor = d && d.next;
    if (!cursor) break;
  }
  const t = Date.now();
  state.streams = new Map(all.map((st) => [st.name, st]));
  for (const st of all) record(st, t);
  for (const name of state.history.keys()) if (!state.streams.has(name)) state.history.delete(name);
  state.listLoaded = true;
  renderList();
}

function matches(st, f) {
  if (!f) return true;
  if (st.name.toLowerCase().includes(f)) return true;
  return (st.inputs || []).some((i) => String(i.url || "").toLowerCase().includes(f));
}

function newRow(name) {
  const cells = {
    light: light("stopped"),
    name: h("a", { href: streamHash(name) }, name),
    tags: h("span", { class: "tags" }),
    input: h("td", { class: "url" }),
    bitrate: h("td", { class: "num" }),
    clients: h("td", { class: "num" }),
    data: h("td", { class: "num" }),
    retries: h("td", { class: "num" }),
    cc: h("td", { class: "num" }),
  };
  const tr = h("tr", { "data-stream": name },
    h("td", { class: "col-light" }, cells.light),
    h("td", { class: "name" }, cells.name, cells.tags),
    cells.input, cells.bitrate, cells.clients, cells.data, cells.retries, cells.cc);
  return { tr, cells };
}

function setText(el, text, cls) {
  if (el.textContent !== text) el.textContent = text;
  if (cls !== undefined && el.dataset.flag !== cls) el.dataset.flag = cls;
}

function tagsOf(st) {
  const t = [];
  if (st.disabled) t.push("disabled");
  if (st.static === false) t.push("on demand");
  if (st.inputs && st.inputs.length === 1 && st.inputs[0].url === "publish://") t.push("published");
  return t;
}

function renderList() {
  const f = $("filter").value.trim().toLowerCase();
  const names = [...state.streams.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const body = $("streams-body");
  const shown = [];
  const counts = { running: 0, waiting: 0, error: 0, stopped: 0 };
  for (const name of names) {
    const st = state.streams.get(name);
    const status = statusOf(st);
    counts[status]++;
    if (!matches(st, f)) continue;
    let row = rows.get(name);
    if (!row) { row = newRow(name); rows.set(name, row); }
    const c = row.cells, x = st.stats || {};
    setLight(c.light, status);
    const why = x.error ? `${status}: ${x.error}` : status;
    if (c.light.title !== why) c.light.title = why;
    row.tr.dataset.status = status;
    const tags = tagsOf(st).join(" · ");
    setText(c.tags, tags);
    const active = x.active_input || "";
    setText(c.input, active || "—");
    if (c.input.title !== active) c.input.title = active;
    setText(c.bitrate, status === "running" || x.bitrate > 0 ? fmtBitrate(x.bitrate) : "—");
    setText(c.clients, typeof x.online_clients === "number" ? String(x.online_clients) : "—");
    const delay = status !== "stopped" ? x.ts_delay : undefined;
    setText(c.data, fmtAgo(delay), typeof delay === "number" && delay > 5000 ? "bad" : "");
    setText(c.retries, typeof x.retry_count === "number" ? String(x.retry_count) : "—", x.retry_count > 0 ? "warn" : "");
    const rate = ccPerMinute(name);
    setText(c.cc, fmtRate(rate), rate > 0 ? "bad" : "");
    shown.push(row.tr);
  }
  // Reorder only what moved, so a focused link keeps its focus.
  shown.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
  while (body.children.length > shown.length) body.lastElementChild.remove();
  for (const name of rows.keys()) if (!state.streams.has(name)) rows.delete(name);

  const empty = $("empty");
  empty.hidden = shown.length > 0;
  empty.textContent = !state.listLoaded ? "Loading…"
    : names.length === 0 ? "No streams yet. Add one with the Add button."
    : "No stream matches the filter.";
  const parts = [`${names.length} ${names.length === 1 ? "stream" : "streams"}`];
  for (const k of ["running", "waiting", "error"]) if (counts[k]) parts.push(`${counts[k]} ${k}`);
  $("summary").textContent = state.listLoaded ? parts.join(" · ") : "";
}

// ---- field errors ------------------------------------------------------------

// showErrors puts each API error beside the field its source.pointer names
// (fieldFor maps a pointer to a field's id prefix, or null), the rest at the
// top of the form. It focuses the first field in error.
function showErrors(form, errors, fieldFor) {
  clearErrors(form);
  const general = [];
  let first = null;
  for (const e of errors) {
    const ptr = e.source && e.source.pointer;
    const id = ptr ? fieldFor(ptr) : null;
    const slot = id && $(id + "-error");
    if (!slot) { general.push(e.title || e.detail || e.code || "error"); continue; }
    slot.textContent = slot.textContent ? slot.textContent + "; " + e.title : (e.title || e.code || "invalid");
    const field = $(id);
    if (field) {
      field.setAttribute("aria-invalid", "true");
      if (!first) first = field;
    }
  }
  const top = form.querySelector(".form-error");
  if (general.length) {
    top.textContent = general.join("; ");
    top.hidden = false;
  }
  if (first) (first.matches("fieldset") ? first.querySelector("input") : first).focus();
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const top = form.querySelector(".form-error");
  top.hidden = true;
  top.textContent = "";
}

// badName refuses names the URL would change: "." and ".." parts, empty
// parts. The daemon judges everything else.
function badName(name) {
  if (!name) return "Enter a name";
  if (name.split("/").some((p) => p === "" || p === "." || p === "..")) return "No empty, . or .. parts between slashes";
  return "";
}

function setBusy(button, busy, text) {
  button.disabled = busy;
  if (busy) { button.dataset.text = button.textContent; button.textContent = text; }
  else if (button.dataset.text) button.textContent = button.dataset.text;
}

// ---- add --------------------------------------------------------------------

function openAdd() {
  const form = $("add-form");
  form.reset();
  clearErrors(form);
  $("add-dialog").showModal();
  $("add-name").focus();
}

async function submitAdd(ev) {
  ev.preventDefault();
  const form = $("add-form");
  const name = $("add-name").value.trim();
  const url = $("add-url").value.trim();
  const isStatic = form.elements.static.value !== "false";
  const local = [];
  const nameErr = badName(name);
  if (nameErr) local.push({ title: nameErr, source: { pointer: "/name" } });
  if (!url) local.push({ title: "Enter the source URL", source: { pointer: "/inputs/0/url" } });
  const fieldFor = (p) => p === "/name" ? "add-name" : /^\/inputs(\/0(\/url)?)?$/.test(p) ? "add-url" : p === "/static" ? "add-static" : null;
  if (local.length) { showErrors(form, local, fieldFor); return; }
  const button = $("add-submit");
  setBusy(button, true, "Creating…");
  try {
    // PUT also changes an existing stream: refuse to overwrite one.
    let exists = true;
    try { await api("GET", "/streams/" + namePath(name)); } catch (e) {
      if (e.status !== 404) throw e;
      exists = false;
    }
    if (exists) {
      showErrors(form, [{ title: "A stream with this name exists already", source: { pointer: "/name" } }], fieldFor);
      return;
    }
    const st = await api("PUT", "/streams/" + namePath(name), { inputs: [{ url }], static: isStatic });
    const created = st && st.name ? st : { name, static: isStatic, inputs: [{ url }], stats: { status: "waiting" } };
    state.streams.set(created.name, created);
    record(created, Date.now());
    renderList();
    $("add-dialog").close();
    notice(`Created stream ${created.name}.`);
    location.hash = streamHash(created.name);
  } catch (e) {
    showErrors(form, e.errors || [{ title: e.message }], fieldFor);
  } finally {
    setBusy(button, false);
  }
}

// ---- stream page ------------------------------------------------------------

// Names of the TR 101 290 indicators by priority; others go under "Other".
const TR_PRIORITY = [
  ["Priority 1", ["TS_sync_loss", "Sync_byte_error", "PAT_error", "PAT_error_2", "Continuity_count_error", "PMT_error", "PMT_error_2", "PID_error"]],
  ["Priority 2", ["Transport_error", "CRC_error", "PCR_error", "PCR_repetition_error", "PCR_discontinuity_indicator_error", "PCR_accuracy_error", "PTS_error", "CAT_error"]],
];

const streamPage = {
  name: "",
  st: null,
  el: null,      // parts that polls update
  hls: null,
  fatal: [],
  retry: 0,

  open(name) {
    this.close();
    this.name = name;
    this.st = state.streams.get(name) || null;
    this.fatal = [];
    const view = $("stream-view");
    view.replaceChildren();
    const el = this.el = {};
    const base = location.origin + "/" + namePath(name);
    const urls = [["HLS", base + "/index.m3u8"], ["HLS fMP4 (CMAF)", base + "/index.fmp4.m3u8"], ["Low-Latency HLS", base + "/index.ll.m3u8"],
      ["MPEG-DASH", base + "/index.mpd"], ["HTTP MPEG-TS", base + "/mpegts"]];
    el.light = light(this.st ? statusOf(this.st) : "stopped");
    el.status = h("span", { class: "status-text" });
    el.tags = h("span", { class: "tags" });
    el.error = h("p", { class: "stream-error", role: "alert", hidden: true });
    el.video = h("video", { controls: true, muted: true, autoplay: true, playsinline: true, preload: "auto",
      "aria-label": `Live player of ${name}` });
    el.video.muted = true;
    el.player = h("p", { class: "player-status", id: "player-status", role: "status", "data-state": "loading" }, "Loading the player…");
    el.counters = h("dl", { class: "counters" });
    el.chart = h("div", { class: "chart" });
    el.chartNote = h("p", { class: "chart-note" });
    el.inputs = h("tbody");
    el.inputsHead = h("thead");
    el.tr = h("div", { class: "tr290" });

    view.append(
      h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/" }, "Streams"), h("span", { "aria-hidden": "true" }, " › "), h("span", { "aria-current": "page" }, name)),
      h("div", { class: "stream-head" },
        el.light, h("h1", { id: "stream-title", tabindex: "-1" }, name), el.status, el.tags,
        h("span", { class: "grow" }),
        h("button", { type: "button", onclick: () => openEdit(this.st) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: () => this.remove() }, "Delete")),
      el.error,
      h("div", { class: "grid" },
        h("section", { class: "card player-card", "aria-labelledby": "player-h" },
          h("h2", { id: "player-h" }, "Player"), el.video, el.player),
        h("section", { class: "card", "aria-labelledby": "urls-h" },
          h("h2", { id: "urls-h" }, "Playback URLs"),
          h("ul", { class: "urls" }, urls.map(([label, u], i) => h("li", {},
            h("label", { for: "url-" + i }, label),
            h("input", { id: "url-" + i, readonly: true, value: u, spellcheck: "false", onfocus: (e) => e.target.select() }),
            h("button", { type: "button", "aria-label": `Copy the ${label} URL`, onclick: () => this.copy(u, label, "url-" + i) }, "Copy")))),
          h("h2", { id: "counters-h" }, "Counters"), el.counters),
        h("section", { class: "card wide", "aria-labelledby": "chart-h" },
          h("h2", { id: "chart-h" }, "Bitrate"), el.chart, el.chartNote),
        h("section", { class: "card wide", "aria-labelledby": "inputs-h" },
          h("h2", { id: "inputs-h" }, "Inputs"),
          h("div", { class: "table-wrap" }, h("table", { class: "inputs" }, el.inputsHead, el.inputs)),
          h("p", { class: "hint" }, "Failover goes to the lowest priority first; inputs without one follow in this order.")),
        h("section", { class: "card wide", "aria-labelledby": "tr-h" },
          h("h2", { id: "tr-h" }, "TR 101 290"), el.tr)));
    document.title = `${name} · slabcast`;
    this.playlist = base + "/index.m3u8";
    this.playerDecided = false;
    if (this.st) this.render();
  },

  // decidePlayer starts the player at once for a static stream. An
  // ondemand one waits for a click: playing it would start it.
  decidePlayer() {
    if (this.playerDecided) return;
    this.playerDecided = true;
    if (this.st.static !== false) {
      this.startPlayer(this.playlist);
      return;
    }
    const el = this.el;
    el.player.dataset.state = "idle";
    el.player.replaceChildren("On demand: playing starts the stream. ",
      h("button", { type: "button", onclick: () => { el.player.textContent = "Loading the player…"; this.startPlayer(this.playlist); } }, "Play"));
  },

  close() {
    if (this.hls) { this.hls.destroy(); this.hls = null; }
    clearTimeout(this.retry);
    if (this.el && this.el.video) { this.el.video.removeAttribute("src"); this.el.video.load(); }
    this.el = null;
    this.name = "";
    this.st = null;
  },

  async poll() {
    const name = this.name;
    let st;
    try {
      st = await api("GET", "/streams/" + namePath(name));
    } catch (e) {
      if (e.status === 404 && name === this.name) {
        this.el.error.hidden = false;
        this.el.error.textContent = "This stream does not exist (any more).";
        setLight(this.el.light, "stopped");
        return;
      }
      throw e;
    }
    if (name !== this.name || !st) return;
    this.st = st;
    state.streams.set(name, st);
    record(st, Date.now(), true);
    this.render();
  },

  render() {
    const st = this.st, el = this.el, x = st.stats || {};
    this.decidePlayer();
    const status = statusOf(st);
    setLight(el.light, status);
    setText(el.status, status);
    setText(el.tags, tagsOf(st).concat(st.static === false ? [] : ["static"]).join(" · "));
    el.error.hidden = !(status === "error" && x.error);
    el.error.textContent = x.error || "";

    // Counters.
    const tracks = ((x.media_info && x.media_info.tracks) || []).map((t) =>
      [t.content, t.codec, t.width && t.height ? `${t.width}×${t.height}` : ""].filter(Boolean).join(" "));
    const cc = ccPerMinute(st.name);
    const items = [
      ["Status", status],
      ["Uptime", status !== "stopped" && x.lifetime > 0 ? fmtDuration(x.lifetime) : "—"],
      ["Bitrate", status === "running" || x.bitrate > 0 ? fmtBitrate(x.bitrate) : "—"],
      ["Last data", status !== "stopped" ? fmtAgo(x.ts_delay) : "—"],
      ["Received", fmtBytes(x.bytes_in)],
      ["Clients", x.online_clients],
      ["Retries", x.retry_count],
      ["Segments made", x.segments],
      ["Lost TS packets", x.lost_packets],
      ["Continuity errors", x.cc_errors === undefined ? undefined : `${x.cc_errors} (${fmtRate(cc)}/min)`],
      ["Input error rate", typeof x.input_error_rate === "number" ? x.input_error_rate.toFixed(2) : undefined],
      ["Tracks", tracks.length ? tracks.join(", ") : undefined],
      ["Publisher", x.publisher ? [x.publisher.protocol, x.publisher.addr].filter(Boolean).join(" from ") : undefined],
    ];
    el.counters.replaceChildren(...items.filter((r) => r[1] !== undefined && r[1] !== null)
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));

    // Inputs, in the config's order; byte and error columns when the
    // daemon gives them.
    const inputs = st.inputs || [];
    const has = (k) => inputs.some((inp) => inp.stats && typeof inp.stats[k] === "number");
    const extra = [["bytes", "Received", fmtBytes], ["errors", "Errors", String]].filter((c) => has(c[0]));
    el.inputsHead.replaceChildren(h("tr", {},
      h("th", { scope: "col", class: "num" }, "#"), h("th", { scope: "col", class: "num" }, "Priority"),
      h("th", { scope: "col" }, "URL"), h("th", { scope: "col" }, "State"),
      extra.map((c) => h("th", { scope: "col", class: "num" }, c[1]))));
    el.inputs.replaceChildren(...inputs.map((inp, i) => {
      const active = inp.stats && typeof inp.stats.active === "boolean" ? inp.stats.active : inp.url === x.active_input;
      return h("tr", { "data-active": active ? "true" : "false" },
        h("td", { class: "num" }, String(i + 1)),
        h("td", { class: "num" }, inp.priority !== undefined ? String(inp.priority) : "—"),
        h("td", { class: "url" }, h("code", {}, inp.url || "")),
        h("td", {}, active ? h("span", { class: "badge badge-on" }, "active") : h("span", { class: "badge" }, "standby")),
        extra.map((c) => h("td", { class: "num" }, inp.stats && typeof inp.stats[c[0]] === "number" ? c[2](inp.stats[c[0]]) : "—")));
    }));

    this.renderTR(x.ts_errors);
    this.renderChart();
  },

  renderTR(ts) {
    const el = this.el.tr;
    if (!ts || !Object.keys(ts).length) {
      el.replaceChildren(h("p", { class: "muted" }, "Not measured for this stream."));
      return;
    }
    const hist = state.history.get(this.name) || [];
    const known = new Set(TR_PRIORITY.flatMap((g) => g[1]));
    const groups = TR_PRIORITY.map(([title, keys]) => [title, keys.filter((k) => k in ts)])
      .concat([["Other", Object.keys(ts).filter((k) => !known.has(k)).sort()]])
      .filter((g) => g[1].length);
    el.replaceChildren(...groups.map(([title, keys]) => h("div", { class: "tr-group" },
      h("h3", {}, title),
      h("ul", {}, keys.map((k) => {
        const n = ts[k];
        const w = recent(hist, (p) => (p.ts && typeof p.ts[k] === "number" ? p.ts[k] : null));
        const rising = w.length > 1 && w[w.length - 1].ts[k] > w[0].ts[k];
        const st = n > 0 ? (rising ? "bad" : "past") : "ok";
        const label = st === "bad" ? "errors in the last minute" : st === "past" ? "errors earlier" : "no errors";
        return h("li", { class: "ind", "data-state": st, title: `${k}: ${n} (${label})` },
          h("span", { class: "dot", "aria-hidden": "true" }),
          h("span", { class: "ind-name" }, k.replace(/_/g, " ")),
          h("span", { class: "ind-count" }, String(n)),
          h("span", { class: "visually-hidden" }, ", " + label));
      })))));
  },

  // renderChart draws the bitrate history as an inline SVG, as wide as its
  // box (so its text keeps its size). The time axis grows with the history,
  // from one minute to HISTORY_MS.
  renderChart() {
    const hist = (state.history.get(this.name) || []).filter((p) => p.kbps !== null);
    const W = Math.max(320, Math.round(this.el.chart.clientWidth || 720)), H = 170, L = 72, R = 10, T = 10, B = 24;
    const now = Date.now();
    const minutes = Math.min(HISTORY_MS / 60000, Math.max(1, Math.ceil((now - (hist.length ? hist[0].t : now)) / 60000)));
    const span = minutes * 60000, t0 = now - span;
    const max = niceMax(Math.max(1, ...hist.map((p) => p.kbps)));
    const x = (t) => L + (W - L - R) * (t - t0) / span;
    const y = (v) => T + (H - T - B) * (1 - v / max);
    let d = "", area = "", seg = [];
    const flush = () => {
      if (seg.length) {
        const pts = seg.map((p) => `${x(p.t).toFixed(1)},${y(p.kbps).toFixed(1)}`);
        d += "M" + pts.join("L");
        area += `M${x(seg[0].t).toFixed(1)},${y(0)}L` + pts.join("L") + `L${x(seg[seg.length - 1].t).toFixed(1)},${y(0)}Z`;
      }
      seg = [];
    };
    hist.forEach((p, i) => {
      if (i > 0 && p.t - hist[i - 1].t > 3 * POLL_MS + 2000) flush(); // a gap: the page was hidden
      seg.push(p);
    });
    flush();
    const last = hist.length ? hist[hist.length - 1].kbps : null;
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart-svg",
      "aria-label": last === null ? "Bitrate chart: no samples yet"
        : `Bitrate over the last ${minutes} min: now ${fmtBitrate(last)}, peak ${fmtBitrate(Math.max(...hist.map((p) => p.kbps)))}` });
    for (const v of [0, max / 2, max]) {
      svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }),
        s("text", { x: L - 8, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmtBitrate(v)));
    }
    const step = minutes === 1 ? 15000 : 60000;
    for (let ago = span; ago >= 0; ago -= step) {
      const label = ago === 0 ? "now" : step < 60000 ? `−${ago / 1000} s` : `−${ago / 60000} min`;
      svg.append(s("text", { x: x(now - ago), y: H - 6, class: "axis", "text-anchor": ago === 0 ? "end" : ago === span ? "start" : "middle" }, label));
    }
    svg.append(s("path", { d: area, class: "area" }), s("path", { d, class: "line" }));
    this.el.chart.replaceChildren(svg);
    this.el.chartNote.textContent = hist.length < 2 ? "The chart fills while this page stays open (up to 5 minutes)." : "";
  },

  async copy(text, label, id) {
    let ok = false;
    try {
      if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; }
    } catch (e) { ok = false; }
    if (!ok) {
      // Plain http (most headends) has no async clipboard: copy the selection.
      const input = $(id);
      input.focus();
      input.select();
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    }
    notice(ok ? `${label} URL copied.` : `Select the ${label} URL and copy it.`);
  },

  async remove() {
    const name = this.name;
    if (!window.confirm(`Delete stream ${name}? Viewers are cut off and its configuration is removed.`)) return;
    try {
      await api("DELETE", "/streams/" + namePath(name));
    } catch (e) {
      if (e.status !== 404) { problem(`Could not delete ${name}: ${e.message}`, true); return; }
    }
    state.streams.delete(name);
    state.history.delete(name);
    notice(`Deleted stream ${name}.`);
    location.hash = "#/";
  },

  // startPlayer plays url with hls.js (or natively, in Safari). Fatal
  // errors are shown and counted (data-fatal on the video) and the player
  // retries: an ondemand stream may take a moment to start.
  async startPlayer(url) {
    const el = this.el, video = el.video;
    const say = (st, text) => { if (this.el !== el) return; el.player.dataset.state = st; el.player.textContent = text; };
    video.addEventListener("playing", () => say("playing", "Playing"));
    video.addEventListener("waiting", () => say("loading", "Buffering…"));
    video.addEventListener("pause", () => say("paused", "Paused"));
    try {
      await loadHls();
    } catch (e) {
      say("error", "Could not load the player script");
      return;
    }
    if (this.el !== el) return;
    const Hls = window.Hls;
    if (!Hls || !Hls.isSupported()) {
      if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = url;
        video.play().catch(() => {});
        return;
      }
      say("error", "This browser cannot play HLS");
      return;
    }
    const start = () => {
      if (this.el !== el) return;
      const hls = new Hls({ liveDurationInfinity: true, backBufferLength: 30 });
      this.hls = hls;
      hls.on(Hls.Events.ERROR, (ev, data) => {
        if (!data.fatal) return;
        const what = `${data.type}/${data.details}` + (data.response && data.response.code ? ` (HTTP ${data.response.code})` : "");
        this.fatal.push(what);
        video.dataset.fatal = this.fatal.join(" ");
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && this.fatal.length < 5) {
          say("error", `Player error ${what}; recovering…`);
          hls.recoverMediaError();
          return;
        }
        say("error", `Player error ${what}; retrying…`);
        hls.destroy();
        if (this.hls === hls) this.hls = null;
        this.retry = setTimeout(start, 3000);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    };
    start();
  },
};

let hlsPromise = null;
function loadHls() {
  if (window.Hls) return Promise.resolve();
  if (!hlsPromise) {
    hlsPromise = new Promise((resolve, reject) => {
      const sc = h("script", { src: "hls.min.js" });
      sc.onload = () => resolve();
      sc.onerror = () => { hlsPromise = null; reject(new Error("hls.min.js did not load")); };
      document.head.append(sc);
    });
  }
  return hlsPromise;
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- edit -------------------------------------------------------------------

// The edit form's simple fields: key, input id, and how a value maps
// between the form and the API (segment_duration is ms in the API).
const EDIT_NUMBERS = [
  ["segment_duration", (v) => v / 1000, (v) => Math.round(v * 1000)],
  ["segment_count", (v) => v, (v) => v],
  ["source_timeout", (v) => v, (v) => v],
  ["clients_timeout", (v) => v, (v) => v],
];

let editing = null; // the STREAM the form started from

function inputRow(inp, i) {
  const row = h("div", { class: "input-row" },
    h("div", { class: "field grow" },
      h("label", { for: `edit-input-${i}` }, `Input ${i + 1} URL`),
      h("input", { id: `edit-input-${i}`, class: "in-url", value: inp.url || "", autocomplete: "off", spellcheck: "false", "aria-describedby": `edit-input-${i}-error` }),
      h("p", { class: "field-error", id: `edit-input-${i}-error` })),
    h("div", { class: "field prio" },
      h("label", { for: `edit-prio-${i}` }, "Priority"),
      h("input", { id: `edit-prio-${i}`, class: "in-prio", type: "number", step: "1", value: inp.priority !== undefined ? inp.priority : "", "aria-describedby": `edit-prio-${i}-error` }),
      h("p", { class: "field-error", id: `edit-prio-${i}-error` })),
    h("button", { type: "button", class: "remove", "aria-label": `Remove input ${i + 1}`, onclick: () => { row.remove(); renumberInputs(); } }, "Remove"));
  row.orig = inp;
  return row;
}

// renumberInputs keeps ids, labels and error slots in step with the order.
function renumberInputs() {
  [...$("edit-inputs").children].forEach((row, i) => {
    const [url, prio] = [row.querySelector(".in-url"), row.querySelector(".in-prio")];
    const old = row.orig;
    const fresh = inputRow({ url: url.value, priority: prio.value === "" ? undefined : Number(prio.value) }, i);
    fresh.orig = old;
    row.replaceWith(fresh);
  });
}

function openEdit(st) {
  if (!st) return;
  editing = st;
  const form = $("edit-form");
  form.reset();
  clearErrors(form);
  $("edit-title").textContent = `Edit ${st.name}`;
  $("edit-inputs").replaceChildren(...(st.inputs || []).map(inputRow));
  form.elements.static.value = st.static === false ? "false" : "true";
  $("edit-disabled").checked = !!st.disabled;
  for (const [k, toForm] of EDIT_NUMBERS) {
    $("edit-" + k).value = typeof st[k] === "number" ? String(toForm(st[k])) : "";
  }
  $("edit-dialog").showModal();
}

// configOf strips an input's read-only keys.
function configOf(inp) {
  const c = Object.assign({}, inp);
  delete c.stats;
  return c;
}

async function submitEdit(ev) {
  ev.preventDefault();
  const form = $("edit-form"), st = editing;
  const body = {};
  // Inputs: sent whole when any changed.
  const inputs = [...$("edit-inputs").children].map((row) => {
    const c = row.orig ? configOf(row.orig) : {};
    c.url = row.querySelector(".in-url").value.trim();
    const p = row.querySelector(".in-prio").value;
    if (p === "") delete c.priority; else c.priority = Number(p);
    return c;
  });
  const was = (st.inputs || []).map(configOf);
  if (JSON.stringify(inputs) !== JSON.stringify(was)) body.inputs = inputs;
  const isStatic = form.elements.static.value !== "false";
  if (isStatic !== (st.static !== false)) body.static = isStatic;
  const disabled = $("edit-disabled").checked;
  if (disabled !== !!st.disabled) body.disabled = disabled;
  for (const [k, , toAPI] of EDIT_NUMBERS) {
    const raw = $("edit-" + k).value.trim();
    const v = raw === "" ? null : toAPI(Number(raw));
    const old = typeof st[k] === "number" ? st[k] : null;
    if (v !== old) body[k] = v;
  }
  const fieldFor = (p) => {
    let m = /^\/inputs\/(\d+)(\/url)?$/.exec(p);
    if (m) return `edit-input-${m[1]}`;
    m = /^\/inputs\/(\d+)\/priority$/.exec(p);
    if (m) return `edit-prio-${m[1]}`;
    if (p === "/static") return "edit-static";
    if (p === "/disabled") return "edit-disabled";
    const k = p.slice(1);
    return EDIT_NUMBERS.some((e) => e[0] === k) ? "edit-" + k : null;
  };
  if (body.inputs) {
    const local = inputs.map((c, i) => (c.url ? null : { title: "Enter a URL or remove this input", source: { pointer: `/inputs/${i}/url` } })).filter(Boolean);
    if (!inputs.length) local.push({ title: "A stream needs at least one input" });
    if (local.length) { showErrors(form, local, fieldFor); return; }
  }
  if (!Object.keys(body).length) { $("edit-dialog").close(); notice("Nothing changed."); return; }
  const button = $("edit-submit");
  setBusy(button, true, "Saving…");
  try {
    const saved = await api("PUT", "/streams/" + namePath(st.name), body);
    $("edit-dialog").close();
    notice(`Saved ${st.name}.`);
    if (saved && saved.name === streamPage.name) {
      streamPage.st = saved;
      state.streams.set(saved.name, saved);
      streamPage.render();
    }
    schedule(true);
  } catch (e) {
    showErrors(form, e.errors || [{ title: e.message }], fieldFor);
  } finally {
    setBusy(button, false);
  }
}

// ---- routing ----------------------------------------------------------------

// route shows the view the location's hash names. After a navigation (not
// the first load) focus goes to the new view's heading, so a screen reader
// tells where the user landed.
function route(ev) {
  const m = /^#\/streams\/(.+)$/.exec(location.hash);
  let name = null;
  if (m) {
    try { name = decodeURIComponent(m[1]); } catch (e) { name = null; }
  }
  problem(null, false);
  if (name) {
    if (streamPage.name !== name) streamPage.open(name);
    state.view = "stream";
    $("list-view").hidden = true;
    $("stream-view").hidden = false;
  } else {
    streamPage.close();
    $("stream-view").replaceChildren();
    state.view = "list";
    $("stream-view").hidden = true;
    $("list-view").hidden = false;
    document.title = "Streams · slabcast";
    renderList();
  }
  if (ev) {
    const h1 = document.querySelector(state.view === "list" ? "#streams-title" : "#stream-title");
    if (h1 && !document.querySelector("dialog[open]")) h1.focus({ preventScroll: false });
  }
  schedule(true);
}

async function showServer() {
  $("server").textContent = location.host;
  try {
    const c = await api("GET", "/config");
    const v = c && c.server_version;
    if (v && /\d/.test(v)) $("server").textContent = `${location.host} · ${/^slabcast/.test(v) ? v : "slabcast " + v}`;
  } catch (e) { /* the header line is optional */ }
}

function init() {
  $("add-open").addEventListener("click", openAdd);
  $("add-form").addEventListener("submit", submitAdd);
  $("edit-form").addEventListener("submit", submitEdit);
  $("edit-add-input").addEventListener("click", () => {
    const box = $("edit-inputs");
    const row = inputRow({}, box.children.length);
    box.append(row);
    row.querySelector(".in-url").focus();
  });
  for (const b of document.querySelectorAll("dialog .cancel")) b.addEventListener("click", () => b.closest("dialog").close());
  $("filter").addEventListener("input", renderList);
  window.addEventListener("hashchange", route);
  route();
  showServer();
}

init();
