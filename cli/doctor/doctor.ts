// `afterimage doctor`: checks a configuration before it is deployed. Validates the file, then, with
// the keys the function would use (or the user's own), lists and reads every S3 origin and resolves
// sample paths through every origin of every endpoint, printing one ✓/✗ line per step and a fix
// under each ✗. Every client is injected, so the tests run it against a local S3 server.

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, parseConfig, type AfterimageConfig, type LimitsConfig, type OriginConfig } from '../../lambda/config';
import { HttpError } from '../../lambda/errors';
import { folderPrefix } from '../../lambda/origin/keys';
import { createOriginalCache, createOrigins, createPreferenceLists } from '../../lambda/origin/registry';
import { createS3Client } from '../../lambda/origin/s3';
import { keyField, selectSigningKey, signingKeysOf } from '../../lambda/request/signature';
import type { SecretsClient, SecretValue } from '../../lambda/origin/secrets';
import { describeS3Failure } from './diagnosis';

/** Where the keys of the origins come from. */
export type DoctorKeys =
  /** Each origin's own `credentials`; origins that read the stack's secret use the user's default AWS chain instead. */
  | { source: 'configured' }
  /** The stack's secret, read with the user's credentials (as the function reads it). */
  | { source: 'secret'; secretId: string; client?: SecretsClient }
  /** One key pair for every origin. */
  | { source: 'keys'; accessKeyId: string; secretAccessKey: string; sessionToken?: string };

export interface DoctorOptions {
  /** The configuration as written (parsed JSON), and the name to show for it. */
  config: unknown;
  configName: string;
  /** Validate as the CDK construct does (`target: 'lambda'`): refuses keys written in the file. */
  lambda?: boolean;
  keys: DoctorKeys;
  /** Paths to resolve (after an endpoint's prefix), e.g. `products/shoe.jpg`. */
  samples: string[];
  /** Replaces the S3 client of an origin (tests). */
  createClient?: (origin: OriginConfig) => S3Client;
  /** Receives each line of the report. */
  print: (line: string) => void;
}

export interface DoctorResult {
  failures: number;
  warnings: number;
}

