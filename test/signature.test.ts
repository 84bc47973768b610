// README "Signed URLs": ImageKit-compatible signed URLs, with the private key read from Secrets
// Manager through an injected client, expiry against an injected clock.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import ImageKit from 'imagekit';
import { signCommand, UsageError } from '../cli/commands/sign';
import { parseConfig } from '../lambda/config';
import { SecretStore, type SecretsClient } from '../lambda/origin/secrets';
import { NEVER_EXPIRES, selectSigningKey, signText, signUrl, signaturesMatch, signingKeysFromEnvironment, verifySignature } from '../lambda/request/signature';
import { parseRequestUrl } from '../lambda/request/parse-url';
import { cacheControlWithin, ImageService } from '../lambda/service/image-service';
import { decode, s3Origin, solidImage, startHarness, type Harness } from '../tools/harness';

const KEY = 'private_key_one';
const VAULT_KEY = 'vault_key_one';
const TTL_SECONDS = 300;
/** The secret as an operator writes it: the default key, and a named key for the isolated endpoint. */
const SECRET = { privateKey: KEY, privateKeys: { vault: VAULT_KEY } };

/** A stand-in for Secrets Manager (no local server exists for it): counts reads, holds a JSON secret. */
class FakeSecretsManager implements SecretsClient {
  reads = 0;
  secret: Record<string, unknown> = SECRET;
  async send(command: GetSecretValueCommand): Promise<{ SecretString?: string }> {
    this.reads++;
    expect(command.input.SecretId).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:afterimage');
    return { SecretString: JSON.stringify(this.secret) };
  }
}

let harness: Harness;
let clockMs = Date.now();
const secretsManager = new FakeSecretsManager();

function sdk(endpointPath = '', privateKey = KEY): ImageKit {
  return new ImageKit({ publicKey: 'public_test', privateKey, urlEndpoint: harness.baseUrl + endpointPath });
}

/** GETs a full URL built for the harness. */
function get(url: string) {
  expect(url.startsWith(harness.baseUrl)).toBe(true);
  return harness.get(url.slice(harness.baseUrl.length));
}

beforeAll(async () => {
  harness = await startHarness({
    buckets: ['images'],
    config: (s3) => ({
      origins: [s3Origin(s3, { name: 'main', bucket: 'images' })],
      endpoints: [
        { prefix: '', origins: ['main'] },
        { prefix: 'private', origins: ['main'], requireSignedUrls: true },
        { prefix: '/deep/prefix/', origins: ['main'], requireSignedUrls: true },
        { prefix: 'vault', origins: ['main'], requireSignedUrls: true, signingKeyName: 'vault' },
        { prefix: 'archive', origins: ['main'], requireSignedUrls: true, signingKeyName: 'archive' },
      ],
      cache: { secretTtlSeconds: TTL_SECONDS },
    }),
    seed: async (s3) => {
      await s3.put('images', 'shoe.jpg', await solidImage(400, 200, { r: 10, g: 120, b: 200 }));
      await s3.put('images', 'dir/with space+plus.jpg', await solidImage(40, 20, { r: 10, g: 120, b: 200 }));
    },
    deps: {
      secrets: new SecretStore('arn:aws:secretsmanager:eu-west-1:123456789012:secret:afterimage', TTL_SECONDS * 1000, secretsManager, () => clockMs),
      now: () => clockMs,
    },
  });
});

afterAll(() => harness.close());

