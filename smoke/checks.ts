// The post-deploy smoke test: a table of checks, each a few HTTP requests against a running
// deployment (or `npm start`), each ending in pass, fail (with what was expected, what came
// back and the likely cause) or not applicable (with why). `afterimage smoke` (cli/commands/smoke.ts) is the command.

import sharp from 'sharp';
import { signUrl } from '../lambda/request/signature';
import { NoAnswer, REASON_HEADER, diagnose, formatBytes, send, summarize, viaCloudFront, type Exchange, type SendOptions } from './http';

export type Outcome = 'pass' | 'fail' | 'n/a';

export interface CheckResult {
  name: string;
  outcome: Outcome;
  /** One short line for the table. */
  detail: string;
  /** For a failure: what the check wanted. */
  expected?: string;
  /** For a failure: what came back. */
  received?: string;
  /** For a failure: the likely cause, in plain words. */
  cause?: string;
}

export interface SmokeTarget {
  /** The delivery URL, with the endpoint prefix if any: `https://d111.cloudfront.net` or `…/images`. */
  baseUrl: string;
  /** The key of an image (a JPEG or PNG photo) in the endpoint's origins, as stored. */
  path: string;
  /** The Function URL, called directly: it must refuse (403). */
  functionUrl?: string;
  /** Why there is no Function URL to call, shown when that check is not applicable. */
  functionUrlAbsent?: string;
  /** The key of a file over 6 MB, fetched with `orig-true`. */
  largePath?: string;
  /** Signed URLs: the private key, where it came from, and the endpoint to sign for. */
  signing?: {
    privateKey: string;
    /** The environment variable the key came from (for messages). */
    keyEnv: string;
    /** `https://<host>/<endpoint-prefix>/`: the part of the URL that is not signed. */
    endpointUrl: string;
    /** The key to request there. */
    path: string;
  };
}

export interface SmokeDependencies {
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** Picks the run's width (a fresh cache key every run). @default Math.random */
  random?: () => number;
  /** Signed URLs expire an hour after this. @default Date.now */
  now?: () => number;
  /** Waits before asking again for a CloudFront hit. @default [1000, 2000, 4000] */
  cacheHitRetryDelaysMs?: number[];
  /** Per request. @default 30000 (120000 for the large file) */
  timeoutMs?: number;
}

/** Lambda's limit for a buffered (not streamed) response. */
export const BUFFERED_RESPONSE_LIMIT = 6 * 1024 * 1024;

const ACCEPT_AVIF = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';
const ACCEPT_WEBP = 'image/webp,image/*,*/*;q=0.8';
const ACCEPT_PLAIN = 'image/jpeg,image/png,*/*;q=0.8';

/** A failed expectation, thrown inside a check. */
class Unexpected extends Error {
  constructor(
    readonly detail: string,
    readonly expected: string,
    readonly received: string,
    readonly likelyCause: string,
  ) {
    super(detail);
  }
}

const notApplicable = (detail: string) => ({ outcome: 'n/a' as const, detail });

/** What the checks share: the target, the run's URLs, and the answers so far. */
class SmokeRun {
  readonly base: string;
  readonly key: string;
  readonly width: number;
  readonly exchanges: Exchange[] = [];
  /** The answers of the three f-auto checks, by Accept. */
  readonly negotiated: Partial<Record<'avif' | 'webp' | 'plain', Exchange>> = {};

  constructor(
    readonly target: SmokeTarget,
    readonly deps: Required<SmokeDependencies>,
  ) {
    this.base = target.baseUrl.replace(/\/+$/, '');
    this.key = encodePath(target.path);
    // A width of its own for every run, so the function (not a cache filled by an older
    // deployment) answers the first requests.
    this.width = 200 + Math.floor(deps.random() * 800);
  }

  get autoUrl(): string {
    return `${this.base}/tr:f-auto,w-${this.width}/${this.key}`;
  }

  /** Hosts that did not answer: later checks fail at once instead of waiting out a timeout each. */
  private readonly silentHosts = new Map<string, NoAnswer>();

