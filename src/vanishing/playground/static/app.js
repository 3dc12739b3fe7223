// vanishing playground: two runs (A, B), each with its own knobs, live charts and diagnosis.
// The whole view lives in the URL (?preset=..&A.depth=..&B.init=..); the server validates every setting.
"use strict";

const FIELDS = ["depth", "width", "activation", "init", "bias_init", "norm", "residual", "dataset",
  "optimizer", "lr", "batch_size", "steps", "record_every", "seed"];
const NUMBER_FIELDS = new Set(["depth", "width", "batch_size", "steps", "record_every", "seed"]);
const COLORS = { W: "#1f77b4", z: "#2ca02c", pred: "#7f7f7f", init: "#aec7e8", train: "#ff7f0e", test: "#d62728" };
const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const UPDATE_MS = 100;  // at most 10 redraws a second, whatever the stream sends

let OPTIONS = null;
const panels = {};

// --- numbers: the server writes NaN / ±inf as strings (vanishing.results.codec) ---------------------------
function num(v) {
  if (typeof v === "string") return v === "inf" ? Infinity : v === "-inf" ? -Infinity : NaN;
  return v === null || v === undefined ? NaN : v;
}
function finiteOrNull(v) { const x = num(v); return Number.isFinite(x) ? x : null; }
function sci(v) { const x = num(v); return Number.isFinite(x) ? x.toExponential(2) : String(v); }
function round(x, digits) { return Number(Number(x).toPrecision(digits)); }

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  return { ok: resp.ok, status: resp.status, data };
}