describe('URLs signed by the ImageKit Node SDK verify', () => {
  const forms = [
    { name: 'path form, never expires', position: 'path' as const, expireSeconds: undefined },
    { name: 'query form, never expires', position: 'query' as const, expireSeconds: undefined },
    { name: 'path form, expiring', position: 'path' as const, expireSeconds: 600 },
    { name: 'query form, expiring', position: 'query' as const, expireSeconds: 600 },
  ];

  it.each(forms)('$name, on an endpoint with a prefix', async ({ position, expireSeconds }) => {
    for (const endpoint of ['/private', '/deep/prefix']) {
      const url = sdk(endpoint).url({ path: '/shoe.jpg', transformation: [{ width: 100 }, { rotation: 90 }], transformationPosition: position, signed: true, expireSeconds });
      expect(url).toContain('ik-s=');
      expect(url.includes('ik-t=')).toBe(expireSeconds !== undefined);
      const response = await get(url);
      expect(response.status).toBe(200);
      expect(await decode(response.body)).toMatchObject({ width: 50, height: 100 });
    }
  });

  it.each(forms)('$name, on the default endpoint (prefix "")', async ({ position, expireSeconds }) => {
    const url = sdk().url({ path: '/shoe.jpg', transformation: [{ width: 100 }], transformationPosition: position, signed: true, expireSeconds });
    expect((await get(url)).status).toBe(200);
  });

  it('over the path and tr only: other query parameters never reach the origin behind CloudFront', async () => {
    const url = sdk('/private').url({ path: '/shoe.jpg', transformation: [{ width: 100 }], transformationPosition: 'query', signed: true });
    expect((await get(`${url}&_a=x`)).status).toBe(200);
    // A URL signed over other parameters cannot verify: the edge drops them before the function sees them.
    const overOthers = sdk('/private').url({ path: '/shoe.jpg', queryParameters: { v: '3' }, transformation: [{ width: 100 }], transformationPosition: 'query', signed: true });
    expect((await get(overOthers)).status).toBe(401);
  });

  it('with a path that needs percent-encoding', async () => {
    const url = sdk('/private').url({ path: '/dir/with space+plus.jpg', signed: true });
    expect(url).toContain('with%20space+plus.jpg');
    expect((await get(url)).status).toBe(200);
  });

  it('without transformations', async () => {
    expect((await get(sdk('/private').url({ path: '/shoe.jpg', signed: true }))).status).toBe(200);
  });
});

describe('a missing, wrong or expired signature is a 401 with a reason', () => {
  async function expect401(url: string, reason: RegExp) {
    const response = await get(url);
    expect(response.status).toBe(401);
    expect(response.headers.get('x-afterimage-error')).toMatch(reason);
    expect(response.headers.get('cache-control')).toBe('public, max-age=60');
  }

  it('missing on an endpoint that requires it', async () => {
    await expect401(`${harness.baseUrl}/private/tr:w-100/shoe.jpg`, /^ESIGNATURE - This URL must be signed: ik-s is missing$/);
  });

  it('a tampered transformation, path, query or signature', async () => {
    const url = sdk('/private').url({ path: '/shoe.jpg', transformation: [{ width: 100 }], signed: true });
    await expect401(url.replace('w-100', 'w-101'), /^ESIGNATURE - The signature \(ik-s\) does not match this URL$/);
    await expect401(url.replace('shoe.jpg', 'shoe.jpg/'), /^E/);
    await expect401(`${url}&tr=w-5`, /^ESIGNATURE - The signature/);
    const signature = /ik-s=([0-9a-f]+)/.exec(url)![1];
    const flipped = signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0');
    await expect401(url.replace(signature, flipped), /^ESIGNATURE - The signature/);
    await expect401(url.replace(signature, signature.slice(0, 20)), /^ESIGNATURE - The signature/);
  });

  it('signed with another key', async () => {
    await expect401(sdk('/private', 'another_key').url({ path: '/shoe.jpg', signed: true }), /^ESIGNATURE - The signature/);
  });

  it('a changed ik-t', async () => {
    const url = sdk('/private').url({ path: '/shoe.jpg', signed: true, expireSeconds: 60 });
    const expiry = /ik-t=(\d+)/.exec(url)![1];
    await expect401(url.replace(`ik-t=${expiry}`, `ik-t=${Number(expiry) + 1000}`), /^ESIGNATURE - The signature/);
    await expect401(url.replace(`ik-t=${expiry}`, 'ik-t=soon'), /^ESIGNATURE - Invalid ik-t/);
  });

  it('expired: ik-t in the past of the injected clock', async () => {
    const url = sdk('/private').url({ path: '/shoe.jpg', signed: true, expireSeconds: 60 });
    const fresh = await get(url);
    expect(fresh.status).toBe(200);
    // Caches must not keep serving it past ik-t either.
    const maxAge = Number(/^public, max-age=(\d+)$/.exec(fresh.headers.get('cache-control')!)![1]);
    expect(maxAge).toBeGreaterThan(50);
    expect(maxAge).toBeLessThanOrEqual(60);
    clockMs += 61_000;
    try {
      await expect401(url, /^ESIGNATURE - This signed URL has expired/);
    } finally {
      clockMs -= 61_000;
    }
  });

  it('a far ik-t never lengthens the configured ages: each is the shorter of its own and the time left', async () => {
    const month = 30 * 86_400;
    const url = sdk('/private').url({ path: '/shoe.jpg', signed: true, expireSeconds: month });
    const header = (await get(url)).headers.get('cache-control')!;
    const [, browser, shared] = /^public, max-age=(\d+), s-maxage=(\d+)$/.exec(header)!;
    expect(Number(browser)).toBe(86_400); // output.cacheControl's max-age, not a month
    expect(Number(shared)).toBeGreaterThan(month - 10);
    expect(Number(shared)).toBeLessThanOrEqual(month);
  });

  it('the signature is checked before any origin I/O, after the plan', async () => {
    expect((await harness.get('/private/tr:w-abc/nothing-here.jpg')).status).toBe(400);
    expect((await harness.get('/private/nothing-here.jpg')).status).toBe(401);
  });
});