  async send(url: string, options: Omit<SendOptions, 'timeoutMs'> & { timeoutMs?: number } = {}): Promise<Exchange> {
    const host = new URL(url).host;
    const silent = this.silentHosts.get(host);
    if (silent) throw silent;
    try {
      const exchange = await send(url, { timeoutMs: this.deps.timeoutMs, ...options });
      this.exchanges.push(exchange);
      return exchange;
    } catch (error) {
      if (error instanceof NoAnswer) this.silentHosts.set(host, error);
      throw error;
    }
  }
}

interface Check {
  name: string;
  run(run: SmokeRun): Promise<{ outcome: 'pass' | 'n/a'; detail: string }>;
}

/** `a/b c.jpg` → `a/b%20c.jpg`: the key as stored, each segment encoded. */
function encodePath(path: string): string {
  return path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
}

/** First bytes of each format we expect from `f-auto`, so a body that is not the image is caught. */
const MAGIC: Record<string, (body: Buffer) => boolean> = {
  'image/avif': (b) => b.subarray(4, 8).toString('latin1') === 'ftyp' && /avi[fs]/.test(b.subarray(8, 40).toString('latin1')),
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/gif': (b) => b.subarray(0, 4).toString('latin1') === 'GIF8',
};

function mediaType(exchange: Exchange): string | undefined {
  return exchange.headers.get('content-type')?.split(';')[0].trim().toLowerCase();
}

function variesOnAccept(exchange: Exchange): boolean {
  return (exchange.headers.get('vary') ?? '').split(',').some((token) => token.trim().toLowerCase() === 'accept' || token.trim() === '*');
}

/** The answer must be a 200 image; otherwise the check fails with the diagnosis of what came back. */
function expectImage(exchange: Exchange, wanted: string): void {
  if (exchange.status !== 200 || !exchange.headers.has('content-type')) {
    throw new Unexpected(summarize(exchange), `200 with ${wanted}`, summarize(exchange), diagnose(exchange));
  }
}

function expectBodyMatches(exchange: Exchange, type: string): void {
  const looksRight = MAGIC[type];
  if (looksRight && !looksRight(exchange.body)) {
    throw new Unexpected(
      `body is not ${type}`,
      `a body in ${type}, as content-type says`,
      `${formatBytes(exchange.bytes)} starting ${exchange.body.subarray(0, 12).toString('hex') || '(empty)'}`,
      'the body does not match its content type: something between the function and you rewrote or cut the answer, or the function sent the wrong header',
    );
  }
  const length = exchange.headers.get('content-length');
  if (exchange.truncated || (length !== null && Number(length) !== exchange.bytes)) {
    throw new Unexpected(
      `content-length ${length} but ${exchange.bytes} bytes came`,
      `content-length equal to the body (${exchange.bytes} bytes)`,
      `content-length ${length}`,
      'the response was cut short or padded on its way: the function\'s response stream ended early (a timeout, or the stream closed before the last write)',
    );
  }
}

function expectVary(exchange: Exchange): void {
  if (!variesOnAccept(exchange)) {
    throw new Unexpected(
      `no Vary: Accept (vary: ${exchange.headers.get('vary') ?? 'absent'})`,
      'Vary: Accept on an f-auto answer',
      `vary: ${exchange.headers.get('vary') ?? '(absent)'}`,
      'without Vary: Accept, browsers and other caches keep one format for every browser: the function must send it on negotiated answers, and no response headers policy may remove it',
    );
  }
}

/** How far a text layer's magenta box reaches along the image's second row, from the left edge. */
async function magentaRun(png: Buffer): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let x = 0;
  while (x < info.width) {
    const i = (info.width + x) * 3;
    if (!(data[i] > 230 && data[i + 1] < 25 && data[i + 2] > 230)) break;
    x += 1;
  }
  return x;
}