function layout(title, extra) {
  return Object.assign({
    title: { text: title, font: { size: 13 }, x: 0.02 }, margin: { l: 55, r: 45, t: 34, b: 40 },
    height: 260, legend: { orientation: "h", y: -0.32, font: { size: 10 } }, font: { size: 11 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fafafa",
  }, extra || {});
}

// --- one run's panel --------------------------------------------------------------------------------------
class Panel {
  constructor(side, root) {
    this.side = side;
    this.root = root;
    root.appendChild(document.getElementById("panel-template").content.cloneNode(true));
    root.querySelector(".side").textContent = side;
    this.form = root.querySelector("form");
    this.charts = {};
    for (const name of ["grad", "heat", "loss", "phase", "update", "sat", "boundary"]) {
      const el = root.querySelector(".chart." + name);
      el.id = `${side}-${name}`;
      this.charts[name] = el;
    }
    this.theory = null;
    this.clear();
    this.fillChoices();
    this.bind();
  }

  // the controls ------------------------------------------------------------------------------------------
  input(name) { return this.form.elements[name]; }

  fillChoices() {
    const lists = { activation: OPTIONS.activations, norm: OPTIONS.norms, dataset: OPTIONS.datasets, optimizer: OPTIONS.optimizers };
    for (const [name, values] of Object.entries(lists)) {
      const sel = this.input(name);
      for (const v of values) sel.add(new Option(v, v));
    }
    const L = OPTIONS.limits;
    this.input("depth").max = L.max_depth;
    this.input("width").max = L.max_width;
    this.input("steps").max = L.max_steps;
    this.input("batch_size").max = L.max_batch_size;
    for (const label of this.form.querySelectorAll("label")) {
      const err = document.createElement("span");
      err.className = "field-err";
      label.appendChild(err);
    }
  }

  bind() {
    this.form.addEventListener("input", (ev) => this.onKnob(ev.target));
    this.form.addEventListener("change", (ev) => this.onKnob(ev.target));
    const q = (s) => this.root.querySelector(s);
    q(".play").addEventListener("click", () => this.play());
    q(".pause").addEventListener("click", () => this.control("pause"));
    q(".step").addEventListener("click", () => this.step());
    q(".reset").addEventListener("click", () => this.reset());
  }

  getConfig() {
    const c = {};
    for (const f of FIELDS) {
      const el = this.input(f);
      if (f === "residual") c[f] = el.checked;
      else if (NUMBER_FIELDS.has(f)) c[f] = el.value === "" ? el.value : Number(el.value);
      else if (f === "lr") c[f] = el.value === "" ? el.value : Number(el.value);
      else c[f] = el.value;
    }
    return c;
  }

  setConfig(config) {
    for (const f of FIELDS) {
      if (!(f in config)) continue;
      const el = this.input(f);
      if (f === "residual") el.checked = config[f] === true || config[f] === "true";
      else el.value = config[f];
    }
    this.showOutputs();
  }

  showOutputs() {
    this.root.querySelector('output[data-for="depth"]').textContent = this.input("depth").value;
  }

  onKnob(el) {
    if (!el || !el.name) return;
    if (el.name === "sigma_w2") {  // the slider writes the init: N(0, σ_w²/fan_in)
      const sw2 = round(Math.pow(10, Number(el.value)), 3);
      this.input("init").value = `variance_scaling:scale=${sw2},mode=fan_in,distribution=normal`;
      this.root.querySelector('output[data-for="sigma_w2"]').textContent = sw2;
    } else if (el.name === "sigma_b2") {  // ... and the bias init: N(0, σ_b²)
      const sb2 = Number(el.value);
      this.input("bias_init").value = sb2 === 0 ? "zeros" : `normal:std=${round(Math.sqrt(sb2), 4)}`;
      this.root.querySelector('output[data-for="sigma_b2"]').textContent = sb2;
    }
    this.showOutputs();
    this.clearErrors();
    if (this.run && !this.done) this.reset();  // new settings: a new run
    this.changed();
    saveUrl();
  }

  changed() {
    clearTimeout(this.theoryTimer);
    this.theoryTimer = setTimeout(() => this.fetchTheory(), 150);
  }

  clearErrors() {
    for (const e of this.form.querySelectorAll(".field-err")) e.textContent = "";
    for (const e of this.form.querySelectorAll(".invalid")) e.classList.remove("invalid");
    this.root.querySelector(".run-error").textContent = "";
  }

  showError(data, status) {
    const d = (data && data.detail) || {};
    const field = d.field;
    const el = field && this.input(field);
    if (el) {
      el.classList.add("invalid");
      el.closest("label").querySelector(".field-err").textContent = d.allowed || d.message;
    }
    const text = d.message || (typeof d === "string" ? d : `the server answered ${status}`);
    this.root.querySelector(".run-error").textContent = text;
  }

  // theory (no training) --------------------------------------------------------------------------------
  async fetchTheory() {
    const r = await api("/api/theory", { config: this.getConfig() });
    if (!r.ok) { this.theory = null; this.showError(r.data, r.status); this.render(); return; }
    this.theory = r.data;
    const p = r.data.prediction;
    if (p) {
      const sw = this.input("sigma_w2"), sb = this.input("sigma_b2");
      sw.value = Math.log10(p.sigma_w2);
      sb.value = p.sigma_b2;
      this.root.querySelector('output[data-for="sigma_w2"]').textContent = round(p.sigma_w2, 3);
      this.root.querySelector('output[data-for="sigma_b2"]').textContent = round(p.sigma_b2, 3);
    }
    this.render();
  }

  // the run -----------------------------------------------------------------------------------------------
  clear() {
    this.run = null; this.done = false; this.state = "idle"; this.step_ = 0; this.steps = 0;
    this.rows = []; this.extras = {}; this.es = null; this.dirty = true;
    this.data = { first_grad: null, last_grad: null, step: null };
    this.setState("idle");
    this.setDownloads(false);
  }

  setState(state) {
    this.state = state;
    const b = this.root.querySelector(".state");
    b.textContent = state;
    b.className = "badge state " + state;
    this.root.dataset.state = state;
  }

  setDownloads(on) {
    for (const [cls, file] of [["json", "result.json"], ["report", "report.html"]]) {
      const a = this.root.querySelector(".download." + cls);
      if (on && this.run) { a.href = `/api/runs/${this.run}/${file}`; a.classList.remove("disabled"); }
      else { a.removeAttribute("href"); a.classList.add("disabled"); }
    }
  }

  async start(play) {
    this.clearErrors();
    const r = await api("/api/runs", { config: this.getConfig(), play });
    if (!r.ok) { this.showError(r.data, r.status); return false; }
    this.rows = []; this.extras = {}; this.done = false;
    this.run = r.data.id;
    this.startedAt = performance.now();
    this.firstUpdateMs = null;
    this.root.dataset.run = this.run;
    this.setState(play ? "running" : "paused");
    this.listen();
    return true;
  }

  listen() {
    const es = new EventSource(`/api/runs/${this.run}/stream`);
    this.es = es;
    es.addEventListener("update", (ev) => this.onUpdate(JSON.parse(ev.data)));
    es.addEventListener("end", () => { es.close(); this.es = null; });
    es.onerror = () => { if (this.done) es.close(); };
  }

  onUpdate(msg) {
    if (msg.id !== this.run) return;
    // a reconnected stream (EventSource retries by itself) starts over: keep only steps not yet drawn
    const lastStep = this.rows.length ? this.rows[this.rows.length - 1].step : -1;
    const fresh = (msg.rows || []).filter((r) => r.step > lastStep);
    if (fresh.length) {
      this.rows.push(...fresh);
      if (this.firstUpdateMs === null) this.firstUpdateMs = performance.now() - this.startedAt;
    }
    for (const k of ["boundary", "diagnosis", "points", "layers", "majority_baseline"]) if (k in msg) this.extras[k] = msg[k];
    this.step_ = msg.step; this.steps = msg.steps;
    this.setState(msg.state);
    if (msg.error) this.root.querySelector(".run-error").textContent = msg.error;
    this.done = !["running", "paused"].includes(msg.state);
    this.setDownloads(this.done && msg.state !== "failed");
    this.dirty = true;
  }

  async play() {
    if (this.run && !this.done) return this.control("play");
    return this.start(true);
  }

  async step() {
    if (this.run && !this.done) return this.control("step");
    return this.start(false);
  }

  async control(action) {
    if (!this.run || this.done) return;
    const r = await api(`/api/runs/${this.run}/control`, { action });
    if (!r.ok) this.showError(r.data, r.status);
  }

  reset() {
    if (this.es) this.es.close();
    if (this.run && !this.done) fetch(`/api/runs/${this.run}`, { method: "DELETE" });
    this.clear();
    this.render();
  }

  stopOnLeave() {
    if (this.run && !this.done) navigator.sendBeacon(`/api/runs/${this.run}/stop`);
  }

  // drawing -----------------------------------------------------------------------------------------------
  render() {
    this.dirty = false;
    this.root.querySelector(".progress").textContent = this.run ? `step ${this.step_} / ${this.steps}` : "";
    this.drawGrad(); this.drawHeat(); this.drawLoss(); this.drawPerLayer("update"); this.drawPerLayer("sat");
    this.drawBoundary(); this.drawPhase(); this.drawDiagnosis();
  }

  layerAxis(n) { return Array.from({ length: n }, (_, i) => i + 1); }

  lastWith(key) {  // the latest row that recorded `key` (a diverged step logs its loss only)
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i][key]) return this.rows[i];
    return undefined;
  }

  drawGrad() {
    const el = this.charts.grad, traces = [];
    const last = this.lastWith("grad_norm"), first = this.rows.find((r) => r.grad_norm);
    const pred = this.theory && this.theory.prediction;
    if (first && first.grad_norm) {
      const x = this.layerAxis(first.grad_norm.length);
      if (first !== last) traces.push({ x, y: first.grad_norm.map(finiteOrNull), name: "‖∂L/∂W‖ at step 0", mode: "lines", line: { color: COLORS.init, width: 1.5 } });
      traces.push({ x, y: last.grad_norm.map(finiteOrNull), name: `‖∂L/∂W‖ at step ${last.step}`, mode: "lines+markers", line: { color: COLORS.W }, marker: { size: 4 } });
      if (last.signal_grad_norm) traces.push({ x, y: last.signal_grad_norm.map(finiteOrNull), name: `‖∂L/∂z‖ at step ${last.step}`, mode: "lines", line: { color: COLORS.z } });
      const g = last.grad_norm.map(num);
      this.data = { first_grad: g[0], last_grad: g[g.length - 1], step: last.step };
      el.dataset.firstGrad = g[0]; el.dataset.lastGrad = g[g.length - 1]; el.dataset.step = last.step;
      el.dataset.grad = JSON.stringify(g.map((v) => (Number.isFinite(v) ? v : null)));
    } else {
      delete el.dataset.firstGrad; delete el.dataset.lastGrad; delete el.dataset.step;
    }
    if (pred) {  // log10 ‖∂L/∂z_l‖/‖∂L/∂z_L‖, anchored at the measured read-out signal of step 0 (or 1)
      const rel = pred.log10_grad_norm.map(num);
      const x = this.layerAxis(rel.length);
      const anchor = first && first.signal_grad_norm ? num(first.signal_grad_norm[rel.length - 1]) : 1;
      const y = rel.map((r) => (Number.isFinite(r) && Number.isFinite(anchor) ? anchor * Math.pow(10, r) : null));
      traces.push({ x, y, name: first ? "theory at init (‖∂L/∂z‖)" : "theory at init (relative to the read-out)", mode: "lines", line: { color: COLORS.pred, dash: "dash" } });
    }
    const title = last ? `gradient per layer, step ${last.step} (log scale)` : "gradient per layer (press play)";
    Plotly.react(el, traces, layout(title, { yaxis: { type: "log", exponentformat: "power", title: { text: "norm" } }, xaxis: { title: { text: "layer (1 = input side)" } }, height: 300 }), PLOT_CONFIG);
  }

  drawHeat() {
    const rows = this.rows.filter((r) => r.grad_norm);
    const traces = [];
    if (rows.length) {
      const L = rows[0].grad_norm.length;
      const z = Array.from({ length: L }, (_, l) => rows.map((r) => { const v = num(r.grad_norm[l]); return v > 0 && Number.isFinite(v) ? Math.log10(v) : null; }));
      traces.push({ type: "heatmap", x: rows.map((r) => r.step), y: this.layerAxis(L), z, colorscale: "Viridis", colorbar: { title: { text: "log10", side: "right" }, thickness: 10 } });
    }
    Plotly.react(this.charts.heat, traces, layout("log10 ‖∂L/∂W‖: layer × step", { xaxis: { title: { text: "step" } }, yaxis: { title: { text: "layer" } }, height: 260 }), PLOT_CONFIG);
  }

  drawLoss() {
    const rows = this.rows, traces = [];
    const x = rows.map((r) => r.step);
    traces.push({ x, y: rows.map((r) => finiteOrNull(r.loss)), name: "loss", mode: "lines", line: { color: "#333" } });
    traces.push({ x, y: rows.map((r) => finiteOrNull(r.train_accuracy)), name: "train acc.", yaxis: "y2", mode: "lines", line: { color: COLORS.train } });
    traces.push({ x, y: rows.map((r) => finiteOrNull(r.test_accuracy)), name: "test acc.", yaxis: "y2", mode: "lines", line: { color: COLORS.test } });
    const base = finiteOrNull(this.extras.majority_baseline);
    if (base !== null && x.length) traces.push({ x: [x[0], x[x.length - 1]], y: [base, base], name: "majority baseline", yaxis: "y2", mode: "lines", line: { color: COLORS.test, dash: "dot", width: 1 } });
    Plotly.react(this.charts.loss, traces, layout("loss and accuracy", { xaxis: { title: { text: "step" } }, yaxis: { title: { text: "loss" } }, yaxis2: { overlaying: "y", side: "right", range: [0, 1], tickmode: "linear", tick0: 0, dtick: 0.25, title: { text: "accuracy" } } }), PLOT_CONFIG);
  }

  drawPerLayer(kind) {
    const last = this.lastWith(kind === "update" ? "update_ratio" : "saturation"), traces = [];
    let title, extra;
    if (kind === "update") {
      title = "update ratio ‖ΔW‖/‖W‖ per layer";
      extra = { yaxis: { type: "log", exponentformat: "power" } };
      if (last && last.update_ratio) traces.push({ x: this.layerAxis(last.update_ratio.length), y: last.update_ratio.map(finiteOrNull), type: "bar", name: "update ratio", marker: { color: COLORS.W } });
    } else {
      title = "saturated / dead units per layer";
      extra = { yaxis: { range: [0, 1] }, barmode: "group" };
      if (last && last.saturation) traces.push({ x: this.layerAxis(last.saturation.length), y: last.saturation.map(finiteOrNull), type: "bar", name: "saturated", marker: { color: "#9467bd" } });
      if (last && last.dead_fraction) traces.push({ x: this.layerAxis(last.dead_fraction.length), y: last.dead_fraction.map(finiteOrNull), type: "bar", name: "dead", marker: { color: "#8c564b" } });
    }
    if (last) title += `, step ${last.step}`;
    Plotly.react(this.charts[kind], traces, layout(title, Object.assign({ xaxis: { title: { text: "layer" } } }, extra)), PLOT_CONFIG);
  }

  drawBoundary() {
    const el = this.charts.boundary, b = this.extras.boundary, p = this.extras.points;
    el.style.display = b ? "" : "none";
    if (!b) return;
    const traces = [{ type: "heatmap", x: b.x, y: b.y, z: b.label, colorscale: [[0, "#c6dbef"], [1, "#fdd0a2"]], showscale: false, opacity: 0.9, hoverinfo: "skip" }];
    if (p) traces.push({ type: "scatter", mode: "markers", x: p.x, y: p.y, marker: { size: 4, color: p.label, colorscale: [[0, COLORS.W], [1, COLORS.train]] }, name: "training points" });
    Plotly.react(el, traces, layout("decision boundary", { showlegend: false, xaxis: { range: [b.x[0], b.x[b.x.length - 1]] }, yaxis: { range: [b.y[0], b.y[b.y.length - 1]] } }), PLOT_CONFIG);
  }

  drawPhase() {
    const el = this.charts.phase, t = this.theory;
    const d = t && t.phase_diagram, p = t && t.prediction;
    if (!d || !p) {
      Plotly.react(el, [], layout("χ₁ phase diagram: " + ((t && t.reason) || "no prediction for these settings")), PLOT_CONFIG);
      el.dataset.phase = "";
      return;
    }
    const z = d.log10_chi1.map((row) => row.map(finiteOrNull));
    const traces = [
      { type: "heatmap", x: d.sigma_w2, y: d.sigma_b2, z, zmid: 0, zmin: -2, zmax: 2, colorscale: "RdBu", reversescale: true, colorbar: { title: { text: "log10 χ₁", side: "right" }, thickness: 10 }, hovertemplate: "σw² %{x:.3g}, σb² %{y:.3g}: log10 χ₁ %{z:.2f}<extra></extra>" },
      { type: "scatter", mode: "lines+markers", x: d.critical.map((c) => num(c[0])), y: d.critical.map((c) => num(c[1])), name: "critical line χ₁ = 1", line: { color: "#000", dash: "dash" }, marker: { size: 3 } },
      { type: "scatter", mode: "markers", x: [p.sigma_w2], y: [p.sigma_b2], name: "these settings", marker: { size: 13, symbol: "star", color: "#ffd700", line: { color: "#000", width: 1 } } },
    ];
    el.dataset.phase = p.phase; el.dataset.chi1 = p.chi1; el.dataset.sigmaW2 = p.sigma_w2;
    const title = `χ₁ = ${round(num(p.chi1), 3)}: ${p.phase} (${d.activation}); orders lost ≈ ${round(num(p.orders_lost), 3)}`;
    Plotly.react(el, traces, layout(title, { xaxis: { title: { text: "σ_w²" } }, yaxis: { title: { text: "σ_b²" } }, showlegend: false }), PLOT_CONFIG);
  }

  drawDiagnosis() {
    const body = this.root.querySelector(".diag-body"), d = this.extras.diagnosis;
    if (!d) {
      body.innerHTML = "";
      const p = document.createElement("p"); p.className = "muted";
      p.textContent = this.run ? "waiting for the first recorded step…" : "press play: the diagnosis appears as soon as a step is recorded.";
      body.appendChild(p);
      return;
    }
    if (this.diagShown === d) return;  // the same diagnosis object: nothing to redraw
    this.diagShown = d;
    body.innerHTML = "";
    const add = (tag, text, cls) => { const e = document.createElement(tag); e.textContent = text; if (cls) e.className = cls; body.appendChild(e); return e; };
    add("p", `verdict: ${d.verdict}${this.done ? "" : " (live, step " + this.step_ + ")"}`, "verdict " + (d.healthy ? "ok" : "bad"));
    const f = (d.findings || []).find((x) => x.severity !== "info") || (d.findings || [])[0];
    if (f) {
      const dl = document.createElement("dl");
      for (const [k, v] of [["cause", f.cause], ["effect", f.effect], ["reason", f.reason], ["fix", f.fix]]) {
        const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = v;
        dl.appendChild(dt); dl.appendChild(dd);
      }
      body.appendChild(dl);
    } else add("p", d.summary || "no problem found");
    const fixes = (d.fixes || []).filter((x) => x.config);
    fixes.slice(0, 3).forEach((fx, i) => {
      const row = add("div", "", "fix-row");
      const btn = document.createElement("button");
      btn.type = "button"; btn.className = "apply-fix" + (i === 0 ? " primary" : "");
      btn.textContent = `apply fix as run B: ${fx.name}`;
      btn.title = Object.entries(fx.changes).map(([k, v]) => `${k} = ${v}`).join(", ");
      btn.addEventListener("click", () => applyFix(fx));
      row.appendChild(btn);
      const span = document.createElement("span"); span.className = "muted";
      span.textContent = " " + btn.title + (fx.predicted_orders !== null && fx.predicted_orders !== undefined ? ` (theory: ${round(num(fx.predicted_orders), 3)} orders lost)` : "");
      row.appendChild(span);
    });
  }
}