describe('an endpoint that does not require signatures', () => {
  it('serves unsigned URLs', async () => {
    expect((await harness.get('/tr:w-100/shoe.jpg')).status).toBe(200);
  });

  it('verifies a signature that is present, when a key is available (as ImageKit does)', async () => {
    const url = sdk().url({ path: '/shoe.jpg', transformation: [{ width: 100 }], signed: true });
    expect((await get(url.replace('w-100', 'w-90'))).status).toBe(401);
  });

  it('ignores a signature when no key is available', async () => {
    const config = parseConfig({ origins: [{ name: 'main', type: 's3', bucket: 'images' }] });
    const parsed = parseRequestUrl(config.endpoints, '/tr:w-100/shoe.jpg', 'ik-s=0000');
    await expect(verifySignature(parsed, undefined, Date.now())).resolves.toBeUndefined();
    await expect(verifySignature(parsed, () => undefined, Date.now())).resolves.toBeUndefined();
  });
});

describe('the private key comes from the Secrets Manager secret', () => {
  it('is read once, reused while fresh, re-read after the TTL (a rotated key takes effect)', async () => {
    clockMs += (TTL_SECONDS + 1) * 1000; // start from a stale cache
    const before = secretsManager.reads;
    const url = sdk('/private').url({ path: '/shoe.jpg', signed: true });
    expect((await get(url)).status).toBe(200);
    expect((await get(url)).status).toBe(200);
    expect(secretsManager.reads).toBe(before + 1);

    secretsManager.secret = { privateKey: 'private_key_two' };
    expect((await get(url)).status).toBe(200); // still the cached key
    clockMs += (TTL_SECONDS + 1) * 1000;
    expect((await get(url)).status).toBe(401);
    expect(secretsManager.reads).toBe(before + 2);
    expect((await get(sdk('/private', 'private_key_two').url({ path: '/shoe.jpg', signed: true }))).status).toBe(200);
    secretsManager.secret = SECRET;
    clockMs += (TTL_SECONDS + 1) * 1000;
  });

  it('a required signature with no key configured is a 500 that names no secret', async () => {
    const config = parseConfig({ origins: [{ name: 'main', type: 's3', bucket: 'images', credentials: { source: 'default-chain' } }], endpoints: [{ prefix: '', origins: ['main'], requireSignedUrls: true }] });
    const service = new ImageService(config, { signingKey: () => undefined });
    const response = await service.handle({ method: 'GET', rawPath: '/shoe.jpg', rawQuery: 'ik-s=abc', headers: {} });
    expect(response.status).toBe(500);
    expect(response.body.toString()).toBe('Signed URLs cannot be verified: no private key is configured\n');
  });
});

