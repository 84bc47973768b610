// Keys kept in Secrets Manager: read once per container, re-read after a TTL so a rotated
// key takes effect without a redeploy. The client is injected so tests need no module mocks.

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { originRefused } from '../errors';

/** The secret's JSON. Bucket keys for origins with `credentials.source: 'secret'`, and the signing key. */
export interface SecretValue {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** ImageKit-style private key for signed URLs (README "Signed URLs"): the default key. `[current, previous]` during a rotation. */
  privateKey?: string | string[];
  /** Named signing keys, one per isolated endpoint (`endpoints[].signingKeyName`); each a key or `[current, previous]`. */
  privateKeys?: Record<string, string | string[]>;
  /** Values of web origins' request headers, by the field names their `secretHeaders` give (README "Web and Cloudinary origins"). */
  originHeaders?: Record<string, string>;
}

export interface SecretsClient {
  send(command: GetSecretValueCommand): Promise<{ SecretString?: string }>;
}

export class SecretStore {
  private cached?: { value: SecretValue; expiresAt: number };
  private pending?: Promise<SecretValue>;

  constructor(
    private readonly secretId: string,
    private readonly ttlMs: number,
    private readonly client: SecretsClient = new SecretsManagerClient({}),
    private readonly now: () => number = Date.now,
  ) {}

  /** The secret's value, from memory while fresh. Concurrent callers share one read. */
  async get(): Promise<SecretValue> {
    if (this.cached && this.now() < this.cached.expiresAt) return this.cached.value;
    this.pending ??= this.read().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** When the value now held stops being fresh (for credential expiry). */
  get expiresAt(): number {
    return this.cached?.expiresAt ?? this.now();
  }

  private async read(): Promise<SecretValue> {
    let text: string | undefined;
    try {
      const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
      text = result.SecretString;
    } catch (error) {
      const name = (error as Error).name ?? 'Error';
      console.error(`afterimage: reading secret failed: ${name}`);
      throw originRefused('The origin keys could not be read from Secrets Manager');
    }
    let value: SecretValue;
    try {
      value = JSON.parse(text ?? '') as SecretValue;
    } catch {
      throw originRefused('The Secrets Manager secret is not JSON like {"accessKeyId": ..., "secretAccessKey": ...}');
    }
    this.cached = { value, expiresAt: this.now() + this.ttlMs };
    return value;
  }
}
