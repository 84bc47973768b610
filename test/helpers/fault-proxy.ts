// A fault-injecting HTTP proxy in front of an S3 server: forwards requests untouched (the
// SigV4 signature covers the Host header, so headers pass as they are), or answers with the
// failure a rule names. Every request is recorded, so tests can count attempts.

import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';

export type Fault =
  /** 403 AccessDenied, as S3 answers wrong keys or a missing permission. */
  | 'denied'
  /** 404 NoSuchBucket. */
  | 'no-such-bucket'
  /** 301 PermanentRedirect naming the bucket's region (eu-west-1), as S3 answers a request sent to another region. */
  | 'wrong-region'
  /** 500 InternalError (retryable). */
  | 'error'
  /** Holds the request for `delayMs`, then forwards it. */
  | 'slow'
  /** Forwards the status and headers and the first bytes of the body, then holds the rest for `delayMs`. */
  | 'stall-body'
  /** Resets the connection (TCP RST) as soon as the request arrives. */
  | 'reset'
  /** Forwards the status, headers and first bytes of the body, then resets the connection. */
  | 'reset-body'
  /** 416 InvalidRange, as S3 answers a ranged GET of an empty object (RFC 9110 §14.1.1; AWS's behaviour as minio/minio#6557 reproduces it). */
  | 'invalid-range';

export interface ProxiedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  /** The object key or listing prefix, decoded (path style: after the bucket). */
  key: string;
  list: boolean;
  /** The access key id the request was signed with (SigV4 Credential=...). */
  accessKeyId?: string;
  /** The Range header it carried, if any. */
  range?: string;
  /** The status the S3 server answered a forwarded request with, once it has. */
  status?: number;
  /** The body bytes the S3 server sent for a forwarded request, once it has finished. */
  bodyBytes?: number;
  /** The body bytes passed on to the client so far (none once the client has gone). */
  forwardedBytes?: number;
  /** True when the client closed the connection before the whole answer was passed on. */
  cut?: boolean;
}

export interface FaultRule {
  fault: Fault;
  /** Which requests; all when absent. */
  when?: (request: ProxiedRequest) => boolean;
  /** For `slow` (@default 1000) and `stall-body`; the other faults answer after it when it is given. */
  delayMs?: number;
}

export interface FaultProxy {
  endpoint: string;
  /** Every request received, in order. */
  readonly requests: ProxiedRequest[];
  setRules(rules: FaultRule[]): void;
  /** Forgets the recorded requests. */
  clear(): void;
  close(): Promise<void>;
}

const ERRORS: Record<Exclude<Fault, 'slow' | 'stall-body' | 'reset' | 'reset-body'>, [number, string, string]> = {
  denied: [403, 'AccessDenied', 'Access Denied'],
  'no-such-bucket': [404, 'NoSuchBucket', 'The specified bucket does not exist'],
  'wrong-region': [301, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.'],
  error: [500, 'InternalError', 'We encountered an internal error. Please try again.'],
  'invalid-range': [416, 'InvalidRange', 'The requested range is not satisfiable'],
};

function describe(req: IncomingMessage): ProxiedRequest {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const [, , ...rest] = url.pathname.split('/');
  const list = url.searchParams.has('list-type');
  const key = list ? url.searchParams.get('prefix') ?? '' : decodeURIComponent(rest.join('/'));
  const accessKeyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
  return { method: req.method ?? 'GET', url: req.url ?? '/', key, list, accessKeyId, ...(req.headers.range ? { range: req.headers.range } : {}) };
}

/**
 * `target`: the S3 server's URL, or a function giving it (when the server starts after the proxy).
 * `keyIds`: key ids the proxy stands in for, each forwarded as the id the server knows (s3rver
 * 3.7.1 refuses an unknown key id but does not check SigV4 signatures, so a rewritten id passes).
 */
export async function startFaultProxy(target: string | (() => string), keyIds: Record<string, string> = {}): Promise<FaultProxy> {
  let rules: FaultRule[] = [];
  const requests: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const info = describe(req);
    requests.push(info);
    const rule = rules.find((r) => !r.when || r.when(info));
    const forward = (stallMs?: number, reset = false) => {
      const targetUrl = new URL(typeof target === 'string' ? target : target());
      const headers = { ...req.headers };
      const forwardedId = info.accessKeyId && Object.hasOwn(keyIds, info.accessKeyId) ? keyIds[info.accessKeyId] : undefined;
      if (forwardedId) headers.authorization = headers.authorization?.replace(`Credential=${info.accessKeyId}/`, `Credential=${forwardedId}/`);
      const upstream = httpRequest(
        { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers },
        (answer) => {
          if (res.destroyed) return answer.resume();
          info.status = answer.statusCode;
          let bodyBytes = 0;
          answer.on('data', (chunk: Buffer) => {
            bodyBytes += chunk.length;
            if (!res.destroyed) info.forwardedBytes = (info.forwardedBytes ?? 0) + chunk.length;
          });
          res.on('close', () => {
            if (!res.writableFinished) info.cut = true;
          });
          answer.on('end', () => { info.bodyBytes = bodyBytes; });
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          // Headers go on as they arrive, as from the server itself, even before any body byte does.
          res.flushHeaders();
          if (reset) {
            answer.once('data', (chunk: Buffer) => {
              res.write(chunk.subarray(0, 16), () => res.socket?.resetAndDestroy());
              answer.destroy();
            });
            return;
          }
          if (stallMs === undefined) return answer.pipe(res);
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const body = Buffer.concat(chunks);
            res.write(body.subarray(0, 16));
            const timer = setTimeout(() => res.end(body.subarray(16)), stallMs);
            res.on('close', () => clearTimeout(timer));
          });
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (!rule) return forward();
    if (rule.fault === 'stall-body') return forward(rule.delayMs ?? 1000);
    if (rule.fault === 'reset-body') return forward(undefined, true);
    if (rule.fault === 'reset') return void req.socket.resetAndDestroy();
    if (rule.fault === 'slow') {
      const timer = setTimeout(() => forward(), rule.delayMs ?? 1000);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    const [status, code, message] = ERRORS[rule.fault];
    req.resume();
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULT</RequestId></Error>`;
    const answer = () => {
      const region = rule.fault === 'wrong-region' ? { 'x-amz-bucket-region': 'eu-west-1' } : {};
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...region });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (rule.delayMs === undefined) return answer();
    const timer = setTimeout(answer, rule.delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    setRules(next) {
      rules = next;
    },
    clear() {
      requests.length = 0;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
