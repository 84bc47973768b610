// The HTTP side of web and Cloudinary origins (README "Web and Cloudinary origins", SECURITY.md):
// one GET with bounded retries and redirects, where every hop's URL and every address its host
// resolves to are checked before connecting, and the connection is pinned to the address
// checked (no second DNS answer can slip in between). Bodies are read under the size limit.
// A conditional GET (the cache of originals revalidating) goes the same way, under the same rules.

import { lookup as dnsLookup } from 'node:dns/promises';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { LimitsConfig, OriginConfig } from '../config';
import { HttpError, limitExceeded, originFailed, originRefused, originTimedOut } from '../errors';
import { originCallSignal, readLimitedBody, type ArrivalWatcher } from './reading';
import { refusedRange } from './address-policy';
import { originFailure } from './s3';
import type { Validators } from './types';

/** The most redirects followed for one fetch; the next one is a 502. */
export const MAX_REDIRECTS = 3;

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** What a web origin's connections depend on; injected by tests (a resolver, a test CA). */
export interface WebTransport {
  /** Every address of a host name. @default the system resolver (dns.lookup, all addresses) */
  resolve?: (hostname: string) => Promise<ResolvedAddress[]>;
  /** Certificate authorities trusted besides the system's (a test server's self-signed certificate). */
  ca?: string | Buffer;
  /** The address policy. @default refusedRange (address-policy.ts); tests make their loopback server count as public. */
  refusedRange?: (address: string) => string | undefined;
}

/** The rules of one fetch. */
export interface WebFetchRules {
  /** Named in every message: `Origin "<name>"`. */
  originName: string;
  allowHttp: boolean;
  allowPrivateNetwork: boolean;
  /** The hosts any hop may go to, matched exactly (fetch URLs); any host when absent. */
  allowedHosts?: readonly string[];
  /** Request headers, sent to the first URL's host only: a redirect elsewhere goes without them. */
  headers?: Record<string, string>;
  /** Content-Types accepted, exact or `type/*`. */
  contentTypes: readonly string[];
  limits: LimitsConfig;
  /** Shown a 200's body as it arrives (ReadOptions.onArrival): the image header is read early, and may refuse the file. */
  onArrival?: ArrivalWatcher;
}

export interface WebResponse {
  body: Buffer;
  contentType: string;
  etag?: string;
  lastModified?: Date;
  /** The Cache-Control the answer must carry instead of ours, when the upstream said `private` or `no-store`. */
  cacheControl?: string;
  /** How long a shared cache may use the answer without asking, where the upstream said (`freshnessOf`). */
  upstreamMaxAgeMs?: number;
  /** The URL that answered (after redirects). */
  url: string;
}

/** The headers a 304 carried, present only where it sent them (they replace the stored ones). */
export interface WebNotModified {
  notModified: true;
  updates: Partial<Pick<WebResponse, 'etag' | 'lastModified' | 'cacheControl' | 'upstreamMaxAgeMs'>>;
}

/** Keep-alive agents shared by every web origin; each request brings its own pinned lookup. */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 64 };
const agents = { http: new HttpAgent(AGENT_OPTIONS), https: new HttpsAgent(AGENT_OPTIONS) };

const USER_AGENT = 'afterimage (image delivery; +https://github.com/afterimage)';

/** A failure worth another attempt (5xx, 429, a dropped connection, a timeout), and the error given when none are left. */
class TransientFailure extends Error {
  constructor(readonly final: HttpError) {
    super(final.message);
  }
}

const systemResolve = (hostname: string) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * GETs a URL: the file, or null on 404/410. Any other failure throws an HttpError: 502 (refused,
 * failed, not an image, too many redirects), 504 (timed out), 422 (over limits.maxInputBytes).
 * With `validators`, it is sent with `If-None-Match` (the ETag) or `If-Modified-Since` (the
 * Last-Modified) on every hop: a 304 is then WebNotModified, with no body read.
 */
