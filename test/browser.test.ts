/**
 * The HTML report in a real browser (issue 13): Debian's chromium, headless,
 * driven by playwright-core (never a downloaded browser). The report of an
 * emulated 2-vcpu e1000 run with an estimate opens from a file URL with no
 * network, logs no error, draws every chart, and its hot-function table is
 * `analyze --format json`'s. A screenshot goes to test-artifacts/ (ignored
 * by git). Skipped, saying why, where /usr/bin/chromium is not installed
 * (apt-get install chromium).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { GUEST_MAP } from '../src/emulator/index.js';
import { HtmlReportSchema } from '../src/report/html/index.js';
import { cli, ROOT } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
if (!have) console.warn(`test/browser.test.ts skipped: ${CHROMIUM} not found (apt-get install chromium)`);

const ARTIFACTS = join(ROOT, 'test-artifacts');
const tmp = mkdtempSync(join(tmpdir(), 'exitscope-browser-'));

/** The charts a report of a run with ports, MMIO, two vcpus and passes must have. */
const CHARTS = ['functions-count', 'functions-time', 'reasons', 'exit-rate', 'durations-0', 'ports', 'mmio', 'vcpu-time', 'split', 'estimate'];

interface Opened { page: Page; errors: string[]; requests: string[] }

describe.skipIf(!have)('HTML report in chromium', () => {
  let browser: BrowserContext;
  const trace = join(tmp, 'net.csv');
  const html = join(tmp, 'report.html');
  const emptyHtml = join(tmp, 'empty.html');
  let analyzeRows: Array<{ rank: number; key: string; count: number; handlingNs: number }>;

  beforeAll(async () => {
    const em = await cli(['emulate', '--workload', 'net', '--nic', 'e1000', '--vcpus', '2', '--duration', '0.2', '--seed', '5', '-o', trace]);
    expect(em.code, em.stderr).toBe(0);
    const r = await cli(['report', trace, '--map', GUEST_MAP, '-o', html, '--pass', 'napi-off', '--pass', 'coalesced-mmio:auto', '--bootstrap', '200']);
    expect(r.code, r.stderr).toBe(0);
    const a = await cli(['analyze', trace, '--map', GUEST_MAP, '--format', 'json']);
    analyzeRows = JSON.parse(a.stdout).rows;
    const empty = join(tmp, 'empty.csv');
    writeFileSync(empty, 'ts_ns,vcpu,reason,rip,duration_ns\n');
    const e = await cli(['report', empty, '--map', GUEST_MAP, '-o', emptyHtml]);
    expect(e.code, e.stderr).toBe(0);
    // A fresh profile each run: nothing cached or remembered from another run.
    const { chromium } = await import('playwright-core');
    browser = await chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function open(file: string): Promise<Opened> {
    const page = await browser.newPage();
    const errors: string[] = [], requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (q) => { if (!q.url().startsWith('file:') && !q.url().startsWith('data:')) requests.push(q.url()); });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, errors, requests };
  }

  it('opens offline with no console error and draws every chart', async () => {
    const { page, errors, requests } = await open(html);
    await page.waitForSelector('html[data-charts]', { timeout: 10_000 });
    const charts = await page.$$eval('figure.chart', (figs) => figs.map((f) => {
      const svg = f.querySelector('svg');
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the project's lib has no DOM types
      const canvas = f.querySelector('canvas') as any;
      let inked = 0;
      if (canvas) {
        const g = canvas.getContext('2d')!;
        const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < px.length; i += 4 * 7) if (px[i] > 0) inked++;
      }
      const bars = svg ? [...svg.querySelectorAll('rect.bar')].filter((r) => Number(r.getAttribute('width')) > 0 && Number(r.getAttribute('height')) > 0).length : 0;
      const box = (svg ?? canvas)?.getBoundingClientRect();
      return { name: f.getAttribute('data-chart'), kind: svg ? 'svg' : canvas ? 'canvas' : 'none', bars, inked, w: box?.width ?? 0, h: box?.height ?? 0 };
    }));
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    const names = charts.map((c) => c.name);
    for (const c of CHARTS) expect(names).toContain(c);
    for (const c of charts) {
      expect(c.kind, c.name!).not.toBe('none');
      expect(c.w, c.name!).toBeGreaterThan(100);
      expect(c.h, c.name!).toBeGreaterThan(20);
      if (c.kind === 'svg') expect(c.bars, c.name!).toBeGreaterThan(0);
      else expect(c.inked, c.name!).toBeGreaterThan(50);
    }
    // The uPlot charts are the ones the page script drew.
    expect(Number(await page.getAttribute('html', 'data-charts'))).toBe(charts.filter((c) => c.kind === 'canvas').length);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(readFileSync(join(ARTIFACTS, 'report.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it("the hot-function table is analyze's JSON", async () => {
    const { page } = await open(html);
    const rows = await page.$$eval('#hot-functions tbody tr', (trs) => trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')].map((c) => c.textContent ?? '');
      return { rank: Number(td[0]), key: td[1], count: Number(td[2].replace(/,/g, '')), handlingNs: Number(tr.getAttribute('data-handling-ns')) };
    }));
    expect(rows).toEqual(analyzeRows.map((r) => ({ rank: r.rank, key: r.key, count: r.count, handlingNs: r.handlingNs })));
    // The embedded data is the report's schema.
    const data = await page.$eval('#exitscope-data', (s) => s.textContent ?? '');
    expect(HtmlReportSchema.parse(JSON.parse(data)).functions.rows.length).toBe(rows.length);
  });

  it('a trace without exits says so instead of drawing empty axes', async () => {
    const { page, errors } = await open(emptyHtml);
    expect(await page.isVisible('#no-exits')).toBe(true);
    expect(await page.textContent('#no-exits')).toMatch(/No VM exits in this trace/);
    expect(await page.$$('figure.chart')).toHaveLength(0);
    expect(errors).toEqual([]);
  });
});

