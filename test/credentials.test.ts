// Bucket keys from Secrets Manager: read once per container, re-read after the TTL so a
// rotated key takes effect. Secrets Manager has no local server, so its client is injected;
// S3 traffic is real (s3rver behind a recording proxy that reads the SigV4 key id).

import type { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { HttpError } from '../lambda/errors';
import { SecretStore, type SecretsClient } from '../lambda/origin/secrets';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { solidImage, startHarness, type Harness } from '../tools/harness';

/** A Secrets Manager stand-in: returns the current value and counts reads. */
function fakeSecrets(initial: string): SecretsClient & { value: string; reads: number; fail?: Error } {
  const client = {
    value: initial,
    reads: 0,
    fail: undefined as Error | undefined,
    async send(command: GetSecretValueCommand) {
      client.reads++;
      expect(command.input.SecretId).toBe('arn:aws:secretsmanager:us-east-1:111111111111:secret:afterimage');
      if (client.fail) throw client.fail;
      return { SecretString: client.value };
    },
  };
  return client;
}

// s3rver checks the key id and signature against its accounts; register the keys the secret hands out.
const s3rverAccounts = require('s3rver/lib/models/account') as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
};

const ARN = 'arn:aws:secretsmanager:us-east-1:111111111111:secret:afterimage';
const keys = (id: string) => JSON.stringify({ accessKeyId: id, secretAccessKey: `${id}-secret` });

describe('secret store: read once, refreshed after the TTL', () => {
  it('reads once while fresh, and shares one read between concurrent callers', async () => {
    const client = fakeSecrets(keys('AKIAFIRST'));
    const store = new SecretStore(ARN, 1000, client, () => 0);
    const values = await Promise.all([store.get(), store.get(), store.get()]);
    await store.get();
    expect(values.map((v) => v.accessKeyId)).toEqual(['AKIAFIRST', 'AKIAFIRST', 'AKIAFIRST']);
    expect(client.reads).toBe(1);
  });

  it('re-reads after the TTL, so a rotated key takes effect', async () => {
    let now = 0;
    const client = fakeSecrets(keys('AKIAFIRST'));
    const store = new SecretStore(ARN, 1000, client, () => now);
    expect((await store.get()).accessKeyId).toBe('AKIAFIRST');
    client.value = keys('AKIASECOND');
    now = 999;
    expect((await store.get()).accessKeyId).toBe('AKIAFIRST');
    now = 1000;
    expect((await store.get()).accessKeyId).toBe('AKIASECOND');
    expect(client.reads).toBe(2);
  });

  it('answers 502 EACCES when the secret cannot be read or is not JSON, without leaking the cause', async () => {
    const failing = fakeSecrets('');
    failing.fail = Object.assign(new Error('User arn:aws:iam::1:role/x is not authorized'), { name: 'AccessDeniedException' });
    const error = await new SecretStore(ARN, 1000, failing).get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: 502, code: 'EACCES' });
    expect((error as Error).message).not.toMatch(/arn:aws:iam/);

    const notJson = await new SecretStore(ARN, 1000, fakeSecrets('AKIA…')).get().catch((e: unknown) => e);
    expect(notJson).toMatchObject({ status: 502, code: 'EACCES' });
  });
});

describe('origins with credentials.source "secret" sign S3 requests with the current key', () => {
  let proxy: FaultProxy;
  let h: Harness;
  let now = 0;
  const client = fakeSecrets(keys('AKIAFIRST'));

  beforeAll(async () => {
    h = await startHarness({
      buckets: ['secure'],
      seed: async (s3) => {
        await s3.put('secure', 'a.jpg', await solidImage(40, 30, { r: 9, g: 9, b: 9 }), 'image/jpeg');
        proxy = await startFaultProxy(s3.endpoint);
      },
      config: () => ({
        origins: [{ name: 'secure', type: 's3', bucket: 'secure', endpoint: proxy.endpoint, credentials: { source: 'secret' } }],
        // Every request signs a GET (the cache of originals would answer the repeats).
        limits: { originalCacheMB: 0 },
      }),
      deps: { secrets: new SecretStore(ARN, 60_000, client, () => now) },
    });
  });
  afterAll(async () => {
    await h.close();
    await proxy.close();
  });

  it('uses the secret\'s key, keeps it for the TTL, and picks up a rotated key after it', async () => {
    s3rverAccounts.DUMMY_ACCOUNT.createKeyPair('AKIAFIRST', 'AKIAFIRST-secret');
    s3rverAccounts.DUMMY_ACCOUNT.createKeyPair('AKIASECOND', 'AKIASECOND-secret');
    expect((await h.get('/a.jpg')).status).toBe(200);
    expect((await h.get('/tr:w-10/a.jpg')).status).toBe(200);
    // Rotation: the new key is put in the secret, the old one revoked at the bucket.
    client.value = keys('AKIASECOND');
    s3rverAccounts.DUMMY_ACCOUNT.revokeAccessKey('AKIAFIRST');
    now += 30_000;
    const stale = await h.get('/tr:w-11/a.jpg');
    expect(stale.status).toBe(502); // within the TTL the old, revoked key is still used: refused, not hidden
    expect(stale.headers.get('x-afterimage-error')).toMatch(/^EACCES - /);
    now += 30_000;
    expect((await h.get('/tr:w-12/a.jpg')).status).toBe(200);
    expect(proxy.requests.map((r) => r.accessKeyId)).toEqual(['AKIAFIRST', 'AKIAFIRST', 'AKIAFIRST', 'AKIASECOND']);
    s3rverAccounts.DUMMY_ACCOUNT.revokeAccessKey('AKIASECOND');
    expect(client.reads).toBe(2);
  });

  it('answers 502 EACCES naming the fix while the secret still holds the empty placeholder', async () => {
    client.value = JSON.stringify({ accessKeyId: '', secretAccessKey: '', placeholder: 'x' });
    now += 60_000;
    const res = await h.get('/tr:w-13/a.jpg');
    expect(res.status).toBe(502);
    expect(res.headers.get('x-afterimage-error')).toMatch(/^EACCES - .*secret holds no accessKeyId/);
  });
});
