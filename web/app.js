// cutout web page: plain JavaScript, no dependencies. Talks to the API next
// to it (relative URLs, so it also works when mounted under a prefix).
'use strict';

(function () {
  const MAX_IN_FLIGHT = 2;   // until a /jobs API exists: one /remove per photo, 2 at a time
  const MAX_RETRIES = 3;     // 503 + Retry-After

  const $ = (id) => document.getElementById(id);
  const els = {
    model: $('model'), format: $('format'), mask: $('mask'), post: $('post_process'),
    bgNone: $('bg-none'), bgColorOn: $('bg-color-on'), bg: $('bg'), crop: $('crop'), margin: $('margin'),
    file: $('file'), drop: $('drop'), results: $('results'),
    progressBox: $('progress-box'), progress: $('progress'), progressText: $('progress-text'),
    downloadAll: $('download-all'),
  };

  // ---- models: GET /models when it exists, else one "default" entry ----
  async function loadModels() {
    let list = null, def = '';
    try {
      const r = await fetch('models', { headers: { Accept: 'application/json' } });
      if (r.ok) {
        const j = await r.json();
        if (j && Array.isArray(j.models) && j.models.length) { list = j.models; def = j.default || ''; }
      }
    } catch (e) { /* no /models: keep the default entry */ }
    if (!list) return;
    els.model.textContent = '';
    for (const m of list) {
      const o = document.createElement('option');
      o.value = m.name;
      o.textContent = m.name + (m.input_size ? ' (' + m.input_size + ')' : '');
      if (m.description) o.title = m.description;
      if (m.name === def) o.selected = true;
      els.model.appendChild(o);
    }
  }

  // ---- options ----
  function hexToRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255].join(',');
  }
  function params() {
    const p = new URLSearchParams();
    if (els.model.value) p.set('model', els.model.value);
    p.set('format', els.format.value);
    if (els.mask.checked) p.set('mask', '1');
    if (els.post.checked) p.set('post_process', '1');
    if (els.bgColorOn.checked) p.set('bg', hexToRgb(els.bg.value));
    if (els.crop.checked) {
      p.set('crop', '1');
      const m = parseInt(els.margin.value, 10);
      if (m > 0) p.set('margin', String(m));
    }
    return p;
  }
  els.crop.addEventListener('change', () => { els.margin.disabled = !els.crop.checked; });
  els.bg.addEventListener('input', () => { els.bgColorOn.checked = true; });

  // ---- helpers ----
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  // Server-Timing: "decode;dur=1.2, queue;dur=0.0, infer;dur=300.1, encode;dur=20.5"
  function serverTiming(h) {
    const out = {};
    if (!h) return out;
    for (const part of h.split(',')) {
      const bits = part.trim().split(';');
      const name = bits[0].trim();
      for (const b of bits.slice(1)) {
        const m = /^\s*dur=([0-9.]+)/.exec(b);
        if (name && m) out[name] = parseFloat(m[1]);
      }
    }
    return out;
  }
  function fmtMs(ms) { return ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : Math.round(ms) + ' ms'; }
  function fmtEta(s) {
    if (!isFinite(s)) return '';
    s = Math.max(0, Math.round(s));
    return s >= 60 ? Math.floor(s / 60) + ' min ' + (s % 60) + ' s' : s + ' s';
  }
  const EXT = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };
  function outName(name, type) {
    const base = (name || 'photo').replace(/\.[^.]*$/, '');
    return base + '-cutout.' + (EXT[type] || 'png');
  }

  // The server's sentence from its JSON error body ({"error": ..., "code": ...}).
  async function errorSentence(r) {
    let text = '';
    try { text = await r.text(); } catch (e) { /* ignore */ }
    try {
      const j = JSON.parse(text);
      if (j && j.error) return j.error;
    } catch (e) { /* not JSON (a proxy's page) */ }
    return 'the server answered ' + r.status + (r.statusText ? ' ' + r.statusText : '');
  }

  // ---- one request, retried on 503 after Retry-After (at most 3 times) ----
  async function removeBackground(file, query, onWait) {
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      const r = await fetch('remove?' + query.toString(), {
        method: 'POST',
        headers: { 'Content-Type': file.type || 'application/octet-stream' },
        body: file,
      });
      if (r.status === 503 && attempt < MAX_RETRIES) {
        const ra = parseFloat(r.headers.get('Retry-After'));
        const wait = (isFinite(ra) && ra >= 0 ? ra : 1) * 1000;
        await r.text().catch(() => {});
        onWait(attempt + 1, wait);
        await sleep(wait);
        continue;
      }
      if (!r.ok) throw new Error(await errorSentence(r));
      const blob = await r.blob();
      return { blob, timing: serverTiming(r.headers.get('Server-Timing')), wall: performance.now() - t0 };
    }
  }

  // ---- the batch ----
  let batch = null;  // {jobs, done, total, started}

  function card(job) {
    const li = el('li', 'card');
    li.dataset.name = job.file.name;
    li.appendChild(el('div', 'name', job.file.name || 'pasted image'));
    job.body = el('div', 'thumb checker pending');
    li.appendChild(job.body);
    job.status = el('div', 'status', 'waiting…');
    job.status.setAttribute('role', 'status');
    li.appendChild(job.status);
    job.actions = el('div', 'actions');
    li.appendChild(job.actions);
    job.li = li;
    return li;
  }

  function compareView(job, resultUrl) {
    const box = el('div', 'compare-box');
    const cmp = el('div', 'compare checker');
    cmp.style.setProperty('--pos', '50');
    const after = el('img', 'after');
    after.src = resultUrl;
    after.alt = 'Result: ' + job.file.name + ' without its background';
    const before = el('img', 'before');
    before.src = job.srcUrl;
    before.alt = 'Original photo';
    const div = el('div', 'divider');
    cmp.append(after, before, div);
    const slider = el('div', 'slider');
    const id = 'slider-' + job.index;
    const lab = el('label', null, 'Before');
    lab.htmlFor = id;
    const range = el('input');
    range.type = 'range'; range.id = id; range.min = '0'; range.max = '100'; range.value = '50';
    range.setAttribute('aria-label', 'Before / after: share of the original photo shown');
    range.addEventListener('input', () => cmp.style.setProperty('--pos', range.value));
    slider.append(lab, range, el('span', null, 'After'));
    box.append(cmp, slider);
    return box;
  }

  function showResult(job, res, single, cropped) {
    const url = URL.createObjectURL(res.blob);
    job.resultUrl = url;
    job.downloadName = outName(job.file.name, res.blob.type);
    let view;
    if (single && !cropped) {
      view = compareView(job, url);
    } else {
      view = el('div', 'thumb checker');
      const img = el('img');
      img.src = url;
      img.alt = 'Result: ' + job.file.name + ' without its background';
      view.appendChild(img);
    }
    job.li.replaceChild(view, job.body);
    job.body = view;
    const t = res.timing;
    const names = ['decode', 'queue', 'infer', 'encode'].filter((n) => n in t);
    const total = names.reduce((s, n) => s + t[n], 0);
    job.status.textContent = names.length
      ? 'done in ' + fmtMs(total) + ' on the server'
      : 'done in ' + fmtMs(res.wall);
    if (names.length) job.status.title = names.map((n) => n + ' ' + fmtMs(t[n])).join(', ');
    job.status.classList.add('timing');
    const a = el('a', 'download', 'Download');
    a.href = url;
    a.download = job.downloadName;
    job.actions.appendChild(a);
    job.li.classList.add('ok');
  }

  function showError(job, msg) {
    job.li.classList.add('failed');
    job.status.textContent = 'failed';
    const p = el('p', 'error', msg);
    job.actions.appendChild(p);
    job.body.classList.remove('pending');
    // the photo itself, when the browser can show it
    const img = el('img');
    img.alt = '';
    img.onerror = () => img.remove();
    img.src = job.srcUrl;
    job.body.appendChild(img);
  }

  function updateProgress() {
    const b = batch;
    els.progress.max = b.total;
    els.progress.value = b.done;
    let text = b.done + ' / ' + b.total + ' done';
    if (b.failed) text += ' (' + b.failed + ' failed)';
    if (b.done < b.total && b.done > 0) {
      const per = (performance.now() - b.started) / b.done / 1000;
      text += ', about ' + fmtEta(per * (b.total - b.done)) + ' left';
    }
    els.progressText.textContent = text;
    els.downloadAll.hidden = !(b.total > 1 && b.jobs.some((j) => j.resultUrl));
    if (b.done === b.total) els.progressBox.classList.add('finished');
  }

  async function run(files) {
    files = Array.from(files || []);
    if (!files.length) return;
    const single = files.length === 1;
    const query = params();
    const cropped = query.has('crop');
    // a new batch replaces the previous results
    if (batch) for (const j of batch.jobs) {
      URL.revokeObjectURL(j.srcUrl);
      if (j.resultUrl) URL.revokeObjectURL(j.resultUrl);
    }
    els.results.textContent = '';
    els.results.classList.toggle('single', single);
    els.progressBox.classList.remove('finished');
    const b = batch = { jobs: [], done: 0, failed: 0, total: files.length, started: performance.now() };
    files.forEach((file, index) => {
      const job = { file, index, srcUrl: URL.createObjectURL(file) };
      b.jobs.push(job);
      els.results.appendChild(card(job));
    });
    els.progressBox.hidden = false;
    updateProgress();

    let next = 0;
    async function worker() {
      while (batch === b && next < b.jobs.length) {
        const job = b.jobs[next++];
        job.status.textContent = 'working…';
        try {
          const res = await removeBackground(job.file, query, (n, ms) => {
            job.status.textContent = 'server busy, retry ' + n + ' of ' + MAX_RETRIES + ' in ' + fmtMs(ms);
          });
          if (batch !== b) return;
          showResult(job, res, single, cropped);
        } catch (e) {
          if (batch !== b) return;
          b.failed++;
          showError(job, e && e.message ? e.message : String(e));
        }
        b.done++;
        updateProgress();
      }
    }
    const ws = [];
    for (let i = 0; i < Math.min(MAX_IN_FLIGHT, b.jobs.length); i++) ws.push(worker());
    await Promise.all(ws);
  }

  // "Download all": one download after the other (browsers drop bursts).
  els.downloadAll.addEventListener('click', async () => {
    if (!batch) return;
    for (const j of batch.jobs) {
      if (!j.resultUrl) continue;
      const a = document.createElement('a');
      a.href = j.resultUrl;
      a.download = j.downloadName;
      document.body.appendChild(a);
      a.click();
      a.remove();
      await sleep(400);
    }
  });

  // ---- inputs: picker, drop, paste ----
  els.file.addEventListener('change', () => {
    const files = Array.from(els.file.files);
    els.file.value = '';  // choosing the same files again starts again
    run(files);
  });
  ['dragenter', 'dragover'].forEach((t) => els.drop.addEventListener(t, (e) => {
    e.preventDefault();
    els.drop.classList.add('over');
  }));
  ['dragleave', 'drop'].forEach((t) => els.drop.addEventListener(t, () => els.drop.classList.remove('over')));
  els.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) run(e.dataTransfer.files);
  });
  // a drop outside the zone should not navigate away from the page
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  document.addEventListener('paste', (e) => {
    const items = e.clipboardData ? Array.from(e.clipboardData.items) : [];
    const files = items.filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
    if (files.length) { e.preventDefault(); run(files); }
  });

  loadModels().finally(() => { document.body.dataset.ready = "1"; });
})();