export async function fetchFromWebIfChanged(
  url: string,
  rules: WebFetchRules,
  validators: Validators | undefined,
  transport: WebTransport = {},
): Promise<WebResponse | WebNotModified | null> {
  const { originRetries } = rules.limits;
  const signal = originCallSignal(rules.limits);
  const conditional = { headers: conditionalHeaders(validators), url: validators?.url };
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await followRedirects(new URL(url), rules, conditional, transport, signal);
    } catch (error) {
      if (!(error instanceof TransientFailure)) throw error;
      if (attempt >= originRetries || signal.aborted) throw error.final;
      await backoff(attempt, signal);
    }
  }
}

function backoff(attempt: number, signal: AbortSignal): Promise<void> {
  const ms = Math.min(1000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** The precondition headers of a revalidation: the ETag if there is one, else the Last-Modified (RFC 9110 §13.1.3). */
function conditionalHeaders(validators: Validators | undefined): Record<string, string> {
  if (validators?.etag) return { 'if-none-match': validators.etag };
  if (validators?.lastModified) return { 'if-modified-since': validators.lastModified.toUTCString() };
  return {};
}

async function followRedirects(
  first: URL,
  rules: WebFetchRules,
  conditional: { headers: Record<string, string>; url?: string },
  transport: WebTransport,
  signal: AbortSignal,
): Promise<WebResponse | WebNotModified | null> {
  let current = first;
  for (let hop = 0; ; hop += 1) {
    const where = hop === 0 ? 'its URL' : `redirect ${hop}`;
    checkUrl(current, rules, where);
    const address = await resolveChecked(current, rules, transport, where);
    // Secret headers go only where the first URL pointed, scheme and port included (never to http after https).
    // The validators hold nothing secret, but they hold only where they were given: sent to
    // another URL (the redirect now points elsewhere), a 304 from there would keep the old bytes.
    const validated = conditional.url === undefined || conditional.url === current.href;
    const headers = { ...(current.origin === first.origin ? rules.headers ?? {} : {}), ...(validated ? conditional.headers : {}) };
    const answer = await requestOnce(current, address, headers, rules, transport, signal);
    if (!('redirect' in answer)) return answer.response;
    if (hop >= MAX_REDIRECTS) {
      throw originFailed(`Origin "${rules.originName}" redirected more than ${MAX_REDIRECTS} times`);
    }
    try {
      current = new URL(answer.redirect, current);
    } catch {
      throw originFailed(`Origin "${rules.originName}" sent a redirect to something that is not a URL`);
    }
  }
}

/** The scheme and host rules, for the first URL and every redirect. */
function checkUrl(url: URL, rules: WebFetchRules, where: string): void {
  const scheme = url.protocol;
  if (!(scheme === 'https:' || (rules.allowHttp && scheme === 'http:'))) {
    throw originRefused(`Origin "${rules.originName}": ${where} is ${scheme.replace(/:$/, '').slice(0, 10)}, not ${rules.allowHttp ? 'http(s)' : 'https'}${scheme === 'http:' ? ' (http needs "allowHttp": true)' : ''}`);
  }
  if (url.username || url.password) throw originRefused(`Origin "${rules.originName}": ${where} carries a user name or password`);
  if (rules.allowedHosts && !rules.allowedHosts.includes(url.host)) {
    throw originRefused(`Origin "${rules.originName}": ${where} leads to a host that is not in fetchAllowedHosts`);
  }
}

/**
 * The address to connect to: every address of the host must be allowed (a name that resolves
 * to one public and one private address is refused: the connection could go to either).
 */
async function resolveChecked(url: URL, rules: WebFetchRules, transport: WebTransport, where: string): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: ResolvedAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await (transport.resolve ?? systemResolve)(host);
    } catch (error) {
      const code = (error as { code?: string }).code;
      const failure = originFailure(error, { name: rules.originName } as OriginConfig);
      throw code === 'EAI_AGAIN' ? new TransientFailure(failure) : failure;
    }
  }
  if (addresses.length === 0) throw originFailed(`Origin "${rules.originName}": the host of ${where} has no address`);
  if (!rules.allowPrivateNetwork) {
    for (const { address } of addresses) {
      const range = (transport.refusedRange ?? refusedRange)(address);
      if (range) {
        throw originRefused(`Origin "${rules.originName}": the host of ${where} resolves to a ${range} address; connecting there needs "allowPrivateNetwork": true`);
      }
    }
  }
  return addresses[0];
}

