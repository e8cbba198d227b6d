// fastlayers playground: the page's logic. Keeps the parameters, posts them to the server
// (which validates and trains), listens to the session's event stream and draws each frame:
// the output heatmap with the points, every neuron's thumbnail, the weights, the loss curves.
"use strict";

const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"];
const LABELS = {"x1": "X\u2081", "x2": "X\u2082", "x1^2": "X\u2081\u00B2", "x2^2": "X\u2082\u00B2",
                "x1*x2": "X\u2081X\u2082", "sin(x1)": "sin(X\u2081)", "sin(x2)": "sin(X\u2082)"};
const NEG = [245, 147, 34], MID = [232, 234, 235], POS = [8, 119, 189];
const MAX_LAYERS = 6, MAX_NEURONS = 8;
const $ = (id) => document.getElementById(id);

const pg = window.playground = {
  params: {dataset: "circle", noise: 0.2, train_ratio: 0.5, features: ["x1", "x2"], layers: [4, 2],
           activation: "tanh", learning_rate: "0.03", regularization: "none", reg_rate: "0",
           batch_size: "10", optimizer: "adam", seed: 0},
  sid: null, source: null, playing: false, data: null, frame: null, frames: 0, history: [],
};

// -- talking to the server -------------------------------------------------------------------
async function post(url, body) {
  const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                              body: JSON.stringify(body)});
  let reply;
  try { reply = await r.json(); } catch (e) { reply = {error: `server answered ${r.status}`}; }
  if (!r.ok) { showError(reply.error || `server answered ${r.status}`, reply.field); return null; }
  showError(null);
  return reply;
}

function showError(message, field) {
  const box = $("error");
  document.querySelectorAll(".bad").forEach((el) => el.classList.remove("bad"));
  box.hidden = !message;
  box.textContent = message ? `\u26A0 ${message}` : "";
  if (message && field && $(field)) $(field).classList.add("bad");
}

async function start() {
  const reply = await post("/api/session", pg.params);
  if (!reply) return;
  pg.sid = reply.id;
  const es = pg.source = new EventSource(`/api/session/${pg.sid}/stream`);
  es.addEventListener("data", (ev) => { pg.data = JSON.parse(ev.data); pg.history = []; });
  es.addEventListener("frame", (ev) => { pg.frame = JSON.parse(ev.data); pg.frames++; draw(pg.frame); });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) showError("the connection to the server was lost; reload the page");
  };
}

async function sendParams() {
  renderControls();
  if (!pg.sid) return start();
  const reply = await post(`/api/session/${pg.sid}/params`, pg.params);
  if (reply) pg.history = [];
}

async function control(action) {
  if (!pg.sid) return;
  const reply = await post(`/api/session/${pg.sid}/control`, {action});
  if (reply) { pg.playing = reply.playing; $("play").innerHTML = pg.playing ? "&#x275A;&#x275A;" : "&#x25B6;"; }
  if (reply && action === "reset") pg.history = [];
}

// -- controls --------------------------------------------------------------------------------
function renderControls() {
  const p = pg.params;
  document.querySelectorAll("#datasets button").forEach((b) =>
    b.classList.toggle("on", b.dataset.dataset === p.dataset));
  $("n_layers").textContent = p.layers.length;
  const box = $("layer_controls");
  box.innerHTML = "";
  p.layers.forEach((n, i) => {
    const g = document.createElement("span");
    g.className = "layer";
    g.style.left = `${colX(i + 1, p.layers.length + 2) + NODE / 2}px`;
    g.innerHTML = `<button data-i="${i}" data-d="-1">&minus;</button><button data-i="${i}" data-d="1">+</button>` +
                  `<br>${n} neuron${n === 1 ? "" : "s"}`;
    box.appendChild(g);
  });
  $("features").innerHTML = FEATURES.map((f) =>
    `<label><input type="checkbox" value="${f}"${p.features.includes(f) ? " checked" : ""}> ${LABELS[f]}</label>`
  ).join("");
  $("noise_v").textContent = p.noise;
  $("train_ratio_v").textContent = `${Math.round(p.train_ratio * 100)}%`;
}

function wire() {
  $("play").onclick = () => control(pg.playing ? "pause" : "play");
  $("step").onclick = () => control("step");
  $("reset").onclick = () => control("reset");
  $("regen").onclick = () => { pg.params.seed += 1; sendParams(); };
  document.querySelectorAll("#datasets button").forEach((b) => {
    b.onclick = () => { pg.params.dataset = b.dataset.dataset; sendParams(); };
  });
  for (const id of ["learning_rate", "reg_rate", "batch_size", "activation", "regularization", "optimizer"]) {
    $(id).onchange = () => { pg.params[id] = $(id).value; sendParams(); };
  }
  for (const id of ["noise", "train_ratio"]) {
    $(id).onchange = () => { pg.params[id] = Number($(id).value); sendParams(); };
  }
  $("add_layer").onclick = () => {  // the server refuses a seventh layer with a message
    pg.params.layers = pg.params.layers.concat([pg.params.layers.length ? pg.params.layers.at(-1) : 2]);
    sendParams().then(() => { if (pg.params.layers.length > MAX_LAYERS) pg.params.layers.pop(); renderControls(); });
  };
  $("remove_layer").onclick = () => { if (pg.params.layers.length) { pg.params.layers.pop(); sendParams(); } };
  $("layer_controls").onclick = (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    const i = Number(b.dataset.i), n = pg.params.layers[i] + Number(b.dataset.d);
    if (n >= 1 && n <= MAX_NEURONS) { pg.params.layers[i] = n; sendParams(); }
  };
  $("features").onchange = () => {
    pg.params.features = [...document.querySelectorAll("#features input:checked")].map((c) => c.value);
    sendParams();
  };
}