/** An `f-auto` check for one Accept header. */
function negotiation(name: string, variant: 'avif' | 'webp' | 'plain', accept: string): Check {
  return {
    name,
    async run(run) {
      const exchange = await run.send(run.autoUrl, { headers: { accept } });
      run.negotiated[variant] = exchange;
      const wanted = variant === 'avif' ? 'image/avif' : variant === 'webp' ? 'image/webp' : 'the input\'s format (image/jpeg, image/png or image/gif)';
      expectImage(exchange, wanted);
      const type = mediaType(exchange)!;
      const ok = variant === 'plain' ? await isInputFormat(run, type) : type === wanted;
      if (!ok) {
        throw new Unexpected(
          `${type} for Accept: ${accept.split(',')[0]}`,
          wanted,
          type,
          wrongFormatCause(variant, type, wanted),
        );
      }
      expectBodyMatches(exchange, type);
      expectVary(exchange);
      return { outcome: 'pass', detail: `${summarize(exchange)}, Vary: Accept` };
    },
  };
}

/** Why an f-auto answer came in another format than the one asked for. */
function wrongFormatCause(variant: 'avif' | 'webp' | 'plain', type: string, wanted: string): string {
  if (!type.startsWith('image/')) {
    return 'not an image: the URL does not lead to afterimage (a custom domain pointing elsewhere?), or the key given with --path is not an image';
  }
  if (type === 'image/svg+xml' || type === 'image/gif') return 'SVG files and animations keep their format under f-auto: name a JPEG or PNG photo with --path';
  if (variant === 'plain') {
    return 'a browser that names neither AVIF nor WebP got one of them: the Accept header is not part of the cache key (an answer made for another browser was served), or the CloudFront Function does not reduce Accept as it should';
  }
  return `Accept did not reach the function as sent: the cache policy must key on Accept and the CloudFront Function must keep "${wanted}" in it; or the cache served an answer made for another browser`;
}

/** Under a plain Accept, AVIF or WebP is right only when the stored file is itself AVIF or WebP. */
async function isInputFormat(run: SmokeRun, type: string): Promise<boolean> {
  if (type === 'image/jpeg' || type === 'image/png' || type === 'image/gif') return true;
  if (type !== 'image/avif' && type !== 'image/webp') return false;
  const original = await run.send(`${run.base}/tr:orig-true/${run.key}`);
  return original.status === 200 && MAGIC[type](original.body);
}

/** The error a bad request must get from the function itself: its status and reason code. */
async function expectError(run: SmokeRun, url: string, status: number, code: string): Promise<{ outcome: 'pass'; detail: string }> {
  const answer = await run.send(url);
  const reason = answer.headers.get(REASON_HEADER);
  if (answer.status !== status || !reason?.startsWith(code)) {
    throw new Unexpected(
      summarize(answer),
      `${status} with ${REASON_HEADER}: ${code} - …`,
      `${answer.status}, ${REASON_HEADER}: ${reason ?? '(absent)'}`,
      answer.status === status
        ? `the ${status} did not come from the function (no ${REASON_HEADER}): a CloudFront custom error response or a response headers policy replaced it`
        : diagnose(answer),
    );
  }
  return { outcome: 'pass', detail: summarize(answer) };
}