/** A lookup that answers every question with the address already checked. */
function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  }) as unknown as LookupFunction;
}

type Answer = { redirect: string } | { response: WebResponse | WebNotModified | null };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function requestOnce(
  url: URL,
  address: ResolvedAddress,
  headers: Record<string, string>,
  rules: WebFetchRules,
  transport: WebTransport,
  signal: AbortSignal,
): Promise<Answer> {
  const name = rules.originName;
  const { originTimeoutMs, maxInputBytes } = rules.limits;
  const https = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise<Answer>((resolve, reject) => {
    const fail = (error: unknown) => reject(classify(error, name));
    const req = (https ? httpsRequest : httpRequest)({
      method: 'GET',
      host,
      port: url.port || (https ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      headers: { 'user-agent': USER_AGENT, accept: 'image/*,*/*;q=0.5', 'accept-encoding': 'identity', ...headers },
      agent: https ? (transport.ca ? undefined : agents.https) : agents.http,
      lookup: pinnedLookup(address),
      ...(https && transport.ca ? { ca: transport.ca } : {}),
      ...(https && !isIP(host) ? { servername: host } : {}),
      signal,
      timeout: originTimeoutMs,
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
    req.on('error', fail);
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const done = (answer: Answer) => {
        res.resume();
        resolve(answer);
      };
      if (REDIRECTS.has(status)) {
        const location = res.headers.location;
        if (!location) return fail(originFailed(`Origin "${name}" sent a redirect (HTTP ${status}) without a Location`));
        return done({ redirect: location });
      }
      if (status === 404 || status === 410) return done({ response: null });
      // Only an answer to a precondition we sent: a 304 to a plain GET is a failure like any other non-200.
      if (status === 304 && ('if-none-match' in headers || 'if-modified-since' in headers)) {
        return done({ response: { notModified: true, updates: upstreamHeaders(res, true) } });
      }
      if (status === 429 || status >= 500) {
        res.resume();
        return fail(new TransientFailure(originFailed(`Origin "${name}" failed (HTTP ${status})`)));
      }
      if (status === 401 || status === 403) {
        res.resume();
        return fail(originRefused(`Origin "${name}" refused the request (HTTP ${status}): check its secretHeaders and access rules`));
      }
      if (status !== 200) {
        res.resume();
        return fail(originFailed(`Origin "${name}" answered HTTP ${status}, not 200`));
      }
      const contentType = (res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (!acceptedType(contentType, rules.contentTypes)) {
        res.resume();
        return fail(originFailed(`Origin "${name}" answered with Content-Type ${contentType.slice(0, 60) || '(none)'}, which is not one of ${rules.contentTypes.join(', ')} (contentTypes)`));
      }
      const length = Number(res.headers['content-length']);
      if (Number.isFinite(length) && length > maxInputBytes) {
        res.destroy();
        return fail(limitExceeded(`The stored file is ${length} bytes; the limit is ${maxInputBytes} (limits.maxInputBytes)`));
      }
      readBody(res, originTimeoutMs, maxInputBytes, rules.onArrival).then((body) => {
        resolve({ response: { body, contentType, url: url.href, ...upstreamHeaders(res, false) } });
      }, fail);
    });
    req.end();
  });
}

/** A Content-Type against the accepted list: exact, or `type/*`. */
export function acceptedType(contentType: string, accepted: readonly string[]): boolean {
  return accepted.some((pattern) => pattern.endsWith('/*') ? contentType.startsWith(pattern.slice(0, -1)) && contentType.length > pattern.length - 1 : pattern === contentType);
}

/** An upstream `no-store` or `private` carries over: shared caches must not keep what the upstream forbade them. */
export function cacheControlOf(header: string | undefined): { cacheControl?: string } {
  const directives = (header ?? '').toLowerCase().split(',').map((d) => d.trim());
  if (directives.includes('no-store')) return { cacheControl: 'no-store' };
  if (directives.some((d) => d === 'private' || d.startsWith('private='))) {
    const maxAge = directives.map((d) => /^max-age=(\d+)$/.exec(d)?.[1]).find((v) => v !== undefined);
    return { cacheControl: `private, max-age=${maxAge ?? 0}` };
  }
  return {};
}

/**
 * The validators and caching rules of an answer. On a 304 (`clears`), a Cache-Control it sent
 * replaces the stored one whole: the fields it no longer sets are present as undefined.
 */
function upstreamHeaders(res: IncomingMessage, clears: boolean): WebNotModified['updates'] {
  const lastModified = res.headers['last-modified'] ? new Date(res.headers['last-modified']) : undefined;
  const header = res.headers['cache-control'];
  const rules = { ...cacheControlOf(header), ...freshnessOf(header, res.headers.age, { expires: res.headers.expires, date: res.headers.date, vary: res.headers.vary }) };
  return {
    ...(typeof res.headers.etag === 'string' ? { etag: res.headers.etag } : {}),
    ...(lastModified && !Number.isNaN(lastModified.getTime()) ? { lastModified } : {}),
    ...(clears && header !== undefined ? { cacheControl: rules.cacheControl, upstreamMaxAgeMs: rules.upstreamMaxAgeMs } : rules),
  };
}

/**
 * How long a shared cache may use an answer without asking the upstream (RFC 9111 §4.2.1): its
 * `s-maxage`, else its `max-age`, else its `Expires` less its `Date` (an `Expires` that is no date,
 * such as `0`, has already passed, §5.3; so has one without a `Date` to measure it from, which
 * servers always send), each less the `Age` it has already spent in caches
 * upstream; 0 for `no-cache`, and for `Vary: *`, which no later request matches (§4.1): revalidate
 * every time. Nothing when the upstream named no lifetime.
 */
export function freshnessOf(
  header: string | undefined,
  age?: string,
  other: { expires?: string; date?: string; vary?: string } = {},
): { upstreamMaxAgeMs?: number } {
  const directives = (header ?? '').toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-cache' || d.startsWith('no-cache='))) return { upstreamMaxAgeMs: 0 };
  if ((other.vary ?? '').split(',').some((field) => field.trim() === '*')) return { upstreamMaxAgeMs: 0 };
  const seconds = (name: string) => directives.map((d) => new RegExp(`^${name}="?(\\d+)"?$`).exec(d)?.[1]).find((v) => v !== undefined);
  const spentMs = /^\d+$/.test(age ?? '') ? Number(age) * 1000 : 0;
  const lifetime = seconds('s-maxage') ?? seconds('max-age');
  if (lifetime !== undefined) return { upstreamMaxAgeMs: Math.max(0, Number(lifetime) * 1000 - spentMs) };
  if (other.expires === undefined) return {};
  const expires = Date.parse(other.expires);
  const date = Date.parse(other.date ?? '');
  if (Number.isNaN(expires) || Number.isNaN(date)) return { upstreamMaxAgeMs: 0 };
  return { upstreamMaxAgeMs: Math.max(0, expires - date - spentMs) };
}

/** The body, cut after `idleMs` without data or at `maxBytes`; a connection closed early is a failure. */
async function readBody(res: IncomingMessage, idleMs: number, maxBytes: number, onArrival?: ArrivalWatcher): Promise<Buffer> {
  const announced = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
  const body = await readLimitedBody(res, idleMs, maxBytes, undefined, announced, onArrival);
  if (!res.complete) throw Object.assign(new Error('the connection closed before the body was complete'), { code: 'ECONNRESET' });
  return body;
}

/** Node's errors as our statuses: timeouts 504, dropped connections 502, both worth another attempt. */
function classify(error: unknown, originName: string): Error {
  if (error instanceof HttpError || error instanceof TransientFailure) return error;
  const e = error as { name?: string; code?: string };
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return originTimedOut(`Origin "${originName}" did not answer in time`);
  const failure = originFailure(error, { name: originName } as OriginConfig);
  return e.name === 'TimeoutError' || TRANSIENT_CODES.has(e.code ?? '') ? new TransientFailure(failure) : failure;
}

/** Connection failures another attempt may get past (a TLS or name failure will not). */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