describe('each signed endpoint can verify with its own key (signingKeyName)', () => {
  const signedFor = (endpoint: string, key: string) => sdk(endpoint, key).url({ path: '/shoe.jpg', transformation: [{ width: 100 }], signed: true });
  const moved = (url: string, from: string, to: string) => url.replace(`${harness.baseUrl}${from}/`, `${harness.baseUrl}${to}/`);

  it('with one shared key, a URL signed for one endpoint opens the same path on another (what sharing means)', async () => {
    const url = signedFor('/private', KEY);
    expect((await get(url)).status).toBe(200);
    expect((await get(moved(url, '/private', '/deep/prefix'))).status).toBe(200);
  });

  it("a URL signed with one endpoint's key is a 401 on another endpoint, both ways", async () => {
    const forPrivate = signedFor('/private', KEY);
    const forVault = signedFor('/vault', VAULT_KEY);
    expect((await get(forVault)).status).toBe(200);
    for (const url of [moved(forPrivate, '/private', '/vault'), moved(forVault, '/vault', '/private'), moved(forVault, '/vault', '/deep/prefix')]) {
      const response = await get(url);
      expect(response.status).toBe(401);
      expect(response.headers.get('x-afterimage-error')).toBe('ESIGNATURE - The signature (ik-s) does not match this URL');
    }
  });

  it('a named endpoint never falls back to the default key: no key of its name is a 500', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const response = await get(signedFor('/archive', KEY));
      expect(response.status).toBe(500);
      expect(response.body.toString()).toBe('Signed URLs cannot be verified: no private key is configured\n');
      expect(errors.mock.calls.flat().join(' ')).toContain('privateKeys.archive');
      expect((await get(`${harness.baseUrl}/archive/shoe.jpg`)).status).toBe(401);
    } finally {
      errors.mockRestore();
    }
  });

  it('rotation: [new, old] both verify; the keys are re-read after the TTL', async () => {
    clockMs += (TTL_SECONDS + 1) * 1000;
    const before = secretsManager.reads;
    const oldUrl = signedFor('/vault', VAULT_KEY);
    const newUrl = signedFor('/vault', 'vault_key_two');
    expect((await get(oldUrl)).status).toBe(200);

    // Step 1: the new key is added first; until the TTL passes the cached secret is used.
    secretsManager.secret = { privateKey: KEY, privateKeys: { vault: ['vault_key_two', VAULT_KEY] } };
    expect((await get(newUrl)).status).toBe(401);
    clockMs += (TTL_SECONDS + 1) * 1000;
    expect((await get(newUrl)).status).toBe(200);
    expect((await get(oldUrl)).status).toBe(200);
    expect(secretsManager.reads).toBe(before + 2);

    // Step 2: once every URL in use is signed with the new key, the old one is dropped.
    secretsManager.secret = { privateKey: KEY, privateKeys: { vault: 'vault_key_two' } };
    clockMs += (TTL_SECONDS + 1) * 1000;
    expect((await get(oldUrl)).status).toBe(401);
    expect((await get(newUrl)).status).toBe(200);
    expect(secretsManager.reads).toBe(before + 3);

    // The default key rotates the same way.
    secretsManager.secret = { privateKey: ['private_key_two', KEY], privateKeys: { vault: VAULT_KEY } };
    clockMs += (TTL_SECONDS + 1) * 1000;
    expect((await get(signedFor('/private', KEY))).status).toBe(200);
    expect((await get(signedFor('/private', 'private_key_two'))).status).toBe(200);
    expect((await get(signedFor('/private', 'private_key_three'))).status).toBe(401);
    secretsManager.secret = SECRET;
    clockMs += (TTL_SECONDS + 1) * 1000;
  });

  it('a malformed key entry (three keys, not a string) is a 500 naming the field, never a value', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      for (const vault of [['a', 'b', 'c'], [], 42, ['a', '']]) {
        secretsManager.secret = { privateKey: KEY, privateKeys: { vault } };
        clockMs += (TTL_SECONDS + 1) * 1000;
        const response = await get(signedFor('/vault', 'a'));
        expect(response.status).toBe(500);
        expect(response.body.toString()).toBe('Signed URLs cannot be verified: the private key is malformed\n');
      }
      const logged = errors.mock.calls.flat().join(' ');
      expect(logged).toContain('privateKeys.vault must be a key');
      expect(logged).not.toMatch(/"a"|\ba\b.*\bb\b/);
    } finally {
      errors.mockRestore();
      secretsManager.secret = SECRET;
      clockMs += (TTL_SECONDS + 1) * 1000;
    }
  });

  it('the configuration takes a key name, never a key', () => {
    const config = (signingKeyName: unknown) => () => parseConfig({ origins: [{ name: 'm', type: 's3', bucket: 'b' }], endpoints: [{ prefix: '', origins: ['m'], signingKeyName }] });
    expect(config('vault')().endpoints[0].signingKeyName).toBe('vault');
    expect(config('sk/Abc+123=')).toThrow(/expected the name of a key in the secret's privateKeys .* for endpoints\[0\]\.signingKeyName but received "…"/);
    expect(config('sk/Abc+123=')).not.toThrow(/Abc/);
    expect(config(7)).toThrow(/endpoints\[0\]\.signingKeyName/);
  });

  it('local runs: AFTERIMAGE_PRIVATE_KEY is the default key, AFTERIMAGE_PRIVATE_KEYS the named ones', () => {
    const set = signingKeysFromEnvironment({ AFTERIMAGE_PRIVATE_KEY: KEY, AFTERIMAGE_PRIVATE_KEYS: JSON.stringify({ vault: ['new', 'old'] }) })!;
    expect(selectSigningKey(set, undefined)).toBe(KEY);
    expect(selectSigningKey(set, 'vault')).toEqual(['new', 'old']);
    expect(selectSigningKey(set, 'archive')).toBeUndefined();
    expect(selectSigningKey(set, 'constructor')).toBeUndefined();
    expect(signingKeysFromEnvironment({})).toBeUndefined();
    expect(() => signingKeysFromEnvironment({ AFTERIMAGE_PRIVATE_KEYS: 'vault=abc' })).toThrow(/AFTERIMAGE_PRIVATE_KEYS must be a JSON object of key names/);
  });
});