// --- the page -------------------------------------------------------------------------------------------
function applyFix(fix) {
  const B = panels.B;
  B.reset();
  B.setConfig(fix.config);
  saveUrl();
  B.changed();
  B.start(true);
  B.root.scrollIntoView({ behavior: "smooth", block: "start" });
}

function presetByName(name) { return OPTIONS.presets.find((p) => p.name === name); }

function applyPreset(name) {
  const p = presetByName(name) || OPTIONS.presets[0];
  document.getElementById("preset").value = p.name;
  document.getElementById("preset-note").textContent = p.note;
  for (const side of ["A", "B"]) {
    panels[side].reset();
    panels[side].setConfig(Object.assign({}, OPTIONS.defaults, p[side]));
    panels[side].changed();
  }
}

function saveUrl() {
  const q = new URLSearchParams();
  q.set("preset", document.getElementById("preset").value);
  for (const side of ["A", "B"]) {
    const c = panels[side].getConfig();
    for (const f of FIELDS) q.set(`${side}.${f}`, String(c[f]));
  }
  history.replaceState(null, "", "?" + q.toString());
  document.getElementById("link").value = location.href;
}

function loadUrl() {
  const q = new URLSearchParams(location.search);
  applyPreset(q.get("preset") || OPTIONS.default_preset);
  for (const side of ["A", "B"]) {
    const c = {};
    for (const f of FIELDS) if (q.has(`${side}.${f}`)) c[f] = q.get(`${side}.${f}`);
    if (Object.keys(c).length) { panels[side].setConfig(c); panels[side].changed(); }
  }
  saveUrl();
}

