// tests/browser/page_test.js: the web page (web/) in Debian's chromium, driven
// by puppeteer-core, against the real nginx + cutout-fcgi that tests/browser/run
// started. Environment: CUTOUT_URL (http://127.0.0.1:PORT/), OUT (artifacts
// folder), PHOTO (the fixture), PHOTOS (three photos, ':'-separated), TEXTFILE,
// CLI_MASK (the CLI's mask of PHOTO), CHROMIUM. Last line: "N passed, N failed".
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const puppeteer = require('puppeteer-core');

const URL_ = process.env.CUTOUT_URL;
const OUT = process.env.OUT;
const PHOTO = process.env.PHOTO;
const PHOTOS = process.env.PHOTOS.split(':');
const TEXTFILE = process.env.TEXTFILE;
const CLI_MASK = process.env.CLI_MASK;
const TIMEOUT = 120000;

let passed = 0, failed = 0;
function check(name, cond, detail) {
  if (cond) { passed++; console.log('ok    ' + name); }
  else { failed++; console.log('FAIL  ' + name + (detail ? ': ' + detail : '')); }
  return cond;
}

// The alpha channel of a PNG against the CLI's mask, with python3 + PIL.
function compareAlpha(png, mask) {
  const py = `
import sys
from PIL import Image
im = Image.open(sys.argv[1]); m = Image.open(sys.argv[2]).convert("L")
if im.mode != "RGBA": print("mode", im.mode); sys.exit(0)
a = im.getchannel("A")
if a.size != m.size: print("size", a.size, m.size); sys.exit(0)
d = max(abs(x - y) for x, y in zip(a.getdata(), m.getdata()))
print("maxdiff", d)
`;
  return execFileSync(process.env.PYTHON || '/usr/bin/python3', ['-c', py, png, mask], { encoding: 'utf8' }).trim();
}

async function resultBytes(page, selector) {
  const b64 = await page.evaluate(async (sel) => {
    const a = document.querySelector(sel);
    const buf = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let s = '';
    for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode.apply(null, buf.subarray(i, i + 0x8000));
    return btoa(s);
  }, selector);
  return Buffer.from(b64, 'base64');
}

async function upload(page, files) {
  const input = await page.$('#file');
  await input.uploadFile(...files);
}

// Waits until every card is done (ok or failed) and the progress bar is full.
async function waitDone(page, n) {
  await page.waitForFunction((n) => {
    const cards = document.querySelectorAll('#results .card');
    const p = document.getElementById('progress');
    return cards.length === n && document.querySelectorAll('#results .card.ok, #results .card.failed').length === n &&
      p.value === p.max;
  }, { timeout: TIMEOUT }, n);
}

