// dpimage web page: upload, parameters, live preview, region box, download.
// Talks only to the local server that served this page (same origin).
"use strict";

(function () {
  const EPS_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20,
    30, 50, 100];
  const METRICS_DELAY_MS = 400;
  const M_STEPS = Array.from({ length: 21 }, (_, i) => 2 ** i); // 1 .. 1,048,576

  const $ = (id) => document.getElementById(id);
  const state = {
    id: null, width: 0, height: 0, channels: 0, maxUpload: 0,
    inFlight: false, pending: false, pendingSince: null,
    box: null, dragging: null, metricsTimer: null,
  };
  // Read by the browser test and shown on the page.
  window.dpimageStats = { previews: 0, latencies: [], lastLatencyMs: null, metrics: 0 };

  function fmt(x, digits = 3) {
    if (x === null || x === undefined) return "—";
    if (!isFinite(x)) return "∞";
    if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en-US");
    return Number(x.toPrecision(digits)).toString();
  }

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "status error" : "status";
  }

  function nearestIndex(steps, value) {
    let best = 0;
    steps.forEach((s, i) => {
      if (Math.abs(Math.log(s / value)) < Math.abs(Math.log(steps[best] / value))) best = i;
    });
    return best;
  }

  function params() {
    return {
      id: state.id,
      method: $("method").value,
      b: Number($("b").value),
      m: Number($("m").value),
      eps: Number($("eps").value),
      b0: Number($("b0").value),
      k: Number($("k").value),
      render: $("render").value,
      colour: $("colour").value,
    };
  }

  function showRows() {
    const method = $("method").value;
    document.querySelectorAll(".row[data-for]").forEach((row) => {
      row.classList.toggle("hidden", !row.dataset.for.split(" ").includes(method));
    });
    const priv = method.startsWith("dp-");
    $("download").disabled = !state.id || !priv;
    $("new-noise").disabled = !state.id || !priv;
    $("public-settings").disabled = !state.id;
    // The empty state (drop zone + sample photos) until an image is loaded: no broken
    // image icons where the pictures will go.
    $("empty").hidden = Boolean(state.id);
    $("loaded").hidden = !state.id;
  }

  // ---- preview requests: at most one in flight, the latest parameters win ----
  function schedulePreview(extra) {
    if (!state.id) return;
    if (state.pendingSince === null) state.pendingSince = performance.now();
    if (state.inFlight) { state.pending = extra || state.pending || true; return; }
    sendPreview(extra);
  }

  async function sendPreview(extra) {
    state.inFlight = true;
    state.pending = false;
    const started = state.pendingSince;
    state.pendingSince = null;
    const body = Object.assign(params(), typeof extra === "object" ? extra : {});
    try {
      const resp = await fetch("/api/preview", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await resp.json();
      if (!resp.ok) { setStatus(data.error || "preview failed", true); return; }
      const img = $("preview");
      img.src = data.image;
      await img.decode().catch(() => {});
      const ms = performance.now() - started;
      const stats = window.dpimageStats;
      stats.previews += 1;
      stats.lastLatencyMs = ms;
      stats.latencies.push(ms);
      stats.serverMs = data.server_ms;
      showNumbers(data, body, ms);
      setStatus("");
      // The slower numbers (SSIM, prediction) once the slider has rested a moment,
      // so that they never hold up the next preview while it is being dragged.
      clearTimeout(state.metricsTimer);
      state.metricsTimer = setTimeout(() => {
        if (!state.inFlight && !state.pending) fetchMetrics(data.preview_id);
      }, METRICS_DELAY_MS);
    } catch (err) {
      setStatus("the local server did not answer: " + err, true);
    } finally {
      state.inFlight = false;
      if (state.pending) {
        const extra2 = typeof state.pending === "object" ? state.pending : undefined;
        if (state.pendingSince === null) state.pendingSince = performance.now();
        sendPreview(extra2);
      }
    }
  }

  function showNumbers(data, sent, ms) {
    $("release-label").textContent = data.method;
    $("release-label").dataset.eps = sent.eps;
    if (data.private) {
      $("eps-spent").textContent = `ε = ${fmt(data.eps_spent, 4)} for the whole image ` +
        `(all channels), for changes of up to m = ${sent.m.toLocaleString("en-US")} pixels`;
      const n = data.noise_scale;
      let text = `Laplace scale ${fmt(n.full_cell)} grey levels (std ${fmt(n.std_full_cell)}) ` +
        `per ${n.cell_side}×${n.cell_side} cell`;
      if (n.largest > n.full_cell * 1.0001) text += `; up to ${fmt(n.largest)} in partial edge cells`;
      if (n.std_full_cell > 255) text += " — far beyond the 0–255 range: the release shows no picture";
      $("noise-scale").textContent = text;
      $("guarantee").textContent =
        `Anything within ${sent.m.toLocaleString("en-US")} pixels is protected at ε = ` +
        `${fmt(sent.eps, 4)}; a change of d pixels is protected only at ε·d/m ` +
        `(e.g. ${fmt(sent.eps * 10, 4)} for 10·m pixels).`;
    } else {
      $("eps-spent").textContent = "not private: no noise, no guarantee (comparison only)";
      $("noise-scale").textContent = "none";
      $("guarantee").textContent = "";
    }
    $("eps-spent").dataset.eps = data.private ? String(data.eps_spent) : "";
    $("meas-mse").textContent = fmt(data.measured.mse);
    $("meas-psnr").textContent = data.measured.psnr === null ? "∞" : `${fmt(data.measured.psnr)} dB`;
    $("meas-ssim").textContent = "…";
    $("pred-mse").textContent = "…";
    $("pred-psnr").textContent = "…";
    $("latency").textContent = `${Math.round(ms)} ms from the change to the picture ` +
      `(server ${Math.round(data.server_ms)} ms)`;
  }

  async function fetchMetrics(previewId) {
    const q = new URLSearchParams({ id: state.id, preview: previewId });
    try {
      const resp = await fetch("/api/metrics?" + q.toString());
      if (resp.status === 409) return; // a newer preview is on its way
      const data = await resp.json();
      if (!resp.ok) return;
      $("meas-ssim").textContent = fmt(data.measured.ssim);
      $("pred-mse").textContent = fmt(data.predicted.mse);
      $("pred-psnr").textContent = data.predicted.mse === null ? "—" :
        data.predicted.psnr === null ? "∞" : `${fmt(data.predicted.psnr)} dB`;
      $("pred-mse").title = data.predicted.note || "";
      window.dpimageStats.metrics += 1;
    } catch (err) { /* the next preview will try again */ }
  }

  // ---- upload ----
  async function upload(file) {
    if (!file) return;
    if (state.maxUpload && file.size > state.maxUpload) {
      setStatus(`This file is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ` +
        `${(state.maxUpload / 2 ** 20).toFixed(0)} MB (restart with --max-upload-mb to raise it).`,
        true);
      return;
    }
    setStatus("Reading the image…");
    $("notices").textContent = "";
    try {
      const resp = await fetch("/api/images", {
        method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
      });
      const data = await resp.json();
      if (!resp.ok) { setStatus(data.error || "upload failed", true); return; }
      if (state.id) forget(state.id);
      state.id = data.id;
      state.width = data.width;
      state.height = data.height;
      state.channels = data.channels;
      state.box = null;
      $("preview").removeAttribute("src");
      $("public-reason").textContent = "";
      showRows();
      data.notices.forEach((n) => {
        const li = document.createElement("li");
        li.textContent = n;
        $("notices").appendChild(li);
      });
      const orig = $("original");
      orig.src = `/api/images/${encodeURIComponent(data.id)}/original`;
      await orig.decode().catch(() => {});
      sizeCanvas();
      $("forget").disabled = false;
      $("clear-box").disabled = true;
      $("box-info").textContent = `${data.width}×${data.height} pixels, ` +
        `${data.channels === 1 ? "gray" : "colour (ε is shared by the 3 channels)"}`;
      showRows();
      schedulePreview();
    } catch (err) {
      setStatus("the local server did not answer: " + err, true);
    }
  }

  // ---- the bundled sample photos, offered by the empty state ----
  async function loadSamples() {
    try {
      const resp = await fetch("/api/samples");
      const data = await resp.json();
      const box = $("samples");
      box.textContent = "";
      if (!data.samples.length) { $("samples-note").hidden = true; return; }
      data.samples.forEach((s) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "sample";
        button.dataset.name = s.name;
        const img = document.createElement("img");
        img.src = s.url;
        img.alt = "";
        const label = document.createElement("span");
        label.textContent = s.name.replace(/\.[^.]+$/, "");
        button.append(img, label);
        button.addEventListener("click", () => openSample(s));
        box.appendChild(button);
      });
    } catch (err) { $("samples-note").hidden = true; }
  }

  async function openSample(sample) {
    setStatus(`Opening the sample photo ${sample.name}…`);
    try {
      const resp = await fetch(sample.url);
      if (!resp.ok) { setStatus("the sample photo could not be read", true); return; }
      upload(await resp.blob());
    } catch (err) {
      setStatus("the local server did not answer: " + err, true);
    }
  }

  // ---- settings from the image size and the thing to protect only ----
  async function publicSettings() {
    if (!state.id) return;
    const method = $("method").value.endsWith("blur") ? "dp-blur" : "dp-pix";
    const body = {
      width: state.width, height: state.height, channels: state.channels, method,
      object_width: Number($("obj-w").value), object_height: Number($("obj-h").value),
    };
    $("public-reason").className = "small";
    $("public-reason").textContent = "Choosing from the size only…";
    try {
      const resp = await fetch("/api/public-settings", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await resp.json();
      if (!resp.ok) {
        $("public-reason").textContent = data.error || "no settings";
        $("public-reason").className = "small error";
        return;
      }
      $("method").value = data.method;
      const side = data.method === "dp-pix" ? "b" : "b0";
      const slider = $(side);
      if (data[side] > Number(slider.max)) slider.max = data[side];
      slider.value = data[side];
      $(side + "-value").textContent = data[side];
      setM(data.m);
      $("eps").value = data.eps;
      $("eps-slider").value = nearestIndex(EPS_STEPS, data.eps);
      $("public-reason").textContent = data.reason;
      showRows();
      schedulePreview();
    } catch (err) {
      $("public-reason").textContent = "the local server did not answer: " + err;
      $("public-reason").className = "small error";
    }
  }

  function forget(id) {
    fetch(`/api/images/${encodeURIComponent(id)}`, { method: "DELETE" }).catch(() => {});
  }

  // ---- region box on the original: m = its pixel count ----
  function sizeCanvas() {
    const c = $("box-canvas");
    const img = $("original");
    c.width = img.clientWidth;
    c.height = img.clientHeight;
    drawBox();
  }

  function toImage(ev) {
    const c = $("box-canvas");
    const r = c.getBoundingClientRect();
    const x = Math.min(Math.max(ev.clientX - r.left, 0), r.width);
    const y = Math.min(Math.max(ev.clientY - r.top, 0), r.height);
    return { x: (x / r.width) * state.width, y: (y / r.height) * state.height };
  }

  function drawBox() {
    const c = $("box-canvas");
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    const box = state.dragging || state.box;
    if (!box || !state.width) return;
    const sx = c.width / state.width, sy = c.height / state.height;
    ctx.strokeStyle = "#ffde00";
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.strokeRect(box.x * sx, box.y * sy, box.w * sx, box.h * sy);
  }

  function boxFrom(a, b) {
    const x0 = Math.floor(Math.min(a.x, b.x)), y0 = Math.floor(Math.min(a.y, b.y));
    const x1 = Math.ceil(Math.max(a.x, b.x)), y1 = Math.ceil(Math.max(a.y, b.y));
    return { x: x0, y: y0, w: Math.max(1, x1 - x0), h: Math.max(1, y1 - y0) };
  }

  function setupBox() {
    const c = $("box-canvas");
    let start = null;
    c.addEventListener("mousedown", (ev) => {
      if (!state.id || !$("method").value.startsWith("dp-")) return;
      start = toImage(ev);
      state.dragging = boxFrom(start, start);
      ev.preventDefault();
    });
    window.addEventListener("mousemove", (ev) => {
      if (!start) return;
      state.dragging = boxFrom(start, toImage(ev));
      drawBox();
    });
    window.addEventListener("mouseup", (ev) => {
      if (!start) return;
      state.box = boxFrom(start, toImage(ev));
      state.dragging = null;
      start = null;
      drawBox();
      const pixels = state.box.w * state.box.h;
      setM(pixels);
      $("obj-w").value = state.box.w;
      $("obj-h").value = state.box.h;
      $("box-info").textContent = `Box ${state.box.w}×${state.box.h} pixels at ` +
        `(${state.box.x}, ${state.box.y}): m = ${pixels.toLocaleString("en-US")}`;
      $("clear-box").disabled = false;
      schedulePreview();
    });
    $("clear-box").addEventListener("click", () => {
      state.box = null;
      drawBox();
      $("clear-box").disabled = true;
      $("box-info").textContent = "";
    });
    window.addEventListener("resize", sizeCanvas);
  }

  function setM(value) {
    const m = Math.max(1, Math.round(value));
    $("m").value = m;
    $("m-slider").value = nearestIndex(M_STEPS, m);
  }

  // ---- download: fresh secure noise on the server ----
  async function download() {
    const note = $("download-status");
    note.textContent = "Drawing a fresh release with secure noise…";
    try {
      const resp = await fetch("/api/release", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(params()),
      });
      if (!resp.ok) {
        const data = await resp.json();
        note.textContent = data.error || "download failed";
        note.className = "small error";
        return;
      }
      const blob = await resp.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = "dpimage-release.zip";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      note.className = "small";
      const total = Number(resp.headers.get("X-Dpimage-Total-Epsilon"));
      note.textContent = `Saved dpimage-release.zip (release PNG + manifest), ε = ` +
        `${params().eps} spent; ${fmt(total, 4)} in all for this upload's downloads ` +
        `(the manifest records them all; after the server forgets the upload or restarts, ` +
        `a new upload starts a new count: add the manifests' totals).`;
    } catch (err) {
      note.textContent = "the local server did not answer: " + err;
      note.className = "small error";
    }
  }

  // ---- wiring ----
  function init() {
    $("origin").textContent = window.location.host;
    fetch("/api/info").then((r) => r.json()).then((info) => {
      state.maxUpload = info.max_upload_bytes;
      $("limit-note").textContent = `Up to ${(info.max_upload_bytes / 2 ** 20).toFixed(0)} MB; ` +
        "still images (JPEG, PNG, WebP, TIFF, BMP, ...).";
    }).catch(() => {});

    ["file", "file-empty"].forEach((id) => {
      $(id).addEventListener("change", (ev) => upload(ev.target.files[0]));
    });
    ["drop", "empty"].forEach((id) => {
      const drop = $(id);
      ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (ev) => {
        ev.preventDefault(); drop.classList.add("over");
      }));
      ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (ev) => {
        ev.preventDefault(); drop.classList.remove("over");
      }));
      drop.addEventListener("drop", (ev) => upload(ev.dataTransfer.files[0]));
    });

    $("method").addEventListener("change", () => { showRows(); schedulePreview(); });
    ["render", "colour"].forEach((id) => $(id).addEventListener("change", schedulePreview));
    [["b", "b-value"], ["b0", "b0-value"], ["k", "k-value"]].forEach(([id, out]) => {
      $(id).addEventListener("input", () => { $(out).textContent = $(id).value; schedulePreview(); });
    });
    $("eps-slider").addEventListener("input", () => {
      $("eps").value = EPS_STEPS[Number($("eps-slider").value)];
      schedulePreview();
    });
    $("eps").addEventListener("change", () => {
      const v = Number($("eps").value);
      if (v > 0) { $("eps-slider").value = nearestIndex(EPS_STEPS, v); schedulePreview(); }
    });
    $("m-slider").addEventListener("input", () => {
      $("m").value = M_STEPS[Number($("m-slider").value)];
      schedulePreview();
    });
    $("m").addEventListener("change", () => {
      const v = Number($("m").value);
      if (v >= 1) { setM(v); schedulePreview(); }
    });
    $("new-noise").addEventListener("click", () => schedulePreview({ new_noise: true }));
    $("download").addEventListener("click", download);
    $("public-settings").addEventListener("click", publicSettings);
    $("forget").addEventListener("click", () => {
      if (state.id) forget(state.id);
      state.id = null;
      $("original").removeAttribute("src");
      $("preview").removeAttribute("src");
      $("forget").disabled = true;
      showRows();
      setStatus("The server has forgotten the image.");
    });
    setupBox();
    showRows();
    loadSamples();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
