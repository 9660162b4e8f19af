// cnnlab explain network: the overview of every layer's maps, and one map in detail.
// Numbers arrive as base64 float32: maps (h, w, shown) and kernels (kh, kw, in, shown), C order.
"use strict";
(function () {
  const S = JSON.parse(document.getElementById("state").textContent);
  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...kids) => { const e = Object.assign(document.createElement(tag), props || {}); e.append(...kids); return e; };
  const fmt = (v, d = 3) => { let t = Number(v).toFixed(d); if (t.includes(".")) t = t.replace(/0+$/, "").replace(/\.$/, ""); return t === "-0" ? "0" : t; };
  const factor = (v) => (fmt(v).startsWith("-") ? `(${fmt(v)})` : fmt(v));
  function f32(b64) { const s = atob(b64), u = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Float32Array(u.buffer); }
  const cache = new Map();
  const numbers = (L) => { if (!S.layers[L].numbers) return null; if (!cache.has(L)) cache.set(L, f32(S.layers[L].numbers)); return cache.get(L); };
  // one channel of a layer as rows: get(i, j)
  function channel(L, c) {
    const a = numbers(L), [h, w] = S.layers[L].shape, n = S.layers[L].shown;
    return a && c < n ? { h, w, get: (i, j) => a[(i * w + j) * n + c] } : null;
  }

  // ------------------------------------------------------------ overview
  function overview() {
    const box = $("overview");
    box.append(el("h2", { textContent: "The image" }),
      el("figure", {}, el("img", { src: S.image.png, alt: S.image.caption, className: "input" }),
        el("figcaption", { textContent: `${S.image.caption} (${S.image.shape.join("×")}), as the model takes it` })));
    if (S.dense_only) {
      box.append(el("p", { className: "note", textContent: "This model has no convolution layer (a dense network, an MLP): every unit of its first Dense layer has one weight per pixel of the flattened image, so there are no filters and no feature maps to show. Only its class probabilities are below. Train a CNN (configs/fashion.yaml) and open its page to compare." + (S.first_dense ? ` First layer ${S.first_dense}.` : "") }));
    }
    if (S.layers_with_maps > S.layers.length)
      box.append(el("p", { className: "note", textContent: `${S.layers.length} of the ${S.layers_with_maps} layers with feature maps are shown (the conv and pooling ones, evenly spaced).` }));
    if (S.layers.length) box.append(el("p", { className: "muted", textContent: "Each square is one feature map (dark = low, light = high, each map on its own scale). Click or press Enter on a map to see its filter, the input it convolved and its numbers." }));
    S.layers.forEach((ly, L) => {
      const [h, w, k] = ly.shape;
      const head = el("h2", { textContent: `${ly.path} — ${ly.type}, ${h}×${w}×${k}` });
      const note = el("p", { className: "muted", textContent: ly.shown < k ? `${ly.shown} of ${k} maps shown (at most ${S.max_maps} per layer).` : `all ${k} maps` + (ly.conv ? ` — one per filter` : "") });
      const maps = el("div", { className: "maps" });
      maps.dataset.layer = L;
      ly.pngs.forEach((src, c) => {
        const img = el("img", { src, alt: `${ly.path} map ${c}`, title: `map ${c}`, tabIndex: 0 });
        img.dataset.layer = L; img.dataset.map = c;
        maps.append(img);
      });
      box.append(el("section", { className: "layer" }, head, note, maps));
    });
    box.addEventListener("click", (e) => { if (e.target.dataset && e.target.dataset.map !== undefined) detail(Number(e.target.dataset.layer), Number(e.target.dataset.map)); });
    box.addEventListener("keydown", (e) => { if ((e.key === "Enter" || e.key === " ") && e.target.dataset.map !== undefined) { e.preventDefault(); detail(Number(e.target.dataset.layer), Number(e.target.dataset.map)); } });
  }

  // ------------------------------------------------------------ a grid on a canvas, with a cursor
  function canvasGrid(g, label, onCell, diverging) {
    const px = Math.max(4, Math.min(24, Math.floor(300 / Math.max(g.h, g.w))));
    const cv = el("canvas", { width: g.w * px, height: g.h * px, tabIndex: 0 });
    cv.setAttribute("aria-label", label);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < g.h; i++) for (let j = 0; j < g.w; j++) { const v = g.get(i, j); lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const top = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const ctx = cv.getContext("2d");
    const paint = (marks) => {
      for (let i = 0; i < g.h; i++) for (let j = 0; j < g.w; j++) {
        const v = g.get(i, j);
        if (diverging) { const a = Math.min(1, Math.abs(v) / top); ctx.fillStyle = v >= 0 ? `rgba(214,96,77,${a})` : `rgba(67,147,195,${a})`; ctx.clearRect(j * px, i * px, px, px); }
        else { const t = hi > lo ? Math.round(((v - lo) / (hi - lo)) * 255) : 128; ctx.fillStyle = `rgb(${t},${t},${t})`; }
        ctx.fillRect(j * px, i * px, px, px);
      }
      ctx.lineWidth = 2;
      (marks || []).forEach(([i, j, fh, fw, color]) => { ctx.strokeStyle = color; ctx.strokeRect(j * px + 1, i * px + 1, fw * px - 2, fh * px - 2); });
    };
    paint();
    let cur = [0, 0];
    const go = (i, j) => { cur = [Math.max(0, Math.min(g.h - 1, i)), Math.max(0, Math.min(g.w - 1, j))]; onCell(cur[0], cur[1]); };
    cv.addEventListener("mousemove", (e) => go(Math.floor(e.offsetY / px), Math.floor(e.offsetX / px)));
    cv.addEventListener("click", (e) => go(Math.floor(e.offsetY / px), Math.floor(e.offsetX / px)));
    cv.addEventListener("focus", () => go(cur[0], cur[1]));
    cv.addEventListener("keydown", (e) => {
      const step = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
      if (step) { e.preventDefault(); go(cur[0] + step[0], cur[1] + step[1]); }
    });
    return { canvas: cv, paint, box: el("figure", {}, el("div", { className: "scroll" }, cv), el("figcaption", { textContent: label })) };
  }
  function table(rows, cls) {
    return el("table", { className: cls || "" }, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", { textContent: typeof v === "number" ? fmt(v) : v })))));
  }

  // ------------------------------------------------------------ one map in detail
  const ACT = { relu: (v) => Math.max(0, v), linear: (v) => v };
  function samePad(size, k, s) { return Math.floor(Math.max((Math.ceil(size / s) - 1) * s + k - size, 0) / 2); }

  function detail(L, c) {
    const ly = S.layers[L], box = $("detail");
    box.textContent = "";
    document.querySelectorAll(".maps img.chosen").forEach((e) => e.classList.remove("chosen"));
    document.querySelector(`.maps img[data-layer="${L}"][data-map="${c}"]`).classList.add("chosen");
    box.append(el("h2", { textContent: `${ly.path}, map ${c}` }));
    const out = channel(L, c);
    if (!out) { box.append(el("p", { className: "note", textContent: "This layer's maps are too big to carry their numbers in the page; only the pictures are shown." })); box.scrollIntoView(); return; }
    const readout = el("p", { className: "readout", textContent: "Move over the map (or focus it and use the arrow keys) to see the numbers." });
    const src = ly.input === null ? null : S.layers[ly.input];
    if (ly.conv && src && src.numbers) {
      const [kh, kw, carried] = ly.conv.kernel_shape, cin = ly.conv.in_channels, kernel = f32(ly.conv.kernel), n = ly.conv.kernel_shape[3];
      const K = (a, b, ci) => kernel[((a * kw + b) * carried + ci) * n + c];
      const [sh, sw] = ly.conv.stride, inH = src.shape[0], inW = src.shape[1];
      const pt = ly.conv.padding === "same" ? samePad(inH, kh, sh) : 0, pl = ly.conv.padding === "same" ? samePad(inW, kw, sw) : 0;
      const inputs = Array.from({ length: carried }, (_, ci) => channel(ly.input, ci));
      const whole = carried >= cin;
      const at = (g, i, j) => (i < 0 || j < 0 || i >= g.h || j >= g.w ? 0 : g.get(i, j));
      const part = (ci, i, j) => { let s = 0; for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) s += at(inputs[ci], i * sh - pt + a, j * sw - pl + b) * K(a, b, ci); return s; };
      const act = ACT[ly.conv.activation];
      // recompute the whole map from the input and the filter, and compare with Keras
      let worst = 0;
      if (whole && act) for (let i = 0; i < out.h; i++) for (let j = 0; j < out.w; j++) {
        let s = ly.conv.bias[c]; for (let ci = 0; ci < cin; ci++) s += part(ci, i, j);
        worst = Math.max(worst, Math.abs(act(s) - out.get(i, j)));
      }
      // the input channel that contributes most at the map's strongest cell
      let peak = [0, 0]; for (let i = 0; i < out.h; i++) for (let j = 0; j < out.w; j++) if (out.get(i, j) > out.get(...peak)) peak = [i, j];
      let best = 0; inputs.forEach((_, ci) => { if (Math.abs(part(ci, ...peak)) > Math.abs(part(best, ...peak))) best = ci; });
      const pick = el("select", { id: "inchannel" });
      inputs.forEach((_, ci) => pick.append(el("option", { value: ci, textContent: `input channel ${ci}` + (ci === best ? " (contributes most at the peak)" : "") })));
      pick.value = best;
      const views = el("div", { className: "views" });
      box.append(el("p", {}, `A ${kh}×${kw}×${cin} filter (stride ${sh}, padding ${ly.conv.padding}, bias ${fmt(ly.conv.bias[c])}, then ${ly.conv.activation}) slides over ${src.path}'s ${inH}×${inW}×${src.shape[2]} output. Each input channel has its own ${kh}×${kw} slice; `, el("label", {}, "show ", pick)),
        el("p", { className: whole && act ? "check" : "muted", textContent: whole && act ? `Recomputed in this page from the input and the filter: the largest difference from Keras's map is ${worst.toExponential(1)}.` : `The page carries ${carried} of the input's ${cin} channels` + (act ? "" : ` and does not recompute ${ly.conv.activation}`) + ": the sum over all channels is Keras's, not recomputed." }),
        views, readout);
      const draw = () => {
        const ci = Number(pick.value), inp = inputs[ci];
        views.textContent = "";
        const ing = canvasGrid(inp, `input: ${src.path} channel ${ci}, ${inp.h}×${inp.w} (red: the window)`, (i, j) => readout.textContent = `${src.path} channel ${ci} [${i},${j}] = ${fmt(inp.get(i, j))}`);
        const slice = Array.from({ length: kh }, (_, a) => Array.from({ length: kw }, (_, b) => K(a, b, ci)));
        const outg = canvasGrid(out, `map ${c}: ${out.h}×${out.w}`, (i, j) => {
          ing.paint([[i * sh - pt, j * sw - pl, kh, kw, "red"]]);
          outg.paint([[i, j, 1, 1, "red"]]);
          const terms = [];
          for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) terms.push(`${factor(at(inp, i * sh - pt + a, j * sw - pl + b))}×${factor(K(a, b, ci))}`);
          const total = whole ? inputs.reduce((s, _, k) => s + part(k, i, j), ly.conv.bias[c]) : null;
          readout.innerHTML = "";
          readout.append(el("b", { textContent: `map ${c} [${i},${j}] = ${fmt(out.get(i, j))}` }), el("br"),
            `channel ${ci}'s part: ${terms.join(" + ")} = ${fmt(part(ci, i, j))}`, el("br"),
            total === null ? "" : `all ${cin} channels' parts + bias = ${fmt(total)}, after ${ly.conv.activation}: ${fmt(act ? act(total) : total)}`);
        });
        views.append(ing.box, el("figure", {}, table(slice, "filter"), el("figcaption", { textContent: `filter ${c}, slice for input channel ${ci}` })), outg.box);
      };
      pick.addEventListener("change", draw);
      draw();
    } else if (ly.pool && src && channel(ly.input, c)) {
      const inp = channel(ly.input, c), [ph, pw] = ly.pool.size, [sh, sw] = ly.pool.stride;
      const views = el("div", { className: "views" });
      box.append(el("p", { textContent: `${ly.pool.kind} pooling, ${ph}×${pw} windows at stride ${sh}: each cell is the ${ly.pool.kind} of a window of ${src.path}'s channel ${c} (no weights).` }), views, readout);
      const ing = canvasGrid(inp, `input: ${src.path} channel ${c}, ${inp.h}×${inp.w}`, (i, j) => readout.textContent = `${src.path} channel ${c} [${i},${j}] = ${fmt(inp.get(i, j))}`);
      const outg = canvasGrid(out, `map ${c}: ${out.h}×${out.w}`, (i, j) => {
        ing.paint([[i * sh, j * sw, ph, pw, "red"]]); outg.paint([[i, j, 1, 1, "red"]]);
        const vals = []; for (let a = 0; a < ph; a++) for (let b = 0; b < pw; b++) if (i * sh + a < inp.h && j * sw + b < inp.w) vals.push(fmt(inp.get(i * sh + a, j * sw + b)));
        readout.textContent = `map ${c} [${i},${j}] = ${ly.pool.kind} of {${vals.join(", ")}} = ${fmt(out.get(i, j))}`;
      });
      views.append(ing.box, outg.box);
    } else {
      const views = el("div", { className: "views" });
      box.append(el("p", { textContent: ly.conv ? "The input of this layer is not shown on the page, so only its map is." : `A ${ly.type} layer: its map, with the number under the cursor.` }), views, readout);
      const outg = canvasGrid(out, `map ${c}: ${out.h}×${out.w}`, (i, j) => { outg.paint([[i, j, 1, 1, "red"]]); readout.textContent = `map ${c} [${i},${j}] = ${fmt(out.get(i, j))}`; });
      views.append(outg.box);
    }
    box.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------ class probabilities
  function probabilities() {
    const order = S.probabilities.map((p, k) => k).sort((a, b) => S.probabilities[b] - S.probabilities[a]);
    const rows = order.map((k) => el("tr", { className: k === S.predicted ? "top" : "" },
      el("td", { textContent: S.classes[k] + (k === S.image.label ? " (true class)" : "") }),
      el("td", { textContent: (100 * S.probabilities[k]).toFixed(1) + "%" }),
      el("td", { className: "bar" }, (() => { const s = el("span", { className: "fill" }); s.style.width = (100 * S.probabilities[k]).toFixed(1) + "%"; return s; })())));
    $("probabilities").append(el("h2", { textContent: `Class probabilities: ${S.classes[S.predicted]}` }), el("table", { className: "bars" }, ...rows));
  }

  overview();
  probabilities();
  if (S.layers.length) { const first = S.layers.findIndex((l) => l.conv) ; detail(first < 0 ? 0 : first, 0); window.scrollTo(0, 0); }
})();
