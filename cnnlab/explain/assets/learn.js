// cnnlab explain learn-kernel: one gradient-descent step per press, the same formulas as
// cnnlab/explain/learn.py; steps NumPy already took are checked against it.
"use strict";
(function () {
  const S = JSON.parse(document.getElementById("state").textContent);
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d = S.decimals) => { let t = Number(v).toFixed(d); if (t.includes(".")) t = t.replace(/0+$/, "").replace(/\.$/, ""); return t === "-0" ? "0" : t; };
  const paren = (t) => (t.startsWith("-") ? `(${t})` : t);
  const FH = S.true.length, FW = S.true[0].length, N = S.x.length, OH = S.y[0].length, OW = S.y[0][0].length;
  let k, step, losses, last;

  function predict(x, k) {
    return Array.from({ length: OH }, (_, i) => Array.from({ length: OW }, (_, j) => {
      let s = 0; for (let a = 0; a < FH; a++) for (let b = 0; b < FW; b++) s += x[i + a][j + b] * k[a][b]; return s; }));
  }
  function lossAndGradient(k) {
    let loss = 0; const g = k.map((r) => r.map(() => 0)), M = N * OH * OW;
    for (let n = 0; n < N; n++) {
      const p = predict(S.x[n], k);
      for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
        const e = p[i][j] - S.y[n][i][j];
        loss += e * e;
        for (let a = 0; a < FH; a++) for (let b = 0; b < FW; b++) g[a][b] += e * S.x[n][i + a][j + b];
      }
    }
    return { loss: loss / M, grad: g.map((r) => r.map((v) => (2 * v) / M)) };
  }

  function grid(m, label, kind) {
    const box = document.createElement("figure"); box.className = "stage";
    const cap = document.createElement("figcaption"); cap.textContent = label;
    const g = document.createElement("div"); g.className = "grid"; g.dataset.kind = kind;
    g.dataset.rows = m.length; g.dataset.cols = m[0].length;
    g.style.gridTemplateColumns = `repeat(${m[0].length}, var(--cell))`;
    const top = Math.max(1e-12, ...m.flat().map(Math.abs));
    m.forEach((r, i) => r.forEach((v, j) => {
      const c = document.createElement("span"); c.className = "cell"; c.tabIndex = 0;
      c.dataset.i = i; c.dataset.j = j; c.dataset.value = v; c.textContent = fmt(v, kind === "k" || kind === "true" ? S.decimals : 2);
      const a = Math.min(1, Math.abs(v) / top);
      c.style.background = v >= 0 ? `rgba(214, 96, 77, ${0.65 * a})` : `rgba(67, 147, 195, ${0.65 * a})`;
      g.appendChild(c);
    }));
    const scroll = document.createElement("div"); scroll.className = "scroll"; scroll.appendChild(g);
    box.append(cap, scroll); return box;
  }

  function draw() {
    last = lossAndGradient(k);
    const out = $("stages"); out.textContent = "";
    const row1 = document.createElement("div"); row1.className = "row";
    row1.append(grid(k, `learned filter after ${step} step(s)`, "k"), grid(S.true, "hidden filter (the goal)", "true"));
    const row2 = document.createElement("div"); row2.className = "row";
    row2.append(grid(S.x[0], "input 1 (of " + N + ")", "x"), grid(S.y[0], "its target", "y"), grid(predict(S.x[0], k), "prediction with the learned filter", "p"));
    out.append(row1, row2);
    const err = Math.max(...k.flat().map((v, n) => Math.abs(v - S.true[Math.floor(n / FW)][n % FW])));
    let status = `step ${step}: loss ${fmt(last.loss, 5)}, largest difference from the hidden filter ${fmt(err, 5)}`;
    if (step < S.kernels.length) {
      const np = S.kernels[step], same = k.every((r, a) => r.every((v, b) => Math.abs(v - np[a][b]) <= 1e-9));
      status += same ? " — equal to NumPy's step " + step : " — differs from NumPy's step " + step;
      if (!same) console.error("learn-kernel: the page and NumPy differ at step " + step);
    }
    $("status").textContent = status;
    const tr = document.createElement("tr");
    [step, fmt(last.loss, 5)].forEach((v) => { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
    if (losses.length <= step) { losses.push(last.loss); $("losses").appendChild(tr); }
  }
  function doStep() {
    const lr = Number($("lr").value);
    if (!(lr > 0)) { $("status").textContent = "The learning rate must be a positive number, e.g. 0.1."; return; }
    k = k.map((r, a) => r.map((v, b) => v - lr * last.grad[a][b]));
    step += 1; draw();
  }
  function reset() {
    k = S.kernels[0].map((r) => r.slice()); step = 0; losses = [];
    $("losses").innerHTML = "<tr><th>step</th><th>loss</th></tr>";
    $("lr").value = S.lr; draw();
  }
  $("step").addEventListener("click", doStep);
  $("run10").addEventListener("click", () => { for (let n = 0; n < 10; n++) doStep(); });
  $("reset").addEventListener("click", reset);
  $("lr").addEventListener("change", () => { if (Number($("lr").value) !== S.lr) $("status").textContent += " (learning rate changed: NumPy's steps no longer apply)"; });
  for (const ev of ["mouseover", "focusin", "click"]) $("stages").addEventListener(ev, (e) => {
    const c = e.target; if (!c.classList || !c.classList.contains("cell") || c.parentElement.dataset.kind !== "k") return;
    const a = Number(c.dataset.i), b = Number(c.dataset.j), lr = Number($("lr").value);
    $("why").textContent = `weight [${a},${b}] = ${fmt(k[a][b])}; gradient 2/M·Σ error × input it touched = ${fmt(last.grad[a][b], 5)}; next: ${fmt(k[a][b])} − ${lr} × ${paren(fmt(last.grad[a][b], 5))} = ${fmt(k[a][b] - lr * last.grad[a][b])}`;
  });
  reset();
})();