describe('the comparison is constant-time', () => {
  it('uses crypto.timingSafeEqual, also when the lengths differ', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      const good = signText('tr:w-100/shoe.jpg', NEVER_EXPIRES, KEY);
      expect(signaturesMatch(good, good)).toBe(true);
      expect(signaturesMatch(good, good.toUpperCase())).toBe(true);
      expect(signaturesMatch(good, good.slice(1))).toBe(false);
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
  });

  it('signs what ImageKit signs: HMAC-SHA1 of the text and the expiry, lowercase hex', () => {
    const expected = crypto.createHmac('sha1', KEY).update('tr:w-100/shoe.jpg9999999999').digest('hex');
    expect(signText('tr:w-100/shoe.jpg', NEVER_EXPIRES, KEY)).toBe(expected);
    expect(signUrl('https://cdn.example.com/img/tr:w-100/shoe.jpg', 'https://cdn.example.com/img', KEY)).toBe(`https://cdn.example.com/img/tr:w-100/shoe.jpg?ik-s=${expected}`);
  });
});

describe('npm run sign', () => {
  const now = () => clockMs;

  it('signs only the tr query, so a URL with other parameters still verifies', async () => {
    const url = signCommand([`${harness.baseUrl}/private/shoe.jpg?v=3&tr=w-100`, '--endpoint', `${harness.baseUrl}/private/`], { AFTERIMAGE_PRIVATE_KEY: KEY }, now());
    expect(url).toMatch(/\?v=3&tr=w-100&ik-s=[0-9a-f]{40}$/);
    expect((await get(url)).status).toBe(200);
  });

  it('signs a URL that then verifies, with and without --expires', async () => {
    const plain = signCommand([`${harness.baseUrl}/private/tr:w-100/shoe.jpg`, '--endpoint', `${harness.baseUrl}/private/`], { AFTERIMAGE_PRIVATE_KEY: KEY }, now());
    expect(plain).toMatch(/\?ik-s=[0-9a-f]{40}$/);
    expect((await get(plain)).status).toBe(200);

    const expiring = signCommand([`${harness.baseUrl}/deep/prefix/shoe.jpg?tr=w-100`, `--endpoint=${harness.baseUrl}/deep/prefix`, '--expires', '120'], { AFTERIMAGE_PRIVATE_KEY: KEY }, now());
    expect(expiring).toMatch(new RegExp(`\\?tr=w-100&ik-t=${Math.floor(now() / 1000) + 120}&ik-s=[0-9a-f]{40}$`));
    expect((await get(expiring)).status).toBe(200);
  });

  it('produces what the SDK produces, and replaces an old signature', () => {
    const bySdk = new ImageKit({ publicKey: 'p', privateKey: KEY, urlEndpoint: 'https://cdn.example.com/img' }).url({ path: '/shoe.jpg', transformation: [{ width: 300 }], signed: true });
    const byCommand = signCommand(['https://cdn.example.com/img/tr:w-300/shoe.jpg?ik-s=old', '--endpoint', 'https://cdn.example.com/img'], { AFTERIMAGE_PRIVATE_KEY: KEY }, now());
    expect(byCommand).toBe(bySdk);
  });

  it('reads the key from --key-file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afterimage-key-'));
    try {
      writeFileSync(join(dir, 'key'), `${KEY}\n`);
      const url = signCommand([`${harness.baseUrl}/private/shoe.jpg`, '--endpoint', `${harness.baseUrl}/private`, '--key-file', join(dir, 'key')], {}, now());
      expect((await get(url)).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('signs with a named key (--key-name): the first of [new, old] during a rotation', async () => {
    const env = { AFTERIMAGE_PRIVATE_KEY: KEY, AFTERIMAGE_PRIVATE_KEYS: JSON.stringify({ vault: [VAULT_KEY, 'vault_key_zero'] }) };
    const url = signCommand([`${harness.baseUrl}/vault/tr:w-100/shoe.jpg`, '--endpoint', `${harness.baseUrl}/vault/`, '--key-name', 'vault'], env, now());
    expect((await get(url)).status).toBe(200);
    expect(url).toBe(signUrl(`${harness.baseUrl}/vault/tr:w-100/shoe.jpg`, `${harness.baseUrl}/vault/`, VAULT_KEY));
    // Signed with the default key instead, it does not open the vault.
    const byDefault = signCommand([`${harness.baseUrl}/vault/tr:w-100/shoe.jpg`, '--endpoint', `${harness.baseUrl}/vault/`], env, now());
    expect((await get(byDefault)).status).toBe(401);
    expect(() => signCommand(['https://cdn/x.jpg', '--key-name=nope'], env, now())).toThrow(/No private key: AFTERIMAGE_PRIVATE_KEYS has no key "nope"/);
    expect(() => signCommand(['https://cdn/x.jpg', '--key-name', 'vault', '--key-file', 'k'], env, now())).toThrow(/--key-name and --key-file: give one of them/);
    expect(() => signCommand(['https://cdn/x.jpg', '--key-name', 'vault'], { AFTERIMAGE_PRIVATE_KEYS: '{' }, now())).toThrow(/must be a JSON object/);
  });

  it('explains what is wrong', () => {
    expect(() => signCommand([], {}, now())).toThrow(UsageError);
    expect(() => signCommand(['https://cdn/x.jpg'], {}, now())).toThrow(/No private key: set AFTERIMAGE_PRIVATE_KEY or pass --key-file/);
    expect(() => signCommand(['https://cdn/x.jpg', '--expires', 'soon'], { AFTERIMAGE_PRIVATE_KEY: KEY }, now())).toThrow(/--expires must be a whole number of seconds/);
    expect(() => signCommand(['https://cdn/x.jpg', '--endpoint', 'https://other/'], { AFTERIMAGE_PRIVATE_KEY: KEY }, now())).toThrow(/does not start with the endpoint/);
    expect(() => signCommand(['https://cdn/x.jpg', '--key', 'secret'], {}, now())).toThrow(/unknown option --key/);
  });
});

describe('npm start takes the keys from AFTERIMAGE_PRIVATE_KEY and AFTERIMAGE_PRIVATE_KEYS', () => {
  it('verifies the default and the named endpoint each with its own key', async () => {
    const root = join(__dirname, '..');
    const dir = mkdtempSync(join(tmpdir(), 'afterimage-keys-'));
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({
      origins: [s3Origin(harness.s3, { name: 'main', bucket: 'images' })],
      endpoints: [
        { prefix: 'private', origins: ['main'], requireSignedUrls: true },
        { prefix: 'vault', origins: ['main'], requireSignedUrls: true, signingKeyName: 'vault' },
      ],
    }));
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'local/start.ts'), '--config', configFile], {
      cwd: root,
      env: { ...process.env, PORT: '0', AFTERIMAGE_PRIVATE_KEY: KEY, AFTERIMAGE_PRIVATE_KEYS: JSON.stringify({ vault: ['vault_new', VAULT_KEY] }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (text: string) => {
          out += text;
          const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (match) resolve(match[1]);
        });
        child.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      const status = async (url: string) => (await fetch(url)).status;
      const sign = (endpoint: string, key: string) => signUrl(`${base}/${endpoint}/tr:w-50/shoe.jpg`, `${base}/${endpoint}/`, key);
      expect(await status(sign('private', KEY))).toBe(200);
      expect(await status(sign('vault', VAULT_KEY))).toBe(200);
      expect(await status(sign('vault', 'vault_new'))).toBe(200);
      expect(await status(sign('vault', KEY))).toBe(401);
      expect(await status(sign('private', VAULT_KEY))).toBe(401);
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cacheControlWithin: a response cached no longer than a signed URL lives (ik-t) or a default image should stay', () => {
  it.each([
    ['public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400', 3600, 'public, max-age=3600'],
    ['public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400', 2_592_000, 'public, max-age=86400, s-maxage=2592000'],
    ['public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400', 98_204_000_962, 'public, max-age=86400, s-maxage=31536000'],
    ['public, max-age=31536000, immutable', 300, 'public, max-age=300'],
    ['private, max-age=600, stale-if-error=60', 60, 'private, max-age=60'],
    ['public', 120, 'public, max-age=120'],
    ['no-store', 120, 'no-store'],
    ['public, s-maxage=100', 300, 'public, max-age=300, s-maxage=100'],
  ])('%s within %i s: %s', (header, seconds, expected) => {
    expect(cacheControlWithin(header, seconds)).toBe(expected);
  });
});
