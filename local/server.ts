// The local HTTP adapter: node:http in front of the same ImageService the Lambda handler uses.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { ImageService, RequestRecord, ServiceRequest } from '../lambda/service/image-service';
import type { PlaygroundPage } from '../lambda/playground/page';

export function toServiceRequest(req: IncomingMessage): ServiceRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  return {
    method: req.method ?? 'GET',
    rawPath: q < 0 ? url : url.slice(0, q),
    rawQuery: q < 0 ? '' : url.slice(q + 1),
    headers,
  };
}

export interface LocalServerOptions {
  /** The page served at `/` (`npm start`); without it `/` goes to the service like any path. */
  playground?: PlaygroundPage;
  /** Called once per request answered, e.g. to print `humanLine(record)` (local/request-line.ts). */
  onRequest?: (record: RequestRecord) => void;
}

export function createLocalServer(service: ImageService, options: LocalServerOptions = {}): Server {
  return createServer((req, res) => {
    if (options.playground && (req.method === 'GET' || req.method === 'HEAD') && /^\/(\?|$)/.test(req.url ?? '')) {
      res.writeHead(200, options.playground.headers);
      res.end(req.method === 'HEAD' ? undefined : options.playground.html);
      return;
    }
    // A client that leaves before its answer is sent takes its work with it.
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    service.serve(toServiceRequest(req), { signal: clientGone.signal }).then(
      ({ response, record }) => {
        // The answer first, then the log line: the viewer does not wait for the log.
        if (!clientGone.signal.aborted) {
          res.writeHead(response.status, response.headers);
          res.end(response.body);
        }
        options.onRequest?.(record);
      },
      (error) => {
        // ImageService.handle never rejects; this is a last line of defence.
        console.error('afterimage: unexpected failure', error);
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal error\n');
      },
    );
  });
}

/** Listens on 127.0.0.1 and resolves with the port (0 = a free one). */
export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