class Report {
  failures = 0;
  warnings = 0;
  constructor(private readonly print: (line: string) => void) {}
  ok(text: string): void {
    this.print(`✓ ${text}`);
  }
  fail(text: string, fix: string[]): void {
    this.failures++;
    this.print(`✗ ${text}`);
    for (const line of fix) this.print(`    fix: ${line}`);
  }
  warn(text: string): void {
    this.warnings++;
    this.print(`! ${text}`);
  }
  note(text: string): void {
    this.print(`  ${text}`);
  }
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorResult> {
  const report = new Report(options.print);
  let config: AfterimageConfig;
  try {
    config = parseConfig(options.config, { target: options.lambda ? 'lambda' : 'any' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) report.fail(`configuration ${options.configName}: ${problem}`, ['edit the file (README "Configuration")']);
    return report;
  }
  report.ok(`configuration ${options.configName} is valid: ${config.origins.length} origin(s), ${config.endpoints.length} endpoint(s)`);

  // One attempt per call: the doctor reports what failed; retries would only make it slow.
  const limits: LimitsConfig = { ...config.limits, originRetries: 0 };
  const checked = { ...config, limits };
  const origins = await originsWithKeys(config, options.keys, report);
  if (!origins) return report;
  const clients = new Map<string, S3Client>();
  const clientFor = (origin: OriginConfig): S3Client => {
    let client = clients.get(origin.name);
    if (!client) {
      const withKeys = origins.get(origin.name) ?? origin;
      client = options.createClient?.(withKeys) ?? createS3Client(withKeys, { limits });
      clients.set(origin.name, client);
    }
    return client;
  };
  try {
    for (const origin of config.origins) await checkOrigin(origin, clientFor(origin), limits, report);
    if (options.samples.length === 0) {
      report.note('no --sample given: paths were not resolved through the endpoints');
    } else {
      await resolveSamples(checked, options.samples, clientFor, report);
    }
  } finally {
    for (const client of clients.values()) client.destroy();
  }
  return report;
}

/** Each origin with the keys the checks use, or undefined when they cannot be had (reported). */
async function originsWithKeys(config: AfterimageConfig, keys: DoctorKeys, report: Report): Promise<Map<string, OriginConfig> | undefined> {
  const origins = config.origins;
  const result = new Map<string, OriginConfig>();
  if (keys.source === 'keys') {
    const { accessKeyId, secretAccessKey, sessionToken } = keys;
    for (const o of origins) result.set(o.name, { ...o, credentials: { source: 'static', accessKeyId, secretAccessKey, sessionToken } });
    report.ok(`keys: access key ${accessKeyId} for every origin`);
    return result;
  }
  if (keys.source === 'secret') {
    const value = await readSecret(keys.secretId, keys.client ?? new SecretsManagerClient({}), report);
    if (!value) return undefined;
    if (!value.accessKeyId || !value.secretAccessKey) {
      report.fail(`secret ${keys.secretId} holds no accessKeyId/secretAccessKey yet`, [
        `aws secretsmanager put-secret-value --secret-id ${keys.secretId} --secret-string '{"accessKeyId": "…", "secretAccessKey": "…"}' (README "Deploying to AWS")`,
      ]);
      return undefined;
    }
    report.ok(`keys: secret ${keys.secretId} holds access key ${value.accessKeyId}`);
    checkSigningKeys(config, value, keys.secretId, report);
    for (const o of origins) {
      const source = o.credentials?.source ?? 'secret';
      result.set(o.name, source === 'secret'
        ? { ...o, credentials: { source: 'static', accessKeyId: value.accessKeyId, secretAccessKey: value.secretAccessKey, sessionToken: value.sessionToken } }
        : o);
    }
    return result;
  }
  for (const o of origins) {
    const source = o.credentials?.source ?? 'secret';
    if (source === 'secret') {
      // The function's keys are in the secret; without --secret, the user's own identity stands in.
      report.note(`origin "${o.name}" reads its keys from the stack's secret: checking with your own AWS credentials (pass --secret <arn> to check the function's keys)`);
      result.set(o.name, { ...o, credentials: { source: 'default-chain' } });
    } else if (source === 'env' && (!process.env.AWS_ACCESS_KEY_ID || !process.env.AWS_SECRET_ACCESS_KEY)) {
      report.fail(`origin "${o.name}" reads its keys from the environment, but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set`, [
        'export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --access-key-id (the secret key from AFTERIMAGE_SECRET_ACCESS_KEY)',
      ]);
      return undefined;
    } else {
      result.set(o.name, o);
    }
  }
  return result;
}

/** Each endpoint that verifies signatures finds its key in the secret (the field named, never the key). */
function checkSigningKeys(config: AfterimageConfig, value: SecretValue, secretId: string, report: Report): void {
  for (const endpoint of config.endpoints) {
    const name = endpoint.signingKeyName;
    if (!endpoint.requireSignedUrls && name === undefined) continue;
    const at = endpoint.prefix === '' ? '/' : `/${endpoint.prefix}/`;
    const field = keyField(name);
    let keys: string[] | undefined;
    try {
      keys = signingKeysOf(selectSigningKey(value, name), field);
    } catch {
      report.fail(`endpoint ${at}: the secret's ${field} is malformed`, ['make it a key (a string), or ["new key", "old key"] during a rotation (README "Signed URLs")']);
      continue;
    }
    if (keys) report.ok(`endpoint ${at}: signed URLs verify with the secret's ${field} (${keys.length} key${keys.length > 1 ? 's, a rotation' : ''})`);
    else if (endpoint.requireSignedUrls) {
      report.fail(`endpoint ${at} requires signed URLs, but the secret ${secretId} has no ${field}: every request there is a 500`, [
        `add ${name === undefined ? '"privateKey": "…"' : `"privateKeys": {"${name}": "…"}`} to the secret's JSON (README "Signed URLs")`,
      ]);
    } else report.warn(`endpoint ${at} names signingKeyName "${name}", but the secret has no ${field}: signatures there cannot be verified`);
  }
}

/** The secret's JSON, or undefined when it cannot be read (reported with the reason and a fix). */
async function readSecret(secretId: string, client: SecretsClient, report: Report): Promise<SecretValue | undefined> {
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (error) {
    const name = (error as Error).name ?? 'Error';
    const fixes: Record<string, string> = {
      AccessDeniedException: `allow your own identity {"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"${secretId.startsWith('arn:') ? secretId : '<the secret\'s ARN>'}"} (and kms:Decrypt if the secret has its own KMS key)`,
      ResourceNotFoundException: 'check the name or ARN (the stack\'s SecretArn output) and the region (an ARN names it; otherwise AWS_REGION or the profile\'s)',
      CredentialsProviderError: 'sign in (aws sso login, or AWS_PROFILE=<profile>) to read the secret',
    };
    report.fail(`secret ${secretId} could not be read (${name})`, [fixes[name] ?? 'check the secret\'s name or ARN, its region, and your credentials']);
    return undefined;
  }
  try {
    return JSON.parse(text ?? '') as SecretValue;
  } catch {
    report.fail(`secret ${secretId} is not JSON`, ['put {"accessKeyId": "…", "secretAccessKey": "…"} in it (README "Deploying to AWS")']);
    return undefined;
  }
}

/** Lists the origin's folder (one key) and reads the first byte of what it finds. */
async function checkOrigin(origin: OriginConfig, client: S3Client, limits: LimitsConfig, report: Report): Promise<void> {
  const prefix = folderPrefix(origin.folder);
  const where = `s3://${origin.bucket}/${prefix}`;
  const signal = () => AbortSignal.timeout(limits.originTimeoutMs + 1000);
  let sampleKey: string | undefined;
  try {
    const listing = await client.send(new ListObjectsV2Command({ Bucket: origin.bucket, Prefix: prefix, MaxKeys: 1 }), { abortSignal: signal() });
    sampleKey = listing.Contents?.[0]?.Key;
    report.ok(`origin "${origin.name}": ${where} can be listed${sampleKey ? `, first key ${sampleKey}` : ', but holds nothing under this folder'}`);
  } catch (error) {
    const { what, fix } = describeS3Failure(error, origin, 'list');
    report.fail(`origin "${origin.name}": listing ${where} failed: ${what}`, fix);
    return;
  }
  if (!sampleKey) {
    report.warn(`origin "${origin.name}": no object to read under ${where} (check the folder)`);
    return;
  }
  try {
    const object = await client.send(new GetObjectCommand({ Bucket: origin.bucket, Key: sampleKey, Range: 'bytes=0-0' }), { abortSignal: signal() });
    await object.Body?.transformToByteArray();
    report.ok(`origin "${origin.name}": ${sampleKey} can be read`);
  } catch (error) {
    const { what, fix } = describeS3Failure(error, origin, 'get');
    report.fail(`origin "${origin.name}": reading ${sampleKey} failed: ${what}`, fix);
  }
}

/** Each sample through every origin of every endpoint, as a request would find it. */
async function resolveSamples(config: AfterimageConfig, samples: string[], clientFor: (o: OriginConfig) => S3Client, report: Report): Promise<void> {
  const deps = { createClient: clientFor };
  const lists = createPreferenceLists(config, createOrigins(config, deps, createOriginalCache(config, deps)));
  for (const raw of samples) {
    const sample = raw.replace(/^\/+/, '');
    let foundAnywhere = false;
    let failed = false;
    for (const [endpoint, list] of lists) {
      const at = endpoint.prefix === '' ? '/' : `/${endpoint.prefix}/`;
      let answered: string | undefined;
      for (const origin of list.origins) {
        const name = origin.config.name;
        try {
          const found = await origin.fetch(sample);
          if (!found) {
            report.note(`· endpoint ${at} origin "${name}": ${sample} is not there`);
            continue;
          }
          const how = `key ${found.key}, ${found.body.length} bytes${found.contentType ? `, ${found.contentType}` : ''}`;
          if (answered) {
            report.note(`· endpoint ${at} origin "${name}": has ${sample} too (${how}), but "${answered}" answers first`);
          } else {
            answered = name;
            report.ok(`endpoint ${at} origin "${name}": ${sample} resolves to ${how}`);
          }
        } catch (error) {
          failed = true;
          const message = error instanceof HttpError ? error.message : (error as Error).message;
          report.fail(`endpoint ${at} origin "${name}": resolving ${sample} failed: ${message}`, [
            answered ? `a request stops at "${answered}" before this origin, but fix it for other paths: see the origin's checks above` : 'a request for this path fails here and no later origin is tried: see the origin\'s checks above',
          ]);
          if (!answered) break;
        }
      }
      if (answered) foundAnywhere = true;
      else if (!failed) report.warn(`endpoint ${at}: ${sample} is in none of its origins (${endpoint.origins.join(', ')}): a request gets 404`);
    }
    if (!foundAnywhere && !failed) {
      report.fail(`${sample} resolves through no endpoint`, [
        'check the path (it is written after an endpoint\'s prefix), each origin\'s folder and its type (s3 or cloudinary-backup)',
      ]);
    }
  }
}
