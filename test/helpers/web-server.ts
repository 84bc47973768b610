// A web server on loopback for web and Cloudinary origins: each path answers as a route says
// (a file, a redirect, a status, a slow or oversized body). Every request is recorded, so tests
// can tell which upstream was reached and with which headers.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface RecordedRequest {
  path: string;
  /** The path with its query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface WebServer {
  /** `http://127.0.0.1:<port>` (https with a certificate). */
  url: string;
  port: number;
  readonly requests: RecordedRequest[];
  routes: Map<string, Route>;
  /** Requests for one path (as received, still percent-encoded). */
  count(path: string): number;
  close(): Promise<void>;
}

/** A route serving a body with a Content-Type and extra headers. */
export function file(body: Buffer, contentType: string, headers: Record<string, string> = {}): Route {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': body.length, ...headers });
    res.end(body);
  };
}

export function redirect(location: string, status = 302): Route {
  return (_req, res) => {
    res.writeHead(status, { location });
    res.end();
  };
}

export function status(code: number): Route {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(`${code}\n`);
  };
}

export async function startWebServer(tls?: { key: string; cert: string }): Promise<WebServer> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push({ path, url: req.url ?? '/', headers: req.headers });
    (routes.get(path) ?? status(404))(req, res);
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    routes,
    count: (path) => requests.filter((r) => r.path === path).length,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A self-signed certificate for `hostname` (openssl), for an https test server its client trusts by `ca`. */
export function selfSignedCertificate(hostname: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'afterimage-tls-'));
  try {
    const result = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${hostname}`,
      '-addext', `subjectAltName=DNS:${hostname}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
