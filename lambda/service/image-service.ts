// The core every adapter calls: URL → request plan → origin lookup → image pipeline → response.
// It knows nothing of Lambda events or node:http; the handler and the local server adapt to it.

import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import packageJson from '../../package.json';
import type { AfterimageConfig, EndpointConfig } from '../config';
import { HttpError, methodNotAllowed, notFound, unreadable } from '../errors';
import { affordableFormat } from '../image/cost';
import { checkSvgFilters } from '../image/svg-budget';
import { deadlineExceeded, type Deadline } from '../image/deadline';
import { CONTENT_TYPES, chooseFormat, formatWishOf } from '../image/format';
import { AUTO_QUALITY_TARGETS } from '../image/auto-quality';
import { HEADER_PREFIX_BYTES, holdsWholeHeader } from '../image/header-prefix';
import { headerWatcher, inspectInput, refusedFromHeader, renderImage } from '../image/pipeline';
import { ENCODER_SETTINGS, QUALITY_TABLE } from '../image/quality';
import { svgScale } from '../image/geometry';
import { buildPlan, type RequestPlan } from '../request/plan';
import { CANONICAL_HEADER, viewerPathOf } from '../request/cache-key';
import { parseRequestUrl } from '../request/parse-url';
import { selectSigningKey, verifySignature, type SigningKeyProvider } from '../request/signature';
import { BackgroundWork } from '../origin/background';
import type { OriginPreferenceList } from '../origin/preference-list';
import type { OriginalCache } from '../origin/original-cache';
import { createFetchOrigins, createOriginalCache, createOrigins, createPreferenceLists, type OriginDependencies } from '../origin/registry';
import type { ReadOptions, StoredObject } from '../origin/types';
import { LayerAssetReader, type ReadLayerAssets } from './layer-assets';
import { RenderSlots } from './render-slots';
import { redactKey, redactUrl, serverTiming, type RequestRecord } from './request-record';
import { SANDBOX_CSP, canonicalLink, errorResponse, etagMatches, makeEtag, type ServiceResponse } from './respond';

export type { ServiceResponse } from './respond';
export type { RequestRecord } from './request-record';

/** Part of every image ETag: a release that renders differently must not be answered with 304. */
// The encoders' tables too: a new quality mapping, encoder effort or q-auto target renders new bytes.
const RENDERER_VERSION = [
  `afterimage ${packageJson.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`,
  JSON.stringify([QUALITY_TABLE, ENCODER_SETTINGS, AUTO_QUALITY_TARGETS]),
].join('\n');

/** Cache lifetime of a default image (`di-`), so the real file shows once it is uploaded. */
const DEFAULT_IMAGE_MAX_AGE = 300;

/**
 * `header` shortened to `seconds` where the long default would be wrong (README "Signed URLs",
 * "Cache-Control"): a signed URL must stop working at its `ik-t`, in caches too; a default image
 * must give way soon to the real file. Each age is the shorter of its own and `seconds`, and what
 * would serve it later (`stale-while-revalidate`, `stale-if-error`, `immutable`) is dropped;
 * `no-store` and `private` (an upstream's) stay. An `s-maxage` equal to `max-age` says nothing more.
 */