async function main() {
  const r = await api("/api/options");
  if (!r.ok) { document.getElementById("server-error").textContent = "the playground server does not answer"; return; }
  OPTIONS = r.data;
  for (const [id, values] of [["inits", OPTIONS.inits], ["bias-inits", OPTIONS.bias_inits]]) {
    const dl = document.getElementById(id);
    for (const v of values) { const o = document.createElement("option"); o.value = v; dl.appendChild(o); }
  }
  const sel = document.getElementById("preset");
  for (const p of OPTIONS.presets) sel.add(new Option(p.label, p.name));
  for (const side of ["A", "B"]) panels[side] = new Panel(side, document.getElementById("panel-" + side));
  sel.addEventListener("change", () => { applyPreset(sel.value); saveUrl(); });
  document.getElementById("play-both").addEventListener("click", () => { panels.A.play(); panels.B.play(); });
  document.getElementById("copy-link").addEventListener("click", async () => {
    saveUrl();
    const link = document.getElementById("link");
    link.select();
    try { await navigator.clipboard.writeText(link.value); } catch (e) { document.execCommand && document.execCommand("copy"); }
  });
  window.addEventListener("pagehide", () => { for (const p of Object.values(panels)) p.stopOnLeave(); });
  loadUrl();
  setInterval(() => { for (const p of Object.values(panels)) if (p.dirty) p.render(); }, UPDATE_MS);
  document.body.dataset.ready = "true";
}

window.playground = { panels, num };
main();