const STARTED = Date.now();
async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    headless: true,
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // /remove requests in flight at once (the page allows 2).
    let inFlight = 0, maxInFlight = 0;
    const isRemove = (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/remove';
    page.on('request', (r) => { if (isRemove(r)) maxInFlight = Math.max(maxInFlight, ++inFlight); });
    page.on('requestfinished', (r) => { if (isRemove(r)) inFlight--; });
    page.on('requestfailed', (r) => { if (isRemove(r)) inFlight--; });

    // ---- the page loads from nginx; /models answers 404 today: one "default" entry ----
    const resp = await page.goto(URL_, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready]');
    check('GET / -> 200 text/html from the web server', resp.status() === 200 &&
      /text\/html/.test(resp.headers()['content-type'] || ''), resp.status() + ' ' + resp.headers()['content-type']);
    const models = await page.$$eval('#model option', (os) => os.map((o) => o.textContent));
    const modelsStatus = await page.evaluate(async () => (await fetch('models')).status);
    if (modelsStatus === 404) check('GET /models 404: the model list is one "default" entry', models.length === 1 && models[0] === 'default', JSON.stringify(models));
    else check('GET /models 200: the model list comes from it', models.length >= 1, JSON.stringify(models));
    const a11y = await page.evaluate(() => {
      const f = document.getElementById('file');
      return f.type === 'file' && f.multiple && f.accept === 'image/*' && f.closest('label.drop') !== null &&
        document.getElementById('progress-box').getAttribute('aria-live') === 'polite' &&
        Array.from(document.querySelectorAll('select, input:not([type=file]):not([type=radio]):not([type=checkbox])'))
          .every((e) => e.labels.length > 0 || e.getAttribute('aria-label'));
    });
    check('file input (multiple, image/*) inside the drop-zone label; labelled controls; aria-live progress', a11y);
    // keyboard: Tab reaches the file input (the drop zone shows the focus)
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement && document.activeElement.id === 'file' &&
        document.getElementById('drop').matches(':focus-within'));
    }
    check('keyboard: Tab reaches the drop zone\'s file input', reached);

    // ---- one photo: before/after, timing, download; alpha == the CLI's mask ----
    const t0 = Date.now();
    await upload(page, [PHOTO]);
    await waitDone(page, 1);
    const single = await page.evaluate(() => ({
      ok: document.querySelectorAll('#results .card.ok').length,
      compare: !!document.querySelector('#results .compare img.before') && !!document.querySelector('#results .compare img.after'),
      range: !!document.querySelector('#results input[type=range]'),
      status: document.querySelector('#results .status').textContent,
      download: (document.querySelector('#results a.download') || {}).download,
      error: (document.querySelector('#results .error') || {}).textContent,
    }));
    check('one photo: a result with a before/after view and a slider', single.ok === 1 && single.compare && single.range, JSON.stringify(single));
    check('one photo: the time from Server-Timing is shown', /^done in [0-9.]+ (ms|s) on the server$/.test(single.status), single.status);
    check('one photo: a download link named after the photo', single.download === 'anime-girl-1-cutout.png', String(single.download));
    const png = await resultBytes(page, '#results a.download');
    const pngPath = path.join(OUT, 'single-result.png');
    fs.writeFileSync(pngPath, png);
    check('result is a PNG', png.slice(1, 4).toString() === 'PNG', png.slice(0, 8).toString('hex'));
    const cmp = compareAlpha(pngPath, CLI_MASK);
    const m = /^maxdiff (\d+)$/.exec(cmp);
    check('result PNG has alpha equal to `cutout --mask -m u2netp` within one level', m && +m[1] <= 1, cmp);
    console.log('      (one photo through the page: ' + (Date.now() - t0) + ' ms)');

    // slider: keyboard moves it and the top image's clip follows
    await page.focus('#results input[type=range]');
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowLeft');
    const slid = await page.evaluate(() => ({
      v: document.querySelector('#results input[type=range]').value,
      pos: document.querySelector('#results .compare').style.getPropertyValue('--pos'),
      clip: getComputedStyle(document.querySelector('#results .compare img.before')).clipPath,
    }));
    check('slider: arrow keys move it and clip the photo on top', slid.v === '40' && slid.pos === '40' && /inset/.test(slid.clip), JSON.stringify(slid));
    await page.evaluate(() => {
      const r = document.querySelector('#results input[type=range]');
      r.value = '50'; r.dispatchEvent(new Event('input'));
      document.activeElement.blur();
    });
    await page.screenshot({ path: path.join(OUT, 'before-after.png'), fullPage: true });

    // ---- three photos: 3 results, a full progress bar, at most 2 in flight ----
    maxInFlight = 0;
    await upload(page, PHOTOS);
    await waitDone(page, 3);
    const three = await page.evaluate(() => ({
      ok: document.querySelectorAll('#results .card.ok').length,
      links: document.querySelectorAll('#results .card a.download[download]').length,
      value: document.getElementById('progress').value, max: document.getElementById('progress').max,
      text: document.getElementById('progress-text').textContent,
      all: !document.getElementById('download-all').hidden,
    }));
    check('three photos: three results, each with a download link', three.ok === 3 && three.links === 3, JSON.stringify(three));
    check('three photos: progress bar finished (value == max == 3), "3 / 3 done"', three.value === 3 && three.max === 3 && /^3 \/ 3 done/.test(three.text), JSON.stringify(three));
    check('three photos: "Download all" shown', three.all);
    check('three photos: at most 2 requests in flight', maxInFlight >= 1 && maxInFlight <= 2, String(maxInFlight));
    await page.screenshot({ path: path.join(OUT, 'grid.png'), fullPage: true });

    // ---- a text file: the server's sentence next to it ----
    await upload(page, [TEXTFILE]);
    await waitDone(page, 1);
    const err = await page.evaluate(() => {
      const c = document.querySelector('#results .card');
      const e = c.querySelector('.error');
      return { failed: c.classList.contains('failed'), name: c.dataset.name, error: e && e.textContent };
    });
    check('text file: the server\'s error sentence next to it', err.failed && err.name === path.basename(TEXTFILE) &&
      err.error === 'not a PNG, JPEG, WebP or BMP image', JSON.stringify(err));

    // ---- 503 + Retry-After is retried; /models 200 fills the list (both faked in the browser) ----
    await page.setRequestInterception(true);
    let busy = 0;
    page.on('request', (r) => {
      const p = new URL(r.url()).pathname;
      if (p === '/models') {
        return r.respond({ status: 200, contentType: 'application/json', body: JSON.stringify({ default: 'u2netp',
          models: [{ name: 'isnet', arch: 'isnet', input_size: 1024, description: 'IS-Net' },
                   { name: 'u2netp', arch: 'u2net', input_size: 320, description: 'small U2-Net' }] }) });
      }
      if (isRemove(r) && busy < 2) {
        busy++;
        return r.respond({ status: 503, headers: { 'Retry-After': '0' }, contentType: 'application/json',
          body: '{"error":"the server is busy","code":"busy"}' });
      }
      r.continue();
    });
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('body[data-ready]');
    const m2 = await page.evaluate(() => ({ names: Array.from(document.querySelectorAll('#model option')).map((o) => o.value),
      sel: document.getElementById('model').value }));
    check('GET /models 200: its models in the list, its default selected', JSON.stringify(m2.names) === '["isnet","u2netp"]' && m2.sel === 'u2netp', JSON.stringify(m2));
    await upload(page, [PHOTO]);
    await waitDone(page, 1);
    const retried = await page.evaluate(() => document.querySelectorAll('#results .card.ok').length);
    check('503 + Retry-After: retried, then the result', busy === 2 && retried === 1, 'busy=' + busy + ' ok=' + retried);
    await page.setRequestInterception(false);

    // ---- a phone-sized screen ----
    const phone = await browser.newPage();
    await phone.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.goto(URL_, { waitUntil: 'load' });
    await phone.waitForSelector('body[data-ready]');
    await (await phone.$('#file')).uploadFile(PHOTO);
    await waitDone(phone, 1);
    const fits = await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
    check('390 px wide screen: no horizontal scrolling', fits);
    await phone.screenshot({ path: path.join(OUT, 'phone.png'), fullPage: true });

    check('no JavaScript errors on the page', pageErrors.length === 0, pageErrors.join('; '));
  } finally {
    await browser.close();
  }
}

main().catch((e) => { check('browser test ran to its end', false, e && e.stack ? e.stack : String(e)); })
  .finally(() => {
    console.log('browser test: ' + ((Date.now() - STARTED) / 1000).toFixed(1) + ' s');
    console.log(passed + ' passed, ' + failed + ' failed');
    process.exit(failed ? 1 : 0);
  });
