// The playground page end to end in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): `npm start` as a user runs it, the page loaded, a parameter changed, the image
// shown checked for its new size, and the URL the page offers fetched again: the same bytes.
// Chromium is required: without it this test fails and says how to install it.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';

jest.setTimeout(90_000);

// The callbacks given to page.evaluate run in the page; the project compiles without the DOM's types.
declare const document: {
  getElementById(id: string): { dataset: Record<string, string | undefined>; complete: boolean; naturalWidth: number; src: string; value: string };
};

const root = resolve(__dirname, '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let server: ChildProcess;
let playground: string;
let profile: string;
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

function startServer(): Promise<string> {
  server = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'local/start.ts')], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`npm start did not print the playground's URL in time:\n${output}`)), 40_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /playground: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        done(url);
      }
    };
    server.stdout!.on('data', read);
    server.stderr!.on('data', read);
    server.once('exit', (code) => fail(new Error(`npm start exited (${code}):\n${output}`)));
  });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`The playground test needs Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  playground = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'afterimage-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, viewport: { width: 1280, height: 900 } });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(playground);
});

afterAll(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
});

/** Waits until the result shown is the answer to the URL now displayed, at the given width. */
async function resultShownAt(width: number): Promise<void> {
  await page.waitForFunction(
    (w) => {
      const img = document.getElementById('result');
      return img.dataset.ready === 'true' && img.complete && img.naturalWidth === w;
    },
    width,
    { timeout: 20_000 },
  );
}

/** The bytes of the image the page shows (its blob), read inside the page. */
async function shownBytes(): Promise<Buffer> {
  const base64 = await page.evaluate(async () => {
    const img = document.getElementById('result');
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  });
  return Buffer.from(base64, 'base64');
}

/** The URL the page offers to copy, fetched from the test as the page fetched it (same Accept). */
async function fetchOffered(): Promise<{ url: string; bytes: Buffer }> {
  const url = await page.inputValue('#url');
  const accept = await page.getAttribute('#url', 'data-accept');
  const res = await fetch(url, { headers: { accept: accept ?? '*/*' } });
  expect(res.status).toBe(200);
  return { url, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('the playground at / of npm start', () => {
  it('shows the first sample, original and result', async () => {
    await resultShownAt(1600);
    expect(await page.evaluate(() => (document.getElementById('original')).naturalWidth)).toBe(1600);
    expect(await page.inputValue('#path')).toBe('products/landscape.jpg');
    expect(await page.textContent('#headers')).toMatch(/^200 OK\n[\s\S]*content-type: image\//);
  });

  it('changing the width shows an image of the new width, and the offered URL serves the same bytes', async () => {
    await page.fill('#w', '240');
    await resultShownAt(240);
    const { url, bytes } = await fetchOffered();
    expect(url).toBe(`${playground}tr:w-240/products/landscape.jpg`);
    const shown = await shownBytes();
    expect(shown.length).toBeGreaterThan(0);
    expect(bytes.equals(shown)).toBe(true);
    expect((await sharp(bytes).metadata()).width).toBe(240);
    expect(await page.textContent('#result-meta')).toContain(`240×160 ·`);
    expect(await page.textContent('#result-meta')).toContain(`${(shown.length / 1024).toFixed(1)} KB`);
  });

  it('the ?tr= form gives the same image', async () => {
    await page.check('input[name=form][value=query]');
    await page.waitForFunction(() => (document.getElementById('url')).value.includes('?tr='));
    await resultShownAt(240);
    const { url, bytes } = await fetchOffered();
    expect(url).toBe(`${playground}products/landscape.jpg?tr=w-240`);
    expect(bytes.equals(await shownBytes())).toBe(true);
  });

  it('builds Cloudinary URLs on the endpoint that accepts them', async () => {
    await page.selectOption('#endpoint', { label: '/demo (Cloudinary URLs)' });
    await page.fill('#w', '200');
    await page.check('input[name=form][value=cloudinary]');
    await page.waitForFunction(() => (document.getElementById('url')).value.includes('/w_200/'));
    await resultShownAt(200);
    const { url, bytes } = await fetchOffered();
    expect(url).toBe(`${playground}demo/image/upload/w_200/products/sneaker.jpg`);
    expect(bytes.equals(await shownBytes())).toBe(true);
  });

  it('writes layers into the chain (the URL only: rendering layers is not part of this test)', async () => {
    await page.selectOption('#endpoint', { label: '/ (default)' });
    await page.check('input[name=form][value=path]');
    await page.check('#text-on');
    await page.check('#image-on');
    await page.waitForFunction(() => (document.getElementById('url')).value.includes('l-image'));
    expect(await page.inputValue('#url')).toBe(
      `${playground}tr:w-200,l-text,i-Hello,fs-40,co-FFFFFF,lx-20,ly-20,l-end,l-image,i-brand@@badge.png,w-120,lfo-bottom_right,l-end/products/landscape.jpg`,
    );
  });

  it('raised no error in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
