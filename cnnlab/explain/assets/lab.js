// cnnlab explain lab: recompute conv -> ReLU -> pool in the page from the controls.
// Shapes: a matrix is an array of rows; an input or a filter is an array of channels
// (C, H, W), written with '|' between channels; a stage holds one (OH, OW) map per filter
// (per channel when there is no convolution).
"use strict";
(function () {
  const S = JSON.parse(document.getElementById("state").textContent);
  const $ = (id) => document.getElementById(id);
  let current = null; // the last computation, read by the hover explanations

  // ------------------------------------------------------------ numbers as cnnlab prints them
  function fmt(v, d) {
    let t = Number(v).toFixed(d === undefined ? S.decimals : d);
    if (t.includes(".")) t = t.replace(/0+$/, "").replace(/\.$/, "");
    return t === "-0" || t === "" ? "0" : t;
  }
  const factor = (v) => (fmt(v).startsWith("-") ? "(" + fmt(v) + ")" : fmt(v));

  function parseNumber(tok, where) {
    const parts = tok.split("/");
    const ok = parts.length <= 2 && parts.every((p) => /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(p));
    const v = ok ? (parts.length === 2 ? Number(parts[0]) / Number(parts[1]) : Number(parts[0])) : NaN;
    if (!isFinite(v)) throw new Error(`${where}: '${tok}' is not a number; write numbers like 3, -0.5 or 1/9`);
    return v;
  }
  function parseMatrix(text, what) {
    const rows = text.split(/[;\n]/).map((r) => r.trim()).filter((r) => r);
    if (!rows.length) throw new Error(`${what} has no numbers; write rows separated by ';' and values by spaces, e.g. 1 2; 3 4`);
    const m = rows.map((r, i) => r.split(/[\s,]+/).filter((t) => t).map((t) => parseNumber(t, `${what} row ${i + 1}`)));
    if (new Set(m.map((r) => r.length)).size > 1)
      throw new Error(`${what}: rows have different lengths (${m.map((r) => r.length).join(", ")} values); give every row the same number`);
    if (m.length > 32 || m[0].length > 32) throw new Error(`${what} is ${m.length}x${m[0].length}; the page draws grids up to 32x32`);
    return m;
  }
  function parseChannels(text, what) {
    const parts = text.split("|");
    const chans = parts.map((t, n) => parseMatrix(t, parts.length > 1 ? `${what} channel ${n + 1}` : what));
    if (chans.some((m) => m.length !== chans[0].length || m[0].length !== chans[0][0].length))
      throw new Error(`${what}: channels have different sizes; give every channel between '|' the same rows and columns`);
    return chans;
  }
  const textOf = (m) => m.map((r) => r.map((v) => fmt(v, 6)).join(" ")).join("\n");
  const channelsText = (chans) => chans.map(textOf).join("\n|\n");

  // ------------------------------------------------------------ the arithmetic (as cnnlab.explain.conv / pool)
  function samePads(size, k, s) {
    const total = Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  }
  function pads(p, H, W, FH, FW, s) {
    if (p === "valid") return { t: 0, b: 0, l: 0, r: 0 };
    if (p === "same") { const [t, b] = samePads(H, FH, s), [l, r] = samePads(W, FW, s); return { t, b, l, r }; }
    return { t: p, b: p, l: p, r: p };
  }
  function padded(x, p) {
    const W = x[0].length + p.l + p.r, zeros = () => new Array(W).fill(0);
    const rows = x.map((r) => new Array(p.l).fill(0).concat(r, new Array(p.r).fill(0)));
    return Array.from({ length: p.t }, zeros).concat(rows, Array.from({ length: p.b }, zeros));
  }
  // one channel's multiply-and-sum at output (i, j), before the scale
  function part(xp, k, s, i, j) {
    let sum = 0;
    for (let a = 0; a < k.length; a++) for (let b = 0; b < k[0].length; b++) sum += xp[i * s + a][j * s + b] * k[a][b];
    return sum;
  }
  // xp: padded channels (C, PH, PW); k: filter channels (C, FH, FW) -> one (OH, OW) map
  function convolve(xp, k, s, scale, bias) {
    const FH = k[0].length, FW = k[0][0].length;
    const OH = Math.floor((xp[0].length - FH) / s) + 1, OW = Math.floor((xp[0][0].length - FW) / s) + 1;
    return Array.from({ length: OH }, (_, i) => Array.from({ length: OW }, (_, j) => {
      let sum = 0;
      for (let ch = 0; ch < k.length; ch++) for (let a = 0; a < FH; a++) for (let b = 0; b < FW; b++) sum += xp[ch][i * s + a][j * s + b] * k[ch][a][b] * scale;
      return sum + bias;
    }));
  }
  const REDUCE = { max: (v) => Math.max(...v), min: (v) => Math.min(...v), average: (v) => v.reduce((a, b) => a + b, 0) / v.length };
  function windowValues(m, i, j, fh, fw, s) {
    const out = [];
    for (let a = 0; a < fh; a++) for (let b = 0; b < fw; b++) out.push(m[i * s + a][j * s + b]);
    return out;
  }
  function pool(m, size, s, kind) {
    const OH = Math.floor((m.length - size) / s) + 1, OW = Math.floor((m[0].length - size) / s) + 1;
    return Array.from({ length: OH }, (_, i) => Array.from({ length: OW }, (_, j) => REDUCE[kind](windowValues(m, i, j, size, size, s))));
  }

  // ------------------------------------------------------------ the size rule, filled in
  function ruleLine(axis, size, p0, p1, k, s) {
    const [big, f] = axis === "height" ? ["H", "FH"] : ["W", "FW"];
    const top = size + p0 + p1 - k, out = Math.floor(top / s) + 1;
    const pad = p0 === p1 ? `2·${p0}` : `${p0} + ${p1}`;
    const rule = p0 === p1 ? `O${big} = (${big} + 2P − ${f})/S + 1` : `O${big} = (${big} + P_before + P_after − ${f})/S + 1`;
    let line = `${axis}: ${rule} = (${size} + ${pad} − ${k})/${s} + 1 = `;
    line += top % s ? `floor(${top}/${s}) + 1 = ${out}` : `${top / s} + 1 = ${out}`;
    if (top % s) line += ` — ${top}/${s} is not whole, so the last ${top % s} ${axis === "height" ? "row" : "column"}(s) of the padded input are never read`;
    return line;
  }

  // ------------------------------------------------------------ read the controls, compute every stage
  function readControls() {
    const mode = $("padmode").value;
    return {
      input: $("input").value, conv: $("conv").checked, stride: Number($("stride").value),
      padding: mode === "n" ? Number($("padn").value) : mode, relu: $("relu").checked,
      pool: { on: $("pool").checked, kind: $("pkind").value, size: Number($("psize").value), stride: Number($("pstride").value) },
      filters: [...document.querySelectorAll(".filter")].map((el) => ({
        name: el.dataset.name, text: el.querySelector("textarea").value, scale: el.querySelector(".scale").value,
        bias: Number(el.querySelector(".bias").value) || 0 })),
    };
  }

  function compute(st, c) {  // fills c as it goes: the rule lines survive an error
    c.x = parseChannels(st.input, "input");
    const C = c.x.length, H = c.x[0].length, W = c.x[0][0].length;
    if (C > 4) throw new Error(`The input has ${C} channels; the page draws up to 4.`);
    let maps = c.x;  // no convolution: ReLU and pooling work on each channel
    if (st.conv) {
      if (!st.filters.length) throw new Error("Add a filter (+ filter), or untick Convolution.");
      c.k = st.filters.map((f, n) => parseChannels(f.text, `filter ${n + 1}`));
      c.scale = st.filters.map((f, n) => parseNumber(String(f.scale).trim() || "1", `filter ${n + 1} scale`));
      c.k.forEach((k, n) => { if (k.length !== C) throw new Error(`The input has ${C} channel(s) but filter ${n + 1} has ${k.length}; give the filter ${C} slice(s) separated by '|' (one per input channel).`); });
      const FH = c.k[0][0].length, FW = c.k[0][0][0].length;
      if (c.k.some((k) => k[0].length !== FH || k[0][0].length !== FW)) throw new Error("All filters of a layer have the same size; set Filter size or edit them to match.");
      if (!(st.stride >= 1)) throw new Error("The stride must be at least 1: the window has to move.");
      if (st.padding !== "valid" && st.padding !== "same" && !(Number.isInteger(st.padding) && st.padding >= 0)) throw new Error("Padding N must be a whole number of zero rings, 0 or more.");
      c.p = pads(st.padding, H, W, FH, FW, st.stride);
      c.xp = c.x.map((m) => padded(m, c.p));
      const PH = c.xp[0].length, PW = c.xp[0][0].length;
      c.rule.push(`input ${H}×${W}${C > 1 ? "×" + C : ""}, filter ${FH}×${FW}${C > 1 ? "×" + C : ""}, stride S = ${st.stride}, padding ${st.padding === "valid" ? "valid (P = 0)" : st.padding === "same" ? "same" : "P = " + st.padding}`);
      if (st.padding === "same") c.rule.push(`'same' asks for ceil(${H}/${st.stride})×ceil(${W}/${st.stride}) = ${Math.ceil(H / st.stride)}×${Math.ceil(W / st.stride)} outputs: ${c.p.t}+${c.p.b} zero rows, ${c.p.l}+${c.p.r} zero columns (an odd extra one goes bottom/right, as in Keras)`);
      if (FH > PH || FW > PW) {
        c.rule.push(ruleLine("height", H, c.p.t, c.p.b, FH, st.stride));
        throw new Error(`The ${FH}×${FW} filter is larger than the ${PH}×${PW} padded input: (H + 2P − FH) is negative, so there is no position for the window. Use a smaller filter, more padding or a bigger input.`);
      }
      c.rule.push(ruleLine("height", H, c.p.t, c.p.b, FH, st.stride), ruleLine("width", W, c.p.l, c.p.r, FW, st.stride));
      c.maps = c.k.map((k, n) => convolve(c.xp, k, st.stride, c.scale[n], st.filters[n].bias));
      const oh = c.maps[0].length, ow = c.maps[0][0].length, nf = c.k.length;
      c.rule.push(`${nf} filter(s) of ${FH}×${FW}×${C} → ${nf} map(s) of ${oh}×${ow}: the layer's output is ${oh}×${ow}×${nf} (depth = number of filters), with ${FH}·${FW}·${C}·${nf} + ${nf} = ${FH * FW * C * nf + nf} weights and biases`);
      maps = c.maps;
    }
    if (st.relu) { c.relu = maps.map((m) => m.map((r) => r.map((v) => Math.max(0, v)))); maps = c.relu; }
    if (st.pool.on) {
      const { size, stride, kind } = st.pool, h = maps[0].length, w = maps[0][0].length;
      if (!(size >= 1 && stride >= 1)) throw new Error("The pooling window and its stride must be at least 1.");
      if (size > h || size > w) throw new Error(`The ${size}×${size} pooling window is larger than the ${h}×${w} map it slides over; use a smaller window.`);
      c.pooled = maps.map((m) => pool(m, size, stride, kind));
      c.rule.push(`pooling: (${h} − ${size})/${stride} + 1 = ${c.pooled[0].length} rows, (${w} − ${size})/${stride} + 1 = ${c.pooled[0][0].length} columns (no padding, no weights)`);
    }
    return c;
  }

  // ------------------------------------------------------------ drawing
  function grid(m, kind, n, label, mark, ch) {
    const box = document.createElement("figure");
    box.className = "stage";
    const cap = document.createElement("figcaption");
    cap.textContent = label;
    const g = document.createElement("div");
    g.className = "grid";
    g.dataset.kind = kind; g.dataset.f = n; g.dataset.c = ch || 0; g.dataset.rows = m.length; g.dataset.cols = m[0].length;
    g.style.gridTemplateColumns = `repeat(${m[0].length}, var(--cell))`;
    const top = Math.max(1e-12, ...m.flat().map(Math.abs));
    m.forEach((row, i) => row.forEach((v, j) => {
      const cell = document.createElement("span");
      cell.className = "cell" + (mark && mark(i, j) ? " pad" : "");
      cell.tabIndex = 0;
      cell.dataset.i = i; cell.dataset.j = j; cell.dataset.value = v;
      cell.textContent = fmt(v);
      const a = Math.min(1, Math.abs(v) / top);
      cell.style.background = v >= 0 ? `rgba(214, 96, 77, ${0.65 * a})` : `rgba(67, 147, 195, ${0.65 * a})`;
      g.appendChild(cell);
    }));
    const scroll = document.createElement("div");
    scroll.className = "scroll";
    scroll.appendChild(g);
    box.append(cap, scroll);
    return box;
  }

  function draw(c) {
    const out = $("stages");
    out.textContent = "";
    const st = c.st;
    const inRow = document.createElement("div");
    inRow.className = "row";
    const C = c.x.length, H = c.x[0].length, W = c.x[0][0].length, chName = (ch) => (C > 1 ? ` channel ${ch + 1}` : "");
    c.x.forEach((m, ch) => {
      if (st.conv) {
        const p = c.p, xp = c.xp[ch];
        inRow.appendChild(grid(xp, "in", 0, `input${chName(ch)} ${H}×${W}` + (xp.length !== H || xp[0].length !== W ? `, padded to ${xp.length}×${xp[0].length} (grey: zeros)` : ""),
          (i, j) => i < p.t || i >= p.t + H || j < p.l || j >= p.l + W, ch));
      } else inRow.appendChild(grid(m, "in", 0, `input${chName(ch)} ${H}×${W}`, null, ch));
    });
    out.appendChild(inRow);
    const n = st.conv ? c.maps.length : C;
    for (let f = 0; f < n; f++) {
      const row = document.createElement("div");
      row.className = "row";
      if (st.conv) {
        const fl = st.filters[f], scale = String(fl.scale).trim();
        c.k[f].forEach((k, ch) => row.appendChild(grid(k, "k", f, `filter ${f + 1}${fl.name ? " (" + fl.name + ")" : ""}${chName(ch)}` + (scale && scale !== "1" ? ` × ${scale}` : "") + (fl.bias && ch === C - 1 ? `, bias ${fmt(fl.bias)}` : ""), null, ch)));
        row.appendChild(grid(c.maps[f], "map", f, `map ${f + 1}: ${c.maps[f].length}×${c.maps[f][0].length}`));
      }
      if (c.relu) row.appendChild(grid(c.relu[f], "relu", f, `after ReLU` + (st.conv ? "" : chName(f))));
      if (c.pooled) row.appendChild(grid(c.pooled[f], "pool", f, `${st.pool.kind} pool ${st.pool.size}×${st.pool.size}, stride ${st.pool.stride}: ${c.pooled[f].length}×${c.pooled[f][0].length}`));
      out.appendChild(row);
    }
  }

  // ------------------------------------------------------------ hover, tap or focus: how a cell is made
  function mark(kind, f, cells, ch) {
    const g = document.querySelector(`.grid[data-kind="${kind}"][data-f="${f}"][data-c="${ch || 0}"]`);
    if (!g) return;
    const cols = Number(g.dataset.cols);
    cells.forEach(([i, j]) => g.children[i * cols + j] && g.children[i * cols + j].classList.add("hot"));
  }
  function explain(cell) {
    const g = cell.parentElement, kind = g.dataset.kind, f = Number(g.dataset.f);
    const i = Number(cell.dataset.i), j = Number(cell.dataset.j), c = current, st = c.st;
    document.querySelectorAll(".hot").forEach((el) => el.classList.remove("hot"));
    cell.classList.add("hot");
    const why = $("why");
    const result = (v) => `<b class="result" data-value="${v}">${fmt(v)}</b>`;
    const block = (fh, fw, s) => { const cells = []; for (let a = 0; a < fh; a++) for (let b = 0; b < fw; b++) cells.push([i * s + a, j * s + b]); return cells; };
    if (kind === "map") {
      const C = c.x.length, FH = c.k[f][0].length, FW = c.k[f][0][0].length, win = block(FH, FW, st.stride);
      const lines = c.k[f].map((k, ch) => {
        mark("in", 0, win, ch);
        mark("k", f, k.flatMap((r, a) => r.map((_, b) => [a, b])), ch);
        const terms = win.map(([a, b], n) => `${factor(c.xp[ch][a][b])}×${factor(k[Math.floor(n / FW)][n % FW])}`).join(" + ");
        return { terms, sum: part(c.xp[ch], k, st.stride, i, j) };
      });
      const raw = lines.reduce((acc, l) => acc + l.sum, 0);
      const scale = String(st.filters[f].scale).trim(), bias = st.filters[f].bias;
      let text = C > 1 ? lines.map((l, ch) => `channel ${ch + 1}: ${l.terms} = ${fmt(l.sum)}`).join("; ") + `; channels together: ${lines.map((l) => factor(l.sum)).join(" + ")}` : lines[0].terms;
      if (scale && scale !== "1") text = `${scale} × (${text}) = ${scale} × ${fmt(raw)}`;
      else if (bias || C > 1) text += ` = ${fmt(raw)}`;
      if (bias) text += ` + bias ${fmt(bias)}`;
      why.innerHTML = `<span class="label">map ${f + 1}, out[${i},${j}]</span>: window rows ${i * st.stride}–${i * st.stride + FH - 1}, columns ${j * st.stride}–${j * st.stride + FW - 1} of the padded input, times the filter, summed: <span class="sum"></span> = ${result(c.maps[f][i][j])}`;
      why.querySelector(".sum").textContent = text;
    } else if (kind === "relu") {
      const before = st.conv ? c.maps[f][i][j] : c.x[f][i][j];
      if (st.conv) mark("map", f, [[i, j]]); else mark("in", 0, [[i, j]], f);
      why.innerHTML = `<span class="label">after ReLU [${i},${j}]</span>: max(0, ${fmt(before)}) = ${result(c.relu[f][i][j])}` + (before < 0 ? " — negative, so it becomes 0" : " — passes unchanged");
    } else if (kind === "pool") {
      const src = c.relu ? "relu" : st.conv ? "map" : "in", m = c.relu ? c.relu[f] : st.conv ? c.maps[f] : c.x[f];
      const p = st.pool, win = block(p.size, p.size, p.stride);
      if (src === "in") mark("in", 0, win, f); else mark(src, f, win);
      why.innerHTML = `<span class="label">${p.kind} pool [${i},${j}]</span>: ${p.kind} of {${win.map(([a, b]) => fmt(m[a][b])).join(", ")}} = ${result(c.pooled[f][i][j])}`;
    } else {
      const ch = c.x.length > 1 ? ` channel ${Number(g.dataset.c) + 1}` : "";
      why.innerHTML = `<span class="label">${kind === "k" ? `filter ${f + 1}` : "input"}${ch} [${i},${j}]</span> = ${result(Number(cell.dataset.value))}` + (cell.classList.contains("pad") ? " (a padding zero)" : "");
    }
  }
  for (const ev of ["mouseover", "focusin", "click"]) {
    $("stages").addEventListener(ev, (e) => { if (e.target.classList && e.target.classList.contains("cell")) explain(e.target); });
  }

  // ------------------------------------------------------------ controls
  function filterCard(fl) {
    const el = document.createElement("div");
    el.className = "filter";
    el.dataset.name = fl.name || "";
    el.innerHTML = `<label>Filter <span class="n"></span> <textarea rows="3" spellcheck="false"></textarea></label>
      <label>× <input class="scale" size="5" aria-label="scale"></label> <label>bias <input class="bias" type="number" step="any" aria-label="bias"></label>
      <button type="button" class="remove">remove</button>`;
    el.querySelector("textarea").value = fl.text;
    el.querySelector("textarea").rows = Math.min(12, Math.max(3, fl.text.split("\n").length));
    el.querySelector(".scale").value = fl.scale;
    el.querySelector(".bias").value = fl.bias || 0;
    el.querySelector(".remove").addEventListener("click", () => { el.remove(); numberFilters(); update(); });
    return el;
  }
  function numberFilters() { document.querySelectorAll(".filter .n").forEach((el, n) => (el.textContent = n + 1)); }
  function load(st) {
    $("input").value = st.input;
    $("input").rows = Math.min(12, st.input.split("\n").length + 1);
    $("conv").checked = st.conv; $("relu").checked = st.relu; $("pool").checked = st.pool.on;
    $("stride").value = st.stride;
    $("padmode").value = typeof st.padding === "number" ? "n" : st.padding;
    $("padn").value = typeof st.padding === "number" ? st.padding : 1;
    $("pkind").value = st.pool.kind; $("psize").value = st.pool.size; $("pstride").value = st.pool.stride;
    $("filters").textContent = "";
    st.filters.forEach((fl) => $("filters").appendChild(filterCard(fl)));
    numberFilters();
    try { const k = parseChannels(st.filters[0].text, "filter"); $("ksize").value = k[0].length; } catch (e) { $("ksize").value = 3; }
  }
  function resizeFilters() {
    const n = Number($("ksize").value);
    if (!(n >= 1 && n <= 9)) return;
    document.querySelectorAll(".filter textarea").forEach((t) => {
      let k; try { k = parseChannels(t.value, "filter"); } catch (e) { k = [[[0]]]; }
      t.value = channelsText(k.map((m) => Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => (m[a] && m[a][b] !== undefined ? m[a][b] : 0)))));
    });
  }
  function update() {
    $("stride-out").textContent = $("stride").value;
    $("padn").disabled = $("padmode").value !== "n";
    const rule = $("rule");
    rule.textContent = "";
    const c = { st: readControls(), rule: [] };
    const say = (line) => { const p = document.createElement("p"); p.textContent = line; rule.appendChild(p); return p; };
    try {
      current = compute(c.st, c);
      c.rule.forEach(say);
      draw(current);
      saveLink(c.st);
    } catch (err) {
      c.rule.forEach(say);
      const p = document.createElement("p");
      p.className = "invalid";
      p.textContent = "Not drawn: " + err.message;
      rule.appendChild(p);
      $("stages").textContent = "";
      current = null;
    }
  }

  // the whole experiment in the page's address (#...): copy it to share or bookmark it
  function saveLink(st) {
    try { history.replaceState(null, "", "#" + encodeURIComponent(JSON.stringify(st))); } catch (e) { /* the page works without it */ }
  }
  function fromLink() {
    if (location.hash.length < 2) return null;
    try {
      const st = JSON.parse(decodeURIComponent(location.hash.slice(1)));
      return typeof st.input === "string" && Array.isArray(st.filters) && st.pool ? st : null;
    } catch (e) { return null; }
  }

  // the first computation must equal what cnnlab.explain's NumPy code gave
  function agrees(a, b) { return a.length === b.length && a.every((m, n) => m.length === b[n].length && m.every((r, i) => r.length === b[n][i].length && r.every((v, j) => Math.abs(v - b[n][i][j]) <= 1e-9 * Math.max(1, Math.abs(v))))); }
  function checkAgainstNumpy() {
    const c = current, np = S.numpy;
    const ok = c && agrees(c.maps || c.x, np.maps) && (!np.relu.length || agrees(c.relu, np.relu)) && (!np.pooled.length || agrees(c.pooled, np.pooled));
    $("check").textContent = ok ? "The page's numbers equal cnnlab.explain's NumPy results for the starting matrices (checked on load)." : "Warning: the page's numbers differ from cnnlab.explain's NumPy results.";
    if (!ok) console.error("cnnlab lab page: JavaScript and NumPy results differ");
  }

  const names = Object.keys(S.presets);
  $("preset").innerHTML = "<option value=''>your numbers (as started)</option>";
  names.forEach((name) => { const o = document.createElement("option"); o.value = name; o.textContent = name; $("preset").appendChild(o); });
  $("preset").addEventListener("change", () => { load($("preset").value ? S.presets[$("preset").value] : S); update(); });
  $("addf").addEventListener("click", () => {
    const n = Number($("ksize").value) || 3;
    let C = 1; try { C = parseChannels($("input").value, "input").length; } catch (e) { /* one channel */ }
    $("filters").appendChild(filterCard({ name: "", text: channelsText(Array.from({ length: C }, () => Array.from({ length: n }, () => new Array(n).fill(0)))), scale: "1", bias: 0 }));
    numberFilters(); update();
  });
  $("ksize").addEventListener("change", () => { resizeFilters(); update(); });
  $("controls").addEventListener("input", (e) => { if (e.target.id !== "ksize" && e.target.id !== "preset") update(); });
  const linked = fromLink();
  load(S);
  update();
  checkAgainstNumpy();
  if (linked) {
    load(linked);
    update();
    $("check").textContent = "Settings from the page's link (#...). " + $("check").textContent;
  }
})();