// -- drawing ---------------------------------------------------------------------------------
function color(t) {  // t in [0, 1]: orange (0) -> light grey (0.5) -> blue (1)
  const [a, b, u] = t < 0.5 ? [NEG, MID, t * 2] : [MID, POS, t * 2 - 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * u));
}

function mapCanvas(b64, grid) {  // a grid x grid canvas of a base64 uint8 map
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const c = document.createElement("canvas");
  c.width = c.height = grid;
  const ctx = c.getContext("2d"), img = ctx.createImageData(grid, grid);
  bytes.forEach((v, i) => { const [r, g, b] = color(v / 255); img.data.set([r, g, b, 255], i * 4); });
  ctx.putImageData(img, 0, 0);
  return c;
}

function drawHeatmap(frame) {
  const cv = $("heatmap"), ctx = cv.getContext("2d"), W = cv.width;
  ctx.drawImage(mapCanvas(frame.output, frame.grid), 0, 0, W, W);
  if (!pg.data) return;
  const ext = pg.data.extent, px = (v) => (v + ext) / (2 * ext) * W, py = (v) => (ext - v) / (2 * ext) * W;
  for (const [set, square] of [[pg.data.train, false], [pg.data.test, true]]) {
    set.x.forEach(([x1, x2], i) => {
      ctx.fillStyle = `rgb(${(set.y[i] ? POS : NEG).join(",")})`;
      ctx.strokeStyle = square ? "#000" : "#fff";
      ctx.beginPath();
      if (square) ctx.rect(px(x1) - 2.5, py(x2) - 2.5, 5, 5); else ctx.arc(px(x1), py(x2), 2.5, 0, 2 * Math.PI);
      ctx.fill(); ctx.stroke();
    });
  }
}

function drawCurve() {
  const cv = $("curve"), ctx = cv.getContext("2d"), H = cv.height, W = cv.width, h = pg.history;
  ctx.clearRect(0, 0, W, H);
  if (h.length < 2) return;
  const top = Math.max(...h.map((r) => Math.max(r[1], r[2]))) || 1, last = h.at(-1)[0] || 1;
  [[1, "#999"], [2, "#222"]].forEach(([k, c]) => {
    ctx.strokeStyle = c; ctx.beginPath();
    h.forEach((r, i) => {
      const x = r[0] / last * W, y = H - r[k] / top * (H - 4) - 2;
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  });
}

const NODE = 38;
function colX(c, ncols) {  // the left edge of column c of ncols (inputs, hidden layers, output)
  return 50 + c * ($("network").width - 60 - NODE) / Math.max(1, ncols - 1);
}

function drawNetwork(frame) {
  const cv = $("network"), ctx = cv.getContext("2d"), S = NODE, GAP = 12;
  ctx.clearRect(0, 0, cv.width, cv.height);
  const cols = frame.layers.concat([1]);  // inputs, hidden layers, the output node
  const x = (c) => colX(c, cols.length);
  const y = (i) => 14 + i * (S + GAP);
  frame.weights.forEach((w, l) => {  // w: out x in; the output's two logits as their difference
    const rows = l === frame.weights.length - 1 ? [w[1].map((v, j) => v - w[0][j])] : w;
    const scale = Math.max(1e-6, ...rows.flat().map(Math.abs));
    rows.forEach((row, o) => row.forEach((v, i) => {
      ctx.strokeStyle = `rgb(${color(v > 0 ? 1 : 0).join(",")})`;
      ctx.lineWidth = 0.3 + 4 * Math.abs(v) / scale;
      ctx.beginPath(); ctx.moveTo(x(l) + S, y(i) + S / 2); ctx.lineTo(x(l + 1), y(o) + S / 2); ctx.stroke();
    }));
  });
  let k = 0;
  cols.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      const map = c === cols.length - 1 ? frame.output : frame.neurons[k++];
      ctx.drawImage(mapCanvas(map, frame.grid), x(c), y(i), S, S);
      ctx.strokeStyle = "#444"; ctx.lineWidth = 1; ctx.strokeRect(x(c), y(i), S, S);
      if (c === 0) {
        ctx.fillStyle = "#333"; ctx.textAlign = "right";
        ctx.fillText(LABELS[pg.params.features[i]] || "", x(0) - 4, y(i) + S / 2 + 4);
      }
    }
  });
}

function draw(frame) {
  $("epoch").textContent = String(frame.epoch).padStart(6, "0");
  const fmt = (v) => (v < 0 ? "diverged" : v.toFixed(3));
  $("train_loss").textContent = fmt(frame.train_loss);
  $("test_loss").textContent = fmt(frame.test_loss);
  if (!pg.history.length || frame.epoch > pg.history.at(-1)[0]) {
    pg.history.push([frame.epoch, frame.train_loss, frame.test_loss]);
  }
  drawHeatmap(frame);
  drawCurve();
  drawNetwork(frame);
}

wire();
renderControls();
start();