const CHECKS: Check[] = [
  negotiation('f-auto, Accept AVIF', 'avif', ACCEPT_AVIF),
  negotiation('f-auto, Accept WebP', 'webp', ACCEPT_WEBP),
  negotiation('f-auto, plain Accept', 'plain', ACCEPT_PLAIN),
  {
    name: 'ETag, then 304',
    async run(run) {
      const first = run.negotiated.avif ?? (await run.send(run.autoUrl, { headers: { accept: ACCEPT_AVIF } }));
      expectImage(first, 'an image');
      const etag = first.headers.get('etag');
      if (!etag) {
        throw new Unexpected('no ETag', 'an ETag on the image', 'no etag header', 'the function did not send an ETag, or something in front of it removed it: browsers cannot revalidate and download the image again');
      }
      const again = await run.send(run.autoUrl, { headers: { accept: ACCEPT_AVIF, 'if-none-match': etag } });
      if (again.status !== 304) {
        throw new Unexpected(
          `${summarize(again)} for If-None-Match`,
          `304 Not Modified for If-None-Match: ${etag}`,
          summarize(again),
          again.status === 200 && again.headers.has('content-type')
            ? 'the ETag is not stable or If-None-Match is ignored: the same URL must give the same ETag, and a matching If-None-Match a 304'
            : diagnose(again),
        );
      }
      if (again.bytes !== 0) {
        throw new Unexpected(`304 with a ${again.bytes}-byte body`, 'a 304 with no body', `${again.bytes} bytes`, 'a 304 must not carry a body: the function wrote one');
      }
      return { outcome: 'pass', detail: `304 for If-None-Match ${etag.length > 20 ? `${etag.slice(0, 17)}…"` : etag}` };
    },
  },
  {
    name: 'HEAD',
    async run(run) {
      const get = run.negotiated.plain ?? (await run.send(run.autoUrl, { headers: { accept: ACCEPT_PLAIN } }));
      expectImage(get, 'an image');
      const head = await run.send(run.autoUrl, { method: 'HEAD', headers: { accept: ACCEPT_PLAIN } });
      const length = head.headers.get('content-length');
      if (head.status !== 200 || !head.headers.has('content-type') || length === null) {
        throw new Unexpected(
          `${summarize(head)}${length === null ? ', no content-length' : ''}`,
          `200 with content-type and content-length ${get.bytes}, no body`,
          `${summarize(head)}, content-length ${length ?? '(absent)'}`,
          head.status === 200
            ? 'HEAD came back without the function\'s headers: with an empty body the response stream still needs its prelude (status and headers), which the Lambda runtime writes only on a first write(): the handler must make one, even an empty one'
            : diagnose(head),
        );
      }
      if (Number(length) !== get.bytes) {
        throw new Unexpected(
          `content-length ${length}, GET gave ${get.bytes} bytes`,
          `content-length ${get.bytes} (the GET body)`,
          `content-length ${length}`,
          'HEAD must describe the body GET sends: the function computed the headers of a different answer for HEAD',
        );
      }
      if (head.bytes !== 0) {
        throw new Unexpected(`HEAD with a ${head.bytes}-byte body`, 'no body', `${head.bytes} bytes`, 'an answer to HEAD must not carry a body');
      }
      return { outcome: 'pass', detail: `200, content-length ${length} = GET body, no body` };
    },
  },
  {
    name: '404 with reason',
    run: (run) => expectError(run, `${run.base}/afterimage-smoke-${run.width}-${run.deps.now().toString(36)}/no-such-image.jpg`, 404, 'ENOENT'),
  },
  {
    name: '400 for a bad chain',
    run: (run) => expectError(run, `${run.base}/tr:w-abc/${run.key}`, 400, 'EINVAL'),
  },
  {
    name: 'text layer, shipped font',
    async run(run) {
      // Ten narrow and ten wide letters on a magenta box: in a real font the wide line is far
      // wider; where no font was found, every letter is the same empty box.
      const boxes: number[] = [];
      for (const letters of ['iiiiiiiiii', 'WWWWWWWWWW']) {
        const exchange = await run.send(`${run.base}/tr:w-${1000 + run.width},f-png,l-text,i-${letters},fs-40,bg-FF00FF,pa-4,lfo-top_left,l-end/${run.key}`);
        expectImage(exchange, 'image/png');
        boxes.push(await magentaRun(exchange.body));
      }
      const [narrow, wide] = boxes;
      if (!(narrow > 40 && wide > 2 * narrow)) {
        throw new Unexpected(
          `text boxes ${narrow} and ${wide} px wide`,
          'a line of ten W at least twice as wide as a line of ten i',
          `${narrow} px and ${wide} px`,
          'text is not drawn with the shipped fonts: the fonts/ folder is missing from the Lambda asset (see lib/lambda-bundling.ts), or Pango could not load it',
        );
      }
      return { outcome: 'pass', detail: `text boxes ${narrow} px (i) and ${wide} px (W) wide` };
    },
  },
  {
    name: 'CloudFront cache hit',
    async run(run) {
      if (!run.exchanges.some(viaCloudFront)) return notApplicable('no x-cache header: not served through CloudFront');
      const seen: string[] = [];
      let last: Exchange | undefined;
      for (const delay of [0, ...run.deps.cacheHitRetryDelaysMs]) {
        if (delay > 0) await run.deps.sleep(delay);
        last = await run.send(run.autoUrl, { headers: { accept: ACCEPT_AVIF } });
        const xCache = last.headers.get('x-cache') ?? '(no x-cache)';
        seen.push(xCache);
        if (/\bhit from cloudfront/i.test(xCache)) return { outcome: 'pass', detail: `${xCache} (repeat ${seen.length})` };
      }
      throw new Unexpected(
        `x-cache never Hit: ${seen.join(', ')}`,
        'x-cache: Hit from cloudfront on a repeated request',
        `${seen.join(', ')}; cache-control: ${last?.headers.get('cache-control') ?? '(absent)'}`,
        last && last.status !== 200
          ? diagnose(last)
          : 'CloudFront does not keep the answers: the cache policy\'s TTLs are zero or the function\'s Cache-Control forbids caching, or the cache key holds something that changes on every request (a header other than Accept, a query parameter)',
      );
    },
  },
  {
    name: 'Function URL refused',
    async run(run) {
      const { functionUrl } = run.target;
      if (!functionUrl) return notApplicable(run.target.functionUrlAbsent ?? 'no --function-url or --outputs-file');
      // The path as the distribution would forward it, endpoint prefix included.
      const prefix = new URL(run.base).pathname.replace(/\/+$/, '');
      const direct = await run.send(`${functionUrl.replace(/\/+$/, '')}${prefix}/tr:w-${run.width}/${run.key}`);
      if (direct.status !== 403) {
        throw new Unexpected(
          `Function URL answered ${direct.status}`,
          '403: only CloudFront (signing with Origin Access Control) may call the function',
          summarize(direct),
          direct.status < 300 || direct.headers.has(REASON_HEADER)
            ? `Function URL answered ${direct.status}: it is not protected by IAM (its auth type is NONE), so anyone can call the function directly, around the cache and the CloudFront Function; set the Function URL's auth type to AWS_IAM`
            : `the Function URL did not refuse as IAM does (403): check that --function-url (or the outputs file) names this stack's Function URL`,
        );
      }
      return { outcome: 'pass', detail: '403: IAM refuses an unsigned call' };
    },
  },
  {
    name: 'response over 6 MB',
    async run(run) {
      if (!run.target.largePath) return notApplicable('no --large <key of a file over 6 MB>');
      const url = `${run.base}/tr:orig-true/${encodePath(run.target.largePath)}`;
      const large = await run.send(url, { countOnly: true, timeoutMs: Math.max(run.deps.timeoutMs, 120_000) });
      if (large.status !== 200) {
        throw new Unexpected(
          summarize(large),
          `200 with the whole file`,
          summarize(large),
          large.status === 502 || large.status === 413
            ? `${large.status} for a large answer: the function must stream its response (RESPONSE_STREAM on the Function URL); a buffered answer is limited to 6 MB. ${diagnose(large)}`
            : diagnose(large),
        );
      }
      // A streamed answer may come chunked; then HEAD tells the size.
      let declared = large.headers.get('content-length');
      if (declared === null) declared = (await run.send(url, { method: 'HEAD' })).headers.get('content-length');
      if (large.truncated || declared === null || Number(declared) !== large.bytes) {
        throw new Unexpected(
          `${formatBytes(large.bytes)} arrived, content-length ${declared ?? 'absent'}`,
          `the whole file: as many bytes as content-length says`,
          `${large.bytes} bytes, content-length ${declared ?? '(absent on GET and HEAD)'}`,
          declared === null
            ? 'no content-length: cannot tell whether the whole file arrived; the function must send content-length'
            : 'the file arrived cut short: the function\'s response stream ended early (its timeout, or a stream closed before the last chunk)',
        );
      }
      if (large.bytes <= BUFFERED_RESPONSE_LIMIT) {
        throw new Unexpected(
          `only ${formatBytes(large.bytes)}`,
          `a file over ${formatBytes(BUFFERED_RESPONSE_LIMIT)}`,
          formatBytes(large.bytes),
          '--large must name a file over 6 MB, or this check proves nothing about streaming',
        );
      }
      return { outcome: 'pass', detail: `${formatBytes(large.bytes)}, all of content-length` };
    },
  },
  {
    name: 'signed URL accepted',
    async run(run) {
      const signed = signedUrls(run);
      if (!signed) return notApplicable('no --signed-key-env');
      const answer = await run.send(signed.valid, { headers: { accept: ACCEPT_PLAIN } });
      if (answer.status !== 200) {
        throw new Unexpected(
          summarize(answer),
          '200 for a URL signed with the private key',
          summarize(answer),
          answer.headers.get(REASON_HEADER)?.startsWith('ESIGNATURE')
            ? `the function refused a URL signed with $${run.target.signing!.keyEnv}: the privateKey in the stack's secret differs, or --signed-endpoint is not the endpoint's URL with its prefix (the signature covers what follows it)`
            : answer.headers.get(REASON_HEADER)?.startsWith('EINTERNAL')
              ? `${answer.headers.get(REASON_HEADER)}: add "privateKey" to the stack's secret (deploy step 3)`
              : diagnose(answer),
        );
      }
      return { outcome: 'pass', detail: `${summarize(answer)}, signed, ik-t in an hour` };
    },
  },
  {
    name: 'tampered signed URL refused',
    async run(run) {
      const signed = signedUrls(run);
      if (!signed) return notApplicable('no --signed-key-env');
      const answer = await run.send(signed.tampered, { headers: { accept: ACCEPT_PLAIN } });
      const reason = answer.headers.get(REASON_HEADER);
      if (answer.status !== 401 || !reason?.startsWith('ESIGNATURE')) {
        throw new Unexpected(
          summarize(answer),
          `401 with ${REASON_HEADER}: ESIGNATURE - … for a signed URL whose width was changed`,
          summarize(answer),
          answer.status === 200
            ? 'the function did not check the signature: the endpoint does not set requireSignedUrls and its secret has no privateKey, so signatures are ignored there (name the signed endpoint with --signed-endpoint)'
            : diagnose(answer),
        );
      }
      return { outcome: 'pass', detail: summarize(answer) };
    },
  },
];

/** A URL signed for an hour, and the same URL with its width changed under the same signature. */
function signedUrls(run: SmokeRun): { valid: string; tampered: string } | undefined {
  const signing = run.target.signing;
  if (!signing) return undefined;
  const endpoint = signing.endpointUrl.endsWith('/') ? signing.endpointUrl : `${signing.endpointUrl}/`;
  const expiresAt = Math.floor(run.deps.now() / 1000) + 3600;
  const valid = signUrl(`${endpoint}tr:w-${run.width}/${encodePath(signing.path)}`, endpoint, signing.privateKey, expiresAt);
  return { valid, tampered: valid.replace(`/tr:w-${run.width}/`, `/tr:w-${run.width + 1}/`) };
}

/** The names of the checks, in the order they run. */
export const CHECK_NAMES = CHECKS.map((check) => check.name);

/** Runs every check in order and returns one result per check; never throws for a bad answer. */
export async function runSmokeChecks(target: SmokeTarget, deps: SmokeDependencies = {}): Promise<CheckResult[]> {
  const run = new SmokeRun(target, {
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    random: deps.random ?? Math.random,
    now: deps.now ?? Date.now,
    cacheHitRetryDelaysMs: deps.cacheHitRetryDelaysMs ?? [1000, 2000, 4000],
    timeoutMs: deps.timeoutMs ?? 30_000,
  });
  const results: CheckResult[] = [];
  for (const check of CHECKS) {
    try {
      results.push({ name: check.name, ...(await check.run(run)) });
    } catch (error) {
      if (error instanceof Unexpected) {
        results.push({ name: check.name, outcome: 'fail', detail: error.detail, expected: error.expected, received: error.received, cause: error.likelyCause });
      } else if (error instanceof NoAnswer) {
        results.push({
          name: check.name,
          outcome: 'fail',
          detail: error.message,
          expected: `an answer from ${error.url}`,
          received: error.message,
          cause: 'nothing answered: check the URL; a new distribution takes some minutes to deploy, and a Function URL lives in the stack\'s region',
        });
      } else {
        throw error;
      }
    }
  }
  return results;
}
