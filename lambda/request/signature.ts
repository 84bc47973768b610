// README "Signed URLs": ImageKit-compatible signed URLs. `ik-s` is the lowercase hex HMAC-SHA1, keyed
// with the private key, of the URL after `<host>/<endpoint-prefix>/` (with only its `tr` query:
// nothing else reaches the function behind CloudFront) followed by the expiry: `ik-t` when present, else the literal 9999999999.
// The signature does not cover the endpoint prefix, so endpoints that share a key accept each
// other's URLs: an endpoint names its own key (`signingKeyName`) to be isolated from the rest.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { internalError, unauthorized } from '../errors';
import type { ParsedUrl } from './parse-url';

/** The expiry ImageKit's SDKs sign when a URL never expires. */
export const NEVER_EXPIRES = '9999999999';

/** One key, or `[current, previous]` while it is being rotated: both verify, the first signs. */
export type SigningKeyEntry = string | readonly string[];

/**
 * Where the keys come from: the Secrets Manager secret in AWS, an injected function locally.
 * `name` is the endpoint's `signingKeyName`; undefined asks for the default `privateKey`.
 */
export type SigningKeyProvider = (name?: string) => Promise<SigningKeyEntry | undefined> | SigningKeyEntry | undefined;

/** The key fields of the secret's JSON (and of the local environment): a default key and named keys. */
export interface SigningKeySet {
  privateKey?: SigningKeyEntry;
  privateKeys?: Record<string, SigningKeyEntry>;
}

/** Most keys valid at once for one name: the new one and the one it replaces. */
const MAX_KEYS_PER_NAME = 2;

/** The entry for a key name (undefined = the default `privateKey`). Named endpoints never fall back to the default key. */
export function selectSigningKey(set: SigningKeySet, name: string | undefined): SigningKeyEntry | undefined {
  if (name === undefined) return set.privateKey;
  const named = set.privateKeys;
  return named && typeof named === 'object' && Object.hasOwn(named, name) ? named[name] : undefined;
}

/**
 * The keys an entry holds, checked (the secret is JSON written by hand): a non-empty string,
 * or a list of one or two. A malformed entry is a 500 whose message names the field, never a value.
 */
export function signingKeysOf(entry: unknown, field: string): string[] | undefined {
  if (entry === undefined || entry === null || entry === '') return undefined;
  const keys = Array.isArray(entry) ? entry : [entry];
  if (keys.length === 0 || keys.length > MAX_KEYS_PER_NAME || !keys.every((k) => typeof k === 'string' && k.length > 0)) {
    console.error(`afterimage: ${field} must be a key (a string) or [current, previous] during a rotation`);
    throw internalError('Signed URLs cannot be verified: the private key is malformed');
  }
  return keys as string[];
}

/** The secret field a key name is read from, for operators' messages. */
export const keyField = (name: string | undefined) => (name === undefined ? 'privateKey' : `privateKeys.${name}`);

/**
 * The keys of local runs (`npm start`, `npm run sign`): AFTERIMAGE_PRIVATE_KEY is the default
 * key, AFTERIMAGE_PRIVATE_KEYS a JSON object shaped like the secret's `privateKeys`
 * (`{"vault": "…"}` or `{"vault": ["new", "old"]}`). In AWS keys are never in the environment.
 */
export function signingKeysFromEnvironment(env: Record<string, string | undefined>): SigningKeySet | undefined {
  const set: SigningKeySet = {};
  if (env.AFTERIMAGE_PRIVATE_KEY) set.privateKey = env.AFTERIMAGE_PRIVATE_KEY;
  if (env.AFTERIMAGE_PRIVATE_KEYS) {
    let named: unknown;
    try {
      named = JSON.parse(env.AFTERIMAGE_PRIVATE_KEYS);
    } catch {
      named = undefined;
    }
    if (!named || typeof named !== 'object' || Array.isArray(named)) {
      throw new Error('AFTERIMAGE_PRIVATE_KEYS must be a JSON object of key names, e.g. {"vault": "…"} or {"vault": ["new key", "old key"]}');
    }
    set.privateKeys = named as Record<string, SigningKeyEntry>;
  }
  return set.privateKey === undefined && set.privateKeys === undefined ? undefined : set;
}

/** Signs what ImageKit signs: `text` is the URL after the endpoint, without `ik-s`/`ik-t`. */
export function signText(text: string, expiry: string, privateKey: string): string {
  // ImageKit's SDKs encode the string first when it holds non-ASCII characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII, control characters included
  const toSign = /[^\x00-\x7f]/.test(text + expiry) ? encodeNonAscii(text + expiry) : text + expiry;
  return createHmac('sha1', privateKey).update(toSign).digest('hex');
}

