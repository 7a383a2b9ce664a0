// aglidein log viewer: plain JavaScript, no build step, no framework.
// Reads /api/v1/logs, /api/v1/glideins and follows one glidein over
// /api/v1/logs/stream (Server-Sent Events) with the session cookie.
// Every filter, and the glidein followed, is in the page's URL (deep links).
"use strict";

const $ = (sel) => document.querySelector(sel);
const LEVELS = ["debug", "info", "warning", "error", "critical"];
const CORE = new Set(["glidein", "entry", "seq", "ts", "level", "event", "msg"]);
const state = {
  nextCursor: null, params: null, source: null, following: null, timeline: [], pendingFollow: null,
  next: null,
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function setStatus(text, isError) {
  const status = $("#status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401 || response.status === 403) {
    $("#auth").hidden = false;
    throw new Error("sign in with the read token");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function localToUtc(value) {
  // datetime-local gives local wall time; the API wants RFC 3339 UTC.
  if (!value) return "";
  const when = new Date(value);
  return isNaN(when) ? "" : when.toISOString();
}

function utcToLocal(value) {
  // the inverse, for a URL's since/until: RFC 3339 UTC to the datetime-local input's value
  const when = new Date(value);
  if (!value || isNaN(when)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}` +
    `T${pad(when.getHours())}:${pad(when.getMinutes())}:${pad(when.getSeconds())}`;
}

const URL_FILTERS = ["q", "entry", "glidein", "job", "level", "event", "since", "until"];

function applyUrl() {
  // Every filter (and the glidein followed) lives in the URL: a link opens the same view.
  const params = new URLSearchParams(window.location.search);
  for (const key of ["q", "entry", "glidein", "job", "event"]) $(`#${key}`).value = params.get(key) || "";
  const level = params.get("level") || "";
  $("#level").value = [...$("#level").options].some((o) => o.value === level) ? level : "";
  $("#since").value = utcToLocal(params.get("since"));
  $("#until").value = utcToLocal(params.get("until"));
  return params.get("follow");
}

function writeUrl() {
  const params = new URLSearchParams();
  const current = state.params || formParams();
  for (const key of URL_FILTERS) if (current[key]) params.set(key, current[key]);
  if (state.following) params.set("follow", state.following);
  const query = params.toString();
  // the read token never stays in the address bar: the session cookie replaced it
  window.history.replaceState(null, "", `${window.location.pathname}${query ? "?" + query : ""}`);
}

function formParams() {
  return {
    q: $("#q").value.trim(),
    entry: $("#entry").value.trim(),
    glidein: $("#glidein").value.trim(),
    job: $("#job").value.trim(),
    level: $("#level").value,
    event: $("#event").value.trim(),
    since: localToUtc($("#since").value),
    until: localToUtc($("#until").value),
  };
}

function fieldsText(record) {
  return Object.entries(record)
    .filter(([key]) => !CORE.has(key))
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
}

function glideinLink(name) {
  return el("a", { class: "glidein-link", href: "#", "data-glidein": name,
    onclick: (event) => { event.preventDefault(); follow(name); } }, name);
}

function resultRow(record) {
  const level = LEVELS.includes(record.level) ? record.level : "info";
  return el("tr", { class: `lvl-row-${level}`, "data-level": level },
    el("td", { class: "ts" }, record.ts),
    el("td", {}, el("span", { class: `lvl lvl-${level}` }, level)),
    el("td", {}, glideinLink(record.glidein)),
    el("td", {}, record.event),
    el("td", { class: "msg" }, record.msg ?? ""),
    el("td", { class: "fields" }, fieldsText(record)));
}

async function search(more) {
  const params = more ? { ...state.params, cursor: state.nextCursor } : formParams();
  if (!more) {
    state.params = params;
    $("#results tbody").replaceChildren();
    writeUrl();
  }
  setStatus("searching…");
  try {
    const page = await api("/api/v1/logs", { ...params, limit: 200, order: "desc" });
    const body = $("#results tbody");
    for (const record of page.records) body.append(resultRow(record));
    state.nextCursor = page.next_cursor;
    $("#more").hidden = !page.next_cursor;
    const lag = page.index_lag_s > 1 && params.q ? ` (full-text index ${page.index_lag_s.toFixed(1)} s behind)` : "";
    setStatus(`${body.children.length} records${page.next_cursor ? " so far" : ""}${lag}${jobRunsText(page)}`);
  } catch (error) {
    setStatus(String(error.message || error), true);
  }
}

function jobRunsText(page) {
  // With a user-job filter: which glideins ran it.
  if (!page.job_runs) return "";
  if (!page.job_runs.length) return " — no glidein has recorded this user job";
  return " — " + page.job_runs.map((r) => `${r.job} ran on ${r.glidein}`).join("; ");
}

function fileLink(href, label) {
  return el("a", { class: "file-link", href, target: "_blank", rel: "noopener" }, label);
}

async function loadGlideinView(name) {
  // The glidein's user jobs and its output files, beside its live records.
  $("#follow-files").replaceChildren();
  $("#follow-jobs tbody").replaceChildren();
  $("#follow-jobs").hidden = true;
  try {
    const view = await api(`/api/v1/glideins/${encodeURIComponent(name)}`);
    if (state.following !== name) return;
    const links = [];
    if (view.files.out) links.push(fileLink(view.files.out, "stdout (.out)"));
    if (view.files.err) links.push(fileLink(view.files.err, "stderr (.err)"));
    $("#follow-files").replaceChildren(...(links.length
      ? links.flatMap((link, i) => (i ? [" · ", link] : [link]))
      : ["no output files on the factory (not written yet, or expired)"]));
    const rows = view.user_jobs.map((j) => el("tr", { "data-job": j.job },
      el("td", {}, j.job), el("td", {}, j.owner ?? ""), el("td", {}, j.start ?? ""),
      el("td", {}, j.end ?? "running"),
      el("td", {}, j.exit_signal !== null ? `signal ${j.exit_signal}` : (j.exit_code ?? ""))));
    $("#follow-jobs tbody").replaceChildren(...rows);
    $("#follow-jobs").hidden = rows.length === 0;
  } catch (error) {
    $("#follow-files").textContent = String(error.message || error);
  }
}

async function loadGlideins() {
  try {
    const page = await api("/api/v1/glideins", { limit: 500 });
    const list = $("#glideins");
    const entries = new Set();
    list.replaceChildren(...page.glideins.map((g) => {
      entries.add(g.entry);
      return el("li", { "data-glidein": g.glidein }, glideinLink(g.glidein),
        el("small", {}, `${g.entry} · ${g.state} · ${g.record_count} records`),
        g.last_error ? el("small", { class: "error" }, g.last_error) : "");
    }));
    $("#entries").replaceChildren(...[...entries].sort().map((e) => el("option", { value: e })));
  } catch (error) {
    setStatus(String(error.message || error), true);
  }
}

function drawEvents(points) {
  // One chip per run of the same event, in time order: the glidein's story at a glance.
  const chips = [];
  for (const point of points) {
    const last = chips[chips.length - 1];
    if (last && last.event === point.event) {
      last.count += 1;
      if (LEVELS.indexOf(point.level) > LEVELS.indexOf(last.level)) last.level = point.level;
    } else {
      chips.push({ event: point.event, ts: point.ts, level: point.level, count: 1 });
    }
  }
  $("#events").replaceChildren(...chips.slice(-40).map((c) =>
    el("li", { class: `chip lvl-row-${c.level}`, title: c.ts },
      el("span", { class: `lvl lvl-${c.level}` }, c.event), c.count > 1 ? ` ×${c.count}` : "",
      el("small", {}, ` ${c.ts.slice(11, 19)}`))));
}

function drawTimeline() {
  const box = $("#timeline");
  const points = state.timeline;
  box.replaceChildren();
  drawEvents(points);
  if (!points.length) return;
  const first = points[0].t, last = points[points.length - 1].t;
  const span = Math.max(1, last - first);
  for (const point of points) {
    const left = 2 + 96 * ((point.t - first) / span);
    // CSSOM, not a style attribute: the Content-Security-Policy forbids inline styles.
    const mark = el("span", { class: `mark lvl-bg-${point.level}`,
      title: `${point.ts} ${point.level} ${point.event}` });
    mark.style.left = `${left}%`;
    box.append(mark);
  }
}

function addFollowed(record) {
  const level = LEVELS.includes(record.level) ? record.level : "info";
  const item = el("li", { class: `lvl-row-${level}`, "data-seq": record.seq },
    `${record.ts} `, el("span", { class: `lvl lvl-${level}` }, level), ` ${record.event} `,
    record.msg ?? "", record.msg && fieldsText(record) ? "  " : "", fieldsText(record));
  $("#follow-records").append(item);
  state.timeline.push({ t: Date.parse(record.ts), ts: record.ts, level, event: record.event });
  state.timeline.sort((a, b) => a.t - b.t);
  drawTimeline();
  item.scrollIntoView({ block: "nearest" });
}

async function follow(name) {
  unfollow();
  state.following = name;
  state.timeline = [];
  $("main").classList.add("following");
  $("#follow-panel").hidden = false;
  $("#follow-name").textContent = name;
  $("#follow-records").replaceChildren();
  $("#follow-state").textContent = "loading";
  $("#follow-state").className = "badge";
  writeUrl();
  loadGlideinView(name);
  try {
    const page = await api("/api/v1/logs", { glidein: name, order: "desc", limit: 500 });
    if (state.following !== name) return;
    for (const record of page.records.reverse()) addFollowed(record);
    const url = new URL("/api/v1/logs/stream", window.location.origin);
    url.searchParams.set("glidein", name);
    url.searchParams.set("cursor", page.end_cursor);
    const source = new EventSource(url, { withCredentials: true });
    state.source = source;
    source.addEventListener("open", () => {
      $("#follow-state").textContent = "live";
      $("#follow-state").className = "badge live";
    });
    source.addEventListener("record", (event) => addFollowed(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      $("#follow-state").textContent = "reconnecting";
      $("#follow-state").className = "badge";
    });
  } catch (error) {
    $("#follow-state").textContent = String(error.message || error);
  }
}

function unfollow() {
  if (state.source) state.source.close();
  state.source = null;
  const was = state.following;
  state.following = null;
  $("main").classList.remove("following");
  $("#follow-panel").hidden = true;
  if (was) writeUrl();
}

function stopFollowing() {
  unfollow();
  writeUrl();
}

function sameSitePath(value) {
  // `next` of a refused page: only a path on this site, never another origin
  if (!value || !value.startsWith("/") || value.startsWith("//")) return null;
  const url = new URL(value, window.location.origin);
  return url.origin === window.location.origin ? url.pathname + url.search : null;
}

async function signIn(event) {
  event.preventDefault();
  const response = await fetch("/api/v1/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("#token").value }),
  });
  if (!response.ok) {
    $("#auth-error").textContent = "that token is not valid for reading";
    return;
  }
  $("#auth").hidden = true;
  if (state.next) {  // signed in for a page that sent us here (its 401 page): back to it
    window.location.assign(state.next);
    return;
  }
  loadGlideins();
  search(false);
  if (state.pendingFollow) follow(state.pendingFollow);
}

function start() {
  $("#search-form").addEventListener("submit", (event) => { event.preventDefault(); search(false); });
  $("#level").addEventListener("change", () => search(false));
  $("#more").addEventListener("click", () => search(true));
  $("#unfollow").addEventListener("click", stopFollowing);
  $("#auth-form").addEventListener("submit", signIn);
  state.pendingFollow = applyUrl();
  state.next = sameSitePath(new URLSearchParams(window.location.search).get("next"));
  const token = new URLSearchParams(window.location.search).get("access_token");
  if (token) {
    $("#token").value = token;
    signIn(new Event("submit"));
    return;
  }
  loadGlideins();
  search(false);
  if (state.pendingFollow) follow(state.pendingFollow);
  setInterval(loadGlideins, 15000);
}

document.addEventListener("DOMContentLoaded", start);