export function cacheControlWithin(header: string, seconds: number): string {
  const directives = header.split(',').map((d) => d.trim()).filter(Boolean);
  if (directives.some((d) => /^no-store$/i.test(d))) return header;
  const age = (name: string) => {
    const found = directives.find((d) => d.toLowerCase().startsWith(`${name}=`));
    return found === undefined ? undefined : Math.min(Number(found.slice(name.length + 1).replace(/"/g, '')) || 0, seconds);
  };
  const maxAge = age('max-age') ?? seconds;
  const sharedAge = age('s-maxage');
  const kept = directives.filter((d) => !/^(max-age|s-maxage|stale-while-revalidate|stale-if-error)=|^immutable$/i.test(d));
  return [...kept, `max-age=${maxAge}`, ...(sharedAge !== undefined && sharedAge !== maxAge ? [`s-maxage=${sharedAge}`] : [])].join(', ');
}

export interface ServiceRequest {
  method: string;
  /** The path as received, still percent-encoded, starting with `/`. */
  rawPath: string;
  /** The query string without `?` ('' when none). */
  rawQuery: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
}

/** What an adapter knows about one request beyond its URL and headers. */
export interface HandleOptions {
  /**
   * The most time the answer may take from now, in ms. The deadline is the sooner of this and
   * `limits.requestTimeoutMs`; the Lambda handler passes the time left in the invocation, less
   * a margin to send the answer.
   */
  timeoutMs?: number;
  /**
   * Aborted when the client is gone (the local server does it when the connection closes): a
   * request waiting for a render slot leaves the queue, a chain stops before its next pipeline,
   * and the answer is dropped.
   */
  signal?: AbortSignal;
}

export interface ServiceDependencies extends OriginDependencies {
  /**
   * The private keys of signed URLs (README "Signed URLs"), by an endpoint's `signingKeyName`.
   * Default: the `privateKey` / `privateKeys.<name>` fields of the Secrets Manager secret
   * (`secrets`), cached like the bucket keys. Locally: a function returning the key, e.g. from
   * AFTERIMAGE_PRIVATE_KEY / AFTERIMAGE_PRIVATE_KEYS.
   */
  signingKey?: SigningKeyProvider;
}

export class ImageService {
  private readonly preferenceLists: Map<EndpointConfig, OriginPreferenceList>;
  /** Cloudinary fetch URLs' origin, by endpoint (those with fetchAllowedHosts). */
  private readonly fetchOrigins: Map<EndpointConfig, OriginPreferenceList>;
  private readonly layerAssets: LayerAssetReader;
  private readonly signingKey?: SigningKeyProvider;
  private readonly now: () => number;
  /** Bounds the renders running at once in this process; the rest queue. */
  readonly renderSlots: RenderSlots;
  /** Work after the answer (copies on miss): the Lambda handler waits for it once the response has been sent. */
  readonly background: BackgroundWork;
  /** The originals recently read, shared by every origin (its bytes are for tests and metrics). */
  readonly originals: OriginalCache;
  /** Shown an original to be inspected as it arrives: reads its header early, refuses it there if over the pixel limit. */
  private readonly watchArrival: ReadOptions['onArrival'];

  constructor(
    readonly config: AfterimageConfig,
    deps: ServiceDependencies = {},
  ) {
    this.background = deps.background ?? new BackgroundWork();
    this.originals = createOriginalCache(config, deps);
    const origins = createOrigins(config, { ...deps, background: this.background }, this.originals);
    this.preferenceLists = createPreferenceLists(config, origins);
    this.fetchOrigins = createFetchOrigins(config, deps, this.originals);
    this.layerAssets = new LayerAssetReader(config, origins);
    const secrets = deps.secrets;
    this.signingKey = deps.signingKey ?? (secrets ? async (name) => selectSigningKey(await secrets.get(), name) : undefined);
    this.now = deps.now ?? Date.now;
    this.renderSlots = new RenderSlots(config.limits.maxConcurrentRenders ?? availableParallelism(), config.limits.maxQueuedRenders);
    this.watchArrival = headerWatcher(config.limits);
  }

  /**
   * Answers one request; never throws. The answer comes by the deadline (a 503 past it), and
   * the work stops soon after: between pipelines at once, inside libvips by sharp's timeout.
   */
  async handle(request: ServiceRequest, options: HandleOptions = {}): Promise<ServiceResponse> {
    return (await this.serve(request, options)).response;
  }

  /**
   * `handle`, and what the request did (README "Observability"): the adapters log and count
   * the record; the service only adds `Server-Timing` (unless `output.serverTiming` is false).
   */
  async serve(request: ServiceRequest, options: HandleOptions = {}): Promise<{ response: ServiceResponse; record: RequestRecord }> {
    const started = performance.now();
    const record: RequestRecord = { method: request.method.slice(0, 16), url: redactUrl(request.rawPath, request.rawQuery), status: 0, bytesOut: 0, timings: { total: 0 } };
    const head = request.method === 'HEAD';
    const { deadline, stop } = this.startDeadline(options);
    let response: ServiceResponse;
    try {
      response = await settleBefore(this.answer(request, head, deadline, record), deadline.signal);
    } catch (error) {
      response = errorResponse(error, head);
      record.errorCode = error instanceof HttpError ? error.code : 'EINTERNAL';
      if (request.method !== 'GET' && !head) response.headers.allow = 'GET, HEAD';
    } finally {
      stop();
    }
    // A copy: work left behind by a deadline may still write to `record`.
    const done: RequestRecord = { ...record, status: response.status, bytesOut: Number(response.headers['content-length'] ?? response.body.length), timings: { ...record.timings, total: performance.now() - started } };
    if (this.config.output.serverTiming) response.headers['server-timing'] = serverTiming(done.timings);
    return { response, record: done };
  }

  /** The request's deadline: a signal aborted when it passes or when the caller's signal aborts. */
  private startDeadline(options: HandleOptions): { deadline: Deadline; stop: () => void } {
    const configured = this.config.limits.requestTimeoutMs;
    const given = options.timeoutMs;
    const ms = given !== undefined && given < configured ? Math.max(0, given) : configured;
    const source = ms === configured ? `limits.requestTimeoutMs = ${configured} ms` : `the ${Math.round(ms)} ms left to this invocation`;
    const controller = new AbortController();
    const deadline: Deadline = { at: performance.now() + ms, signal: controller.signal, source };
    const timer = setTimeout(() => controller.abort(deadlineExceeded(deadline)), ms);
    const clientGone = () => controller.abort(new HttpError('EABORTED', 'The client closed the connection before the answer was ready'));
    if (options.signal?.aborted) clientGone();
    else options.signal?.addEventListener('abort', clientGone, { once: true });
    return {
      deadline,
      stop: () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', clientGone);
      },
    };
  }

  /** URL → plan → signature → origins → render: what `handle` races against the deadline. */
  private async answer(request: ServiceRequest, head: boolean, deadline: Deadline, record: RequestRecord): Promise<ServiceResponse> {
    if (request.method !== 'GET' && !head) {
      throw methodNotAllowed(`Method ${request.method.slice(0, 16)} is not allowed; use GET or HEAD`);
    }
    // Behind CloudFront the path arrives image first (README "Fixing a stale image"); it is read back into the viewer's URL.
    const rawPath = request.headers[CANONICAL_HEADER] === '1' ? viewerPathOf(this.config.endpoints, request.rawPath) : request.rawPath;
    // The log line names the URL the viewer asked for (signatures redacted), not the rewrite.
    if (rawPath !== request.rawPath) record.url = redactUrl(rawPath, request.rawQuery);
    const parsed = parseRequestUrl(this.config.endpoints, rawPath, request.rawQuery);
    // Cheap before expensive: the plan (pure), then the signature, then the origins.
    record.endpoint = parsed.endpoint.prefix;
    const plan = buildPlan(parsed, this.config);
    await verifySignature(parsed, this.signingKey, this.now());
    // Layer images are read while the image is: one origin round trip, not two. The image's own
    // error (a 404, say) still comes first; a layer's is then not reported as unhandled.
    const layersRead = this.layerAssets.read(plan, this.preferenceLists.get(plan.endpoint)!);
    layersRead.catch(() => undefined);
    // A revalidation is first tried on the image's header alone (README "Revalidation"): an
    // S3 original not in the cache of originals is read only that far, and read whole only when
    // the header does not settle it. Any other read of an original to be inspected has its header
    // read from its first bytes while the rest arrives, and is cut there when that header is over
    // the pixel limit (pipeline.ts `headerWatcher`).
    const conditional = request.headers['if-none-match'] !== undefined && !plan.original;
    const whole: ReadOptions | undefined = plan.original ? undefined : { onArrival: this.watchArrival };
    let { stored, fallback } = await this.lookup(plan, record, conditional ? { prefixBytes: HEADER_PREFIX_BYTES, ...whole } : whole).catch(async (error: unknown) => {
      // A file refused from its header is refused where its header is checked otherwise, after
      // the layers: a missing layer's error still comes first.
      if (refusedFromHeader(error)) await layersRead;
      throw error;
    });
    const layers = await layersRead;
    let response = await this.respond(plan, stored, request, head, deadline, record, layers);
    if (!response) {
      ({ stored, fallback } = await this.lookup(plan, record, whole));
      response = (await this.respond(plan, stored, request, head, deadline, record, layers))!;
    }
    const seconds = Math.min(fallback ? DEFAULT_IMAGE_MAX_AGE : Infinity, this.secondsLeft(parsed.expires));
    const current = response.headers['cache-control'];
    if (Number.isFinite(seconds) && typeof current === 'string') response.headers['cache-control'] = cacheControlWithin(current, seconds);
    return response;
  }

  /** Seconds until a signed URL's `ik-t`; Infinity without one. */
  private secondsLeft(expires: string | undefined): number {
    return expires !== undefined && /^\d+$/.test(expires) ? Math.max(0, Number(expires) - Math.ceil(this.now() / 1000)) : Infinity;
  }

  /**
   * The file from the endpoint's origins, else the default image, else 404. The record adds up
   * the lookups of one request (a revalidation may read a prefix, then the file): their bytes and
   * time, and the first one's resolution.
   */
  private async lookup(plan: RequestPlan, record: RequestRecord, options?: ReadOptions): Promise<{ stored: StoredObject; fallback: boolean }> {
    const origins = this.preferenceLists.get(plan.endpoint)!;
    const started = performance.now();
    const noted = (stored: StoredObject) => {
      const fetchMs = Math.min(stored.fetchMs ?? 0, performance.now() - started);
      Object.assign(record, { origin: stored.origin.name, key: redactKey(stored.key), bytesIn: (record.bytesIn ?? 0) + stored.body.length, resolutionCache: record.resolutionCache ?? stored.resolutionCache, originalsCache: stored.originalsCache });
      record.timings.lookup = (record.timings.lookup ?? 0) + performance.now() - started - fetchMs;
      if (stored.fetchMs !== undefined) record.timings.fetch = (record.timings.fetch ?? 0) + fetchMs;
      return stored;
    };
    // A fetch URL's file comes from its remote URL; a default image still from the endpoint's origins.
    const found = await (plan.fetchUrl === undefined ? origins : this.fetchOrigins.get(plan.endpoint)!).find(plan.path, options).catch((error: unknown) => {
      // A failed lookup (an origin's failure, a file refused from its header) took its time too,
      // and names the origin (and key) it failed on.
      record.timings.lookup = (record.timings.lookup ?? 0) + performance.now() - started;
      if (error instanceof HttpError && error.source) Object.assign(record, { origin: error.source.origin, ...(error.source.key === undefined ? {} : { key: redactKey(error.source.key) }) });
      throw error;
    });
    if (found) return { stored: noted(found), fallback: false };
    if (plan.defaultImage !== undefined) {
      const fallback = await origins.find(plan.defaultImage, options);
      if (fallback) return { stored: noted(fallback), fallback: true };
    }
    record.timings.lookup = (record.timings.lookup ?? 0) + performance.now() - started;
    throw notFound(`No origin of this endpoint has "${plan.path.slice(0, 200)}"`);
  }

  private async respond(
    plan: RequestPlan,
    stored: StoredObject,
    request: ServiceRequest,
    head: boolean,
    deadline: Deadline,
    record: RequestRecord,
    layers?: ReadLayerAssets,
  ): Promise<ServiceResponse | undefined> {
    // The first bytes of the original (`stored.partial`) answer only a 304 read from a whole
    // JPEG or PNG header; anything else is undefined: read the file whole.
    if (stored.partial && (plan.original || !holdsWholeHeader(stored.body))) return undefined;
    const headers: Record<string, string> = {
      'cache-control': stored.cacheControl ?? (stored.immutable ? this.config.output.versionedCacheControl : this.config.output.cacheControl),
      'x-content-type-options': 'nosniff',
    };
    if (stored.lastModified) headers['last-modified'] = stored.lastModified.toUTCString();
    if (stored.origin.canonicalBaseUrl) headers.link = canonicalLink(stored.origin.canonicalBaseUrl, plan.path);
    const originVersion = [stored.origin.name, stored.key, stored.etag ?? String(stored.partial?.totalBytes ?? stored.body.length), stored.lastModified?.toISOString()];

    const inspecting = performance.now();
    const input = plan.original ? null : await inspectInput(stored.body, this.config.limits);
    const inspectMs = performance.now() - inspecting;
    if (stored.partial && (input?.format !== 'jpeg' && input?.format !== 'png')) return undefined;
    if (!input || plan.original) {
      // Not an image (or orig-true): served exactly as stored, unless a transformation was asked for.
      if (!input && plan.transformed && !plan.original) {
        throw unreadable('The stored file is not an image that can be transformed; request it without transformations to get it as stored');
      }
      // Sandboxed whatever its stored type says: sharp did not vouch for these bytes (an SVG
      // or HTML stored as image/png must not run script on the delivery domain).
      const contentType = stored.contentType ?? 'application/octet-stream';
      headers['content-security-policy'] = SANDBOX_CSP;
      return this.finish(request, head, 200, headers, makeEtag(['orig', ...originVersion]), stored.body, contentType);
    }

    const wanted = chooseFormat({
      explicit: plan.output.format,
      formatWish: formatWishOf(stored.requestedExtension, stored.storedFormat),
      configured: this.config.output.format,
      accept: request.headers.accept,
      // An SVG with layers is drawn, never served as stored: it is chosen a format as a PNG is.
      input: layers && input.format === 'svg' ? { ...input, format: 'png' } : input,
    });
    if (wanted.negotiated) headers.vary = 'Accept';
    // Within the cost limits before the work, and before the ETag, which names the format. An
    // SVG is costed at the size it will be drawn at (the first step's resize), not as declared.
    const drawn = input.format === 'svg' ? svgScale(plan.steps[0], input.width, input.height) : 1;
    if (input.format === 'svg' && wanted.format !== 'svg') {
      checkSvgFilters(stored.body, Math.round(input.width * drawn) * Math.round(input.height * drawn), this.config.limits);
    }
    const decision = wanted.format === 'svg' ? wanted : {
      ...wanted,
      format: affordableFormat({
        input: {
          ...input,
          width: Math.max(1, Math.round(input.width * drawn)),
          height: Math.max(1, Math.round(input.height * drawn)),
          bytes: stored.partial?.totalBytes ?? stored.body.length,
          layers: new Map([...(layers?.assets.images ?? [])].map(([path, image]) => [path, image.input])),
        },
        steps: plan.steps,
        output: plan.output,
        decision: { ...wanted, format: wanted.format },
        accept: request.headers.accept,
        limits: this.config.limits,
      }),
    };
    // Before the 304 below: a 304 carries the headers its 200 would (a cache refreshes them from it).
    if (decision.format === 'svg') headers['content-security-policy'] = SANDBOX_CSP;
    const etag = makeEtag(['image', RENDERER_VERSION, ...originVersion, JSON.stringify(plan.steps), JSON.stringify(plan.output), decision.format, String(this.config.output.quality), ...(layers?.versions ?? [])]);
    if (etagMatches(request.headers['if-none-match'], etag)) return this.finish(request, head, 304, headers, etag);
    if (stored.partial) return undefined;

    if (decision.format === 'svg') {
      // SVG keeps its format under `auto`: served as stored, sandboxed (the header is set above).
      return this.finish(request, head, 200, headers, etag, stored.body, CONTENT_TYPES.svg);
    }
    // The slot is given back when the render has really ended, even if the answer left earlier.
    const queued = performance.now();
    const release = await this.renderSlots.acquire(deadline.signal);
    record.timings.queue = performance.now() - queued;
    record.format = decision.format;
    let rendered: Awaited<ReturnType<typeof renderImage>>;
    try {
      rendered = await renderImage(stored.body, input, {
        steps: plan.steps,
        output: plan.output,
        format: decision.format,
        defaultQuality: this.config.output.quality,
        limits: this.config.limits,
        deadline,
        layerAssets: layers?.assets,
      });
    } finally {
      release();
    }
    Object.assign(record.timings, { transform: inspectMs + rendered.transformMs, encode: rendered.encodeMs });
    return this.finish(request, head, 200, headers, etag, rendered.body, CONTENT_TYPES[decision.format]);
  }

  private finish(
    request: ServiceRequest,
    head: boolean,
    status: number,
    headers: Record<string, string>,
    etag: string,
    body?: Buffer,
    contentType?: string,
  ): ServiceResponse {
    headers.etag = etag;
    if (status === 304 || !body) return { status: 304, headers, body: Buffer.alloc(0) };
    if (etagMatches(request.headers['if-none-match'], etag)) return { status: 304, headers, body: Buffer.alloc(0) };
    headers['content-type'] = contentType ?? 'application/octet-stream';
    headers['content-length'] = String(body.length);
    return { status, headers, body: head ? Buffer.alloc(0) : body };
  }
}

/**
 * The work's outcome, or the signal's reason as soon as it aborts. Work left behind stops on its
 * own (its pipelines watch the same signal and carry sharp's timeout); its late outcome is dropped.
 */
function settleBefore<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