function encodeNonAscii(text: string): string {
  const q = text.indexOf('?');
  return q < 0 ? encodeURI(text) : `${encodeURI(text.slice(0, q))}?${text.slice(q + 1)}`;
}

/** Constant-time comparison of two hex signatures (different lengths compare unequal without a shortcut on content). */
export function signaturesMatch(expected: string, received: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(received.toLowerCase(), 'utf8');
  if (a.length !== b.length) {
    timingSafeEqual(a, a); // same work either way
    return false;
  }
  return timingSafeEqual(a, b);
}

/**
 * Checks a request's signature before any origin I/O.
 * - Endpoint requires signatures: a missing, wrong or expired one is a 401 (ESIGNATURE).
 * - Endpoint does not: a signature that is present is verified when a key is available (as
 *   ImageKit does), and ignored when there is none.
 * `nowMs` is the injected clock.
 */
export async function verifySignature(parsed: ParsedUrl, keyProvider: SigningKeyProvider | undefined, nowMs: number): Promise<void> {
  const required = parsed.endpoint.requireSignedUrls === true;
  if (parsed.signature === undefined) {
    if (required) throw unauthorized('This URL must be signed: ik-s is missing');
    return;
  }
  const name = parsed.endpoint.signingKeyName;
  const keys = signingKeysOf(await keyProvider?.(name), keyField(name));
  if (!keys) {
    if (!required) return;
    console.error(`afterimage: signed URLs are required on the endpoint "/${parsed.endpoint.prefix}" but no private key is configured (${keyField(name)})`);
    throw internalError('Signed URLs cannot be verified: no private key is configured');
  }
  checkSignature(keys, parsed.signedText, parsed.expires ?? NEVER_EXPIRES, parsed.signature, nowMs);
}

/**
 * The check itself, for any signed text: the signature against every key, then the expiry; a
 * failure is a 401. `subject` names what was signed in the messages.
 */
export function checkSignature(
  keys: readonly string[],
  signedText: string,
  expiry: string,
  signature: string,
  nowMs: number,
  subject = { it: 'this URL', expired: 'This signed URL' },
): void {
  if (!/^\d{1,12}$/.test(expiry)) throw unauthorized('Invalid ik-t: expected Unix seconds');
  // Every key is compared (no early exit), so the time taken does not tell which one matched.
  const matches = keys.map((key) => signaturesMatch(signText(signedText, expiry, key), signature));
  if (!matches.includes(true)) throw unauthorized(`The signature (ik-s) does not match ${subject.it}`);
  // Checked after the signature, so an unsigned change of ik-t cannot probe the clock.
  if (Number(expiry) * 1000 < nowMs) throw unauthorized(`${subject.expired} has expired (ik-t is in the past)`);
}

/**
 * Signs a URL the way ImageKit's SDKs do. `urlEndpoint` is the part not signed, e.g.
 * `https://cdn.example.com/images/`. Existing `ik-s`/`ik-t` are replaced.
 */
export function signUrl(url: string, urlEndpoint: string, privateKey: string, expiresAt?: number): string {
  const endpoint = urlEndpoint.endsWith('/') ? urlEndpoint : `${urlEndpoint}/`;
  if (!url.startsWith(endpoint)) throw new Error(`The URL does not start with the endpoint ${endpoint}`);
  const q = url.indexOf('?');
  const base = q < 0 ? url : url.slice(0, q);
  const kept = q < 0 ? [] : url.slice(q + 1).split('&').filter((pair) => pair !== '' && !/^ik-[st](=|$)/.test(pair));
  const unsigned = base + (kept.length > 0 ? `?${kept.join('&')}` : '');
  // Only `tr` reaches the function behind CloudFront, so only `tr` is signed (as the verifier reads it).
  const signedPairs = kept.filter((pair) => /^tr(=|$)/.test(pair));
  const signedText = base.slice(endpoint.length) + (signedPairs.length > 0 ? `?${signedPairs.join('&')}` : '');
  const expiry = expiresAt === undefined ? NEVER_EXPIRES : String(Math.floor(expiresAt));
  const signature = signText(signedText, expiry, privateKey);
  const extra = [...(expiresAt === undefined ? [] : [`ik-t=${expiry}`]), `ik-s=${signature}`];
  return `${unsigned}${kept.length > 0 ? '&' : '?'}${extra.join('&')}`;
}