describe('HTML report without a browser', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'exitscope-report-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('is one file that references nothing outside itself', async () => {
    const out = join(tmp, 'jbb.html');
    const r = await cli(['report', join(ROOT, 'traces', 'jbb.csv'), '--map', GUEST_MAP, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?(https?:)?\/\//i);
    expect(html).toMatch(/<script>\/\*! https:\/\/github\.com\/leeoniya\/uPlot/);
    const data = HtmlReportSchema.parse(JSON.parse(/<script type="application\/json" id="exitscope-data">([^<]*)<\/script>/.exec(html)![1]));
    expect(data.totals.exits).toBe(16_641);
    expect(data.functions.rows[0]).toMatchObject({ rank: 1, key: '[guest user]', count: 5_664 });
  });

  it('a trace without exits: the report says so, with no chart', async () => {
    const empty = join(tmp, 'noexits.csv');
    writeFileSync(empty, 'ts_ns,vcpu,reason,rip,duration_ns\n');
    const out = join(tmp, 'noexits.html');
    const r = await cli(['report', empty, '--map', GUEST_MAP, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/id="no-exits"><strong>No VM exits in this trace\.<\/strong>/);
    expect(html).not.toMatch(/<figure/);
  });

  it('an output path that cannot be written: one line, exit 2, before reading the trace', async () => {
    for (const [o, why] of [[join(tmp, 'no', 'such', 'dir', 'r.html'), 'no such directory'], [tmp, 'is a directory']] as const) {
      const r = await cli(['report', join(tmp, 'does-not-exist.csv'), '-o', o]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^exitscope: .*cannot write the report \\(${why}.*\\)\\n$`));
    }
  });

  it('--pass with several traces is refused (estimates replay one trace)', async () => {
    const t = join(ROOT, 'traces', 'jbb.csv');
    const r = await cli(['report', t, t, '--map', GUEST_MAP, '--pass', 'timer-hz:100', '-o', join(tmp, 'x.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/report --pass: estimates replay one trace/);
  });
});
