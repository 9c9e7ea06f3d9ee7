// The map of the field (/map): draws the stored layout on a canvas. Pan (drag), zoom (wheel, +/-),
// hover for a title, click to open the paper; filter by category and listing date; highlight a
// search's results or your library. Data: /map?format=json (regions, categories) and the points as
// five little-endian uint16 columns (x, y, region, category, day).
(function () {
  "use strict";
  const root = document.getElementById("field-map");
  if (!root) return;
  const canvas = root.querySelector("canvas");
  const tip = root.querySelector(".map-tip");
  const form = document.getElementById("map-controls");
  const status = document.getElementById("map-status");
  const ctx = canvas.getContext("2d");
  const tipCache = new Map();
  let meta = null, n = 0, xs, ys, region, category, day;
  let visible = null, highlight = new Set(), hovered = -1;
  let view = { x: 0.5, y: 0.5, scale: 1 };  // world centre shown and zoom
  let grid = null;  // spatial buckets of point numbers, for hover
  const GRID = 128;

  function colour(r, k) { return "hsl(" + Math.round((r * 137.508) % 360) + " 65% " + (k ? "42%" : "55%") + ")"; }
  function size() { return { w: canvas.clientWidth, h: canvas.clientHeight }; }
  function unit() { const s = size(); return Math.min(s.w, s.h) * 0.94 * view.scale; }
  function toScreen(i) {
    const s = size(), u = unit();
    return { x: s.w / 2 + (xs[i] - view.x) * u, y: s.h / 2 + (ys[i] - view.y) * u };
  }
  function toWorld(px, py) {
    const s = size(), u = unit();
    return { x: view.x + (px - s.w / 2) / u, y: view.y + (py - s.h / 2) / u };
  }

  function applyFilters() {
    const data = new FormData(form);
    const cat = data.get("category");
    const day0 = root.dataset.day0 ? Date.parse(root.dataset.day0) : NaN;
    const dayOf = (v) => (v && !isNaN(day0) ? Math.round((Date.parse(v) - day0) / 86400000) : null);
    const from = dayOf(data.get("from")), to = dayOf(data.get("to"));
    let count = 0;
    for (let i = 0; i < n; i++) {
      let ok = cat === null || cat === "" || category[i] === Number(cat);
      if (ok && from !== null) ok = day[i] !== meta.no_day && day[i] >= from;
      if (ok && to !== null) ok = day[i] !== meta.no_day && day[i] <= to;
      visible[i] = ok ? 1 : 0;
      count += visible[i];
    }
    root.dataset.visible = String(count);
    return count;
  }

  function buildGrid() {
    grid = new Array(GRID * GRID);
    for (let i = 0; i < n; i++) {
      const c = Math.min(GRID - 1, Math.floor(xs[i] * GRID)) + GRID * Math.min(GRID - 1, Math.floor(ys[i] * GRID));
      (grid[c] || (grid[c] = [])).push(i);
    }
  }

  function draw() {
    const s = size(), ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(s.w * ratio) || canvas.height !== Math.round(s.h * ratio)) {
      canvas.width = Math.round(s.w * ratio); canvas.height = Math.round(s.h * ratio);
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const styles = getComputedStyle(document.body);
    ctx.fillStyle = styles.backgroundColor || "#fff";
    ctx.fillRect(0, 0, s.w, s.h);
    const base = n < 1000 ? 7 : n < 20000 ? 3 : 1.8;  // few papers: big dots; 75k: small ones
    const dot = Math.min(12, base * Math.sqrt(view.scale));
    const dim = highlight.size > 0;
    ctx.globalAlpha = dim ? 0.25 : 0.8;
    for (let i = 0; i < n; i++) {
      if (!visible[i]) continue;
      const p = toScreen(i);
      if (p.x < -5 || p.y < -5 || p.x > s.w + 5 || p.y > s.h + 5) continue;
      ctx.fillStyle = colour(region[i], false);
      ctx.fillRect(p.x - dot / 2, p.y - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 1;
    for (const i of highlight) {
      if (!visible[i]) continue;
      const p = toScreen(i);
      ctx.beginPath(); ctx.arc(p.x, p.y, dot + 2.5, 0, 2 * Math.PI);
      ctx.fillStyle = "#e8590c"; ctx.fill(); ctx.lineWidth = 1; ctx.strokeStyle = styles.color; ctx.stroke();
    }
    if (hovered >= 0) {
      const p = toScreen(hovered);
      ctx.beginPath(); ctx.arc(p.x, p.y, dot + 4, 0, 2 * Math.PI);
      ctx.lineWidth = 2; ctx.strokeStyle = styles.color; ctx.stroke();
    }
    ctx.font = "600 13px system-ui, sans-serif"; ctx.textAlign = "center";
    // Biggest regions first; a label that would overlap one already drawn waits for a closer zoom.
    const placed = [];
    meta.regions.map(function (r, k) { return [r, k]; }).sort(function (a, b) { return b[0].size - a[0].size; })
      .forEach(function (pair) {
        const r = pair[0], k = pair[1], u = unit();
        const x = s.w / 2 + (r.x - view.x) * u, y = s.h / 2 + (r.y - view.y) * u;
        if (x < 0 || y < 0 || x > s.w || y > s.h) return;
        const w = ctx.measureText(r.label).width + 6, box = { l: x - w / 2, r: x + w / 2, t: y - 13, b: y + 4 };
        if (placed.some(function (o) { return box.l < o.r && box.r > o.l && box.t < o.b && box.b > o.t; })) return;
        placed.push(box);
        ctx.lineWidth = 3; ctx.strokeStyle = styles.backgroundColor || "#fff"; ctx.strokeText(r.label, x, y);
        ctx.fillStyle = colour(k, true); ctx.fillText(r.label, x, y);
      });
    root.dataset.labels = String(placed.length);
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  }

  function nearest(px, py) {
    const w = toWorld(px, py), radius = 8 / unit();
    let best = -1, bestD = radius * radius;
    const c0 = Math.floor((w.x - radius) * GRID), c1 = Math.floor((w.x + radius) * GRID);
    const r0 = Math.floor((w.y - radius) * GRID), r1 = Math.floor((w.y + radius) * GRID);
    for (let r = Math.max(0, r0); r <= Math.min(GRID - 1, r1); r++) {
      for (let c = Math.max(0, c0); c <= Math.min(GRID - 1, c1); c++) {
        for (const i of grid[c + GRID * r] || []) {
          if (!visible[i]) continue;
          const d = (xs[i] - w.x) ** 2 + (ys[i] - w.y) ** 2;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  function paperAt(i) {
    if (!tipCache.has(i)) {
      tipCache.set(i, fetch("/api/map/point/" + i).then((r) => (r.ok ? r.json() : null)));
    }
    return tipCache.get(i);
  }

  function showTip(i, px, py) {
    paperAt(i).then(function (paper) {
      if (!paper || hovered !== i) return;
      tip.textContent = paper.title + (paper.listed ? " · " + paper.listed : "");
      tip.hidden = false;
      const s = size();
      tip.style.left = Math.min(px + 12, s.w - tip.offsetWidth - 4) + "px";
      tip.style.top = Math.min(py + 12, s.h - tip.offsetHeight - 4) + "px";
    });
  }

  let drag = null;
  canvas.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", function (e) {
    const rect = canvas.getBoundingClientRect(), px = e.clientX - rect.left, py = e.clientY - rect.top;
    if (drag) {
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); }
      if (drag.moved) {
        view.x = drag.vx - dx / unit(); view.y = drag.vy - dy / unit();
        tip.hidden = true; draw(); return;
      }
    }
    const i = nearest(px, py);
    if (i !== hovered) { hovered = i; draw(); }
    if (i >= 0) showTip(i, px, py); else tip.hidden = true;
  });
  canvas.addEventListener("pointerup", function (e) {
    const wasDrag = drag && drag.moved;
    drag = null; canvas.classList.remove("dragging");
    if (wasDrag) return;
    const rect = canvas.getBoundingClientRect();
    const i = nearest(e.clientX - rect.left, e.clientY - rect.top);
    if (i >= 0) paperAt(i).then(function (paper) { if (paper) window.location.assign(paper.url); });
  });
  canvas.addEventListener("pointerleave", function () { hovered = -1; tip.hidden = true; draw(); });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    const rect = canvas.getBoundingClientRect();
    zoomAt(e.clientX - rect.left, e.clientY - rect.top, e.deltaY < 0 ? 1.25 : 0.8);
  }, { passive: false });

  function zoomAt(px, py, factor) {
    const before = toWorld(px, py);
    view.scale = Math.max(0.5, Math.min(400, view.scale * factor));
    const after = toWorld(px, py);
    view.x += before.x - after.x; view.y += before.y - after.y;
    draw();
  }

  form.addEventListener("click", function (e) {
    const how = e.target.getAttribute && e.target.getAttribute("data-zoom");
    if (!how) return;
    const s = size();
    if (how === "reset") { view = { x: 0.5, y: 0.5, scale: 1 }; draw(); } else zoomAt(s.w / 2, s.h / 2, how === "in" ? 1.5 : 1 / 1.5);
  });
  document.querySelectorAll("[data-region]").forEach(function (b) {
    b.addEventListener("click", function () {
      const r = meta.regions[Number(b.getAttribute("data-region"))];
      view = { x: r.x, y: r.y, scale: 4 }; draw();
      root.scrollIntoView({ behavior: "smooth", block: "center" });
    });
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const data = new FormData(form), params = new URLSearchParams();
    const shown = applyFilters();
    const q = (data.get("q") || "").trim();
    if (q) params.set("q", q);
    if (data.get("library")) params.set("library", "true");
    if (!params.toString()) {
      highlight = new Set(); root.dataset.highlighted = "0";
      status.textContent = shown + " of " + n + " papers shown."; draw(); return;
    }
    status.textContent = "Finding…";
    fetch("/api/map/highlight?" + params.toString()).then(function (r) {
      return r.ok ? r.json() : r.json().then(function (body) { throw new Error(body.error || r.statusText); });
    }).then(function (found) {
      highlight = new Set(found.search.concat(found.library));
      root.dataset.highlighted = String(highlight.size);
      status.textContent = shown + " of " + n + " papers shown; " + highlight.size + " highlighted" +
        (q ? " for “" + q + "”" : "") + ".";
      draw();
    }).catch(function (err) { status.textContent = "Could not highlight: " + err.message; });
  });

  window.addEventListener("resize", function () { if (meta) draw(); });

  fetch(root.dataset.meta, { headers: { Accept: "application/json" } }).then((r) => r.json()).then(function (m) {
    meta = m;
    return fetch(root.dataset.points).then((r) => r.arrayBuffer());
  }).then(function (buffer) {
    n = meta.count;
    const cols = new Uint16Array(buffer);
    xs = new Float32Array(n); ys = new Float32Array(n);
    for (let i = 0; i < n; i++) { xs[i] = cols[i] / 65535; ys[i] = cols[n + i] / 65535; }
    region = cols.subarray(2 * n, 3 * n); category = cols.subarray(3 * n, 4 * n); day = cols.subarray(4 * n, 5 * n);
    visible = new Uint8Array(n);
    applyFilters(); buildGrid(); draw();
    status.textContent = n + " papers.";
    root.dataset.ready = "true";
    // For tests and the curious: where a point is on screen.
    window.paperscopeMap = { count: n, screenOf: function (i) { return toScreen(i); }, pointOf: nearest };
  }).catch(function (err) { status.textContent = "The map could not be loaded: " + err.message; });
})();
