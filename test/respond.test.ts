// The response helpers every answer goes through (lambda/service/respond.ts), tested directly:
// the error answer and its headers, header sanitising, ETags and their comparison, the canonical link.

import { HttpError, badRequest } from '../lambda/errors';
import { ERROR_HEADER, SANDBOX_CSP, canonicalLink, errorResponse, etagMatches, headerSafe, makeEtag } from '../lambda/service/respond';

describe('errorResponse: every error is a short plain-text answer with its reason header', () => {
  it('answers a known error with its status, code and message', () => {
    const response = errorResponse(badRequest('Unknown parameter "zz"'), false);
    expect(response.status).toBe(400);
    expect(response.body.toString()).toBe('Unknown parameter "zz"\n');
    expect(response.headers).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(response.body.length),
      'cache-control': 'public, max-age=60',
      'x-content-type-options': 'nosniff',
      'content-security-policy': SANDBOX_CSP,
      [ERROR_HEADER]: 'EINVAL - Unknown parameter "zz"',
    });
  });

  it('sends no body to a HEAD, but the length the GET body would have', () => {
    const get = errorResponse(badRequest('bad width'), false);
    const head = errorResponse(badRequest('bad width'), true);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers).toEqual(get.headers);
    expect(head.status).toBe(400);
  });

  it('is cached briefly when it depends on the URL alone, never when the error asks not to be', () => {
    expect(errorResponse(new HttpError('ENOENT', 'not found'), false).headers['cache-control']).toBe('public, max-age=60');
    expect(errorResponse(new HttpError('ELIMIT', 'over the cost limits', true), false).headers['cache-control']).toBe('no-store');
  });

  it('is never cached for a 5xx, even when the error does not say so', () => {
    for (const error of [new HttpError('EORIGIN', 'origin failed'), new HttpError('EBUSY', 'busy'), new HttpError('ETIMEDOUT', 'slow')]) {
      const response = errorResponse(error, false);
      expect({ status: response.status, cache: response.headers['cache-control'] }).toEqual({ status: error.status, cache: 'no-store' });
    }
  });

  describe('an unexpected error', () => {
    let logged: jest.SpyInstance;
    beforeEach(() => {
      logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    });
    afterEach(() => logged.mockRestore());

    it('is a 500 that tells nothing of what went wrong, and is logged', () => {
      const bug = new Error('secret at /var/task/index.js:12');
      const response = errorResponse(bug, false);
      expect(response.status).toBe(500);
      expect(response.body.toString()).toBe('Internal error\n');
      expect(response.headers[ERROR_HEADER]).toBe('EINTERNAL - Internal error');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(JSON.stringify(response.headers)).not.toMatch(/secret/);
      expect(logged).toHaveBeenCalledWith('afterimage: unexpected error', bug);
    });

    it('is a 500 too when what was thrown is not an Error', () => {
      const response = errorResponse('a string', true);
      expect(response.status).toBe(500);
      expect(response.body.length).toBe(0);
      expect(response.headers[ERROR_HEADER]).toBe('EINTERNAL - Internal error');
      expect(logged).toHaveBeenCalledTimes(1);
    });

    it('a known error is not logged', () => {
      errorResponse(badRequest('bad'), false);
      expect(logged).not.toHaveBeenCalled();
    });
  });

  it('keeps the message whole in the body, and printable and short in the header', () => {
    const message = `path "a\r\nx-injected: 1/é.jpg" ${'x'.repeat(400)}`;
    const response = errorResponse(badRequest(message), false);
    expect(response.body.toString()).toBe(`${message}\n`);
    expect(response.headers['content-length']).toBe(String(Buffer.byteLength(`${message}\n`)));
    const header = response.headers[ERROR_HEADER];
    expect(header.startsWith('EINVAL - path "a??x-injected: 1/?.jpg" xxx')).toBe(true);
    expect(header).toHaveLength(300);
    expect(header).toMatch(/^[\x20-\x7e]+$/);
  });
});

describe('headerSafe: no input can split or break a header', () => {
  it('leaves printable ASCII as it is', () => {
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    expect(headerSafe(printable)).toBe(printable);
  });

  it('replaces control characters, DEL and anything beyond ASCII with "?"', () => {
    expect(headerSafe('a\r\nb\tc\0d\x7fe')).toBe('a??b?c?d?e');
    expect(headerSafe('café')).toBe('caf?');
    // One "?" per UTF-16 unit: an emoji is two.
    expect(headerSafe('a😀b')).toBe('a??b');
  });

  it('cuts at 300 characters unless told otherwise', () => {
    expect(headerSafe('x'.repeat(1000))).toHaveLength(300);
    expect(headerSafe('x'.repeat(1000), 20)).toBe('x'.repeat(20));
    expect(headerSafe('short', 20)).toBe('short');
  });
});

describe('makeEtag: a strong ETag from everything that decides the bytes', () => {
  it('is a quoted 32-character base64url token', () => {
    expect(makeEtag(['image', 'v1', '{"w":400}'])).toMatch(/^"[A-Za-z0-9_-]{32}"$/);
  });

  it('is the same for the same parts, and changes when any part or their order changes', () => {
    const parts = ['image', '3', 'etag-of-original', '[{"op":"resize"}]', 'webp', '80'];
    const etag = makeEtag(parts);
    expect(makeEtag([...parts])).toBe(etag);
    for (let i = 0; i < parts.length; i++) {
      const changed = parts.map((part, j) => (j === i ? `${part}!` : part));
      expect(makeEtag(changed)).not.toBe(etag);
    }
    expect(makeEtag([...parts].reverse())).not.toBe(etag);
  });

  it('keeps the parts apart: moving text from one part to the next changes the ETag', () => {
    expect(makeEtag(['ab', 'c'])).not.toBe(makeEtag(['a', 'bc']));
    expect(makeEtag(['abc'])).not.toBe(makeEtag(['abc', '']));
  });

  it('counts an absent part as an empty one', () => {
    expect(makeEtag(['orig', undefined, '12'])).toBe(makeEtag(['orig', '', '12']));
  });
});

describe('etagMatches: If-None-Match by weak comparison', () => {
  const etag = '"abc123"';

  it('matches nothing without the header', () => {
    expect(etagMatches(undefined, etag)).toBe(false);
    expect(etagMatches('', etag)).toBe(false);
  });

  it('matches anything with "*"', () => {
    expect(etagMatches('*', etag)).toBe(true);
    expect(etagMatches(' * ', etag)).toBe(true);
  });

  it('matches the same tag, weak or strong on either side', () => {
    expect(etagMatches('"abc123"', etag)).toBe(true);
    expect(etagMatches('W/"abc123"', etag)).toBe(true);
    expect(etagMatches('"abc123"', 'W/"abc123"')).toBe(true);
    expect(etagMatches('W/"abc123"', 'W/"abc123"')).toBe(true);
  });

  it('matches any tag of a comma-separated list, spaces around them allowed', () => {
    expect(etagMatches('"other", W/"abc123" ,"third"', etag)).toBe(true);
    expect(etagMatches('"other","third"', etag)).toBe(false);
  });

  it('compares whole tags, quotes included', () => {
    expect(etagMatches('"abc12"', etag)).toBe(false);
    expect(etagMatches('"abc1234"', etag)).toBe(false);
    expect(etagMatches('abc123', etag)).toBe(false);
    expect(etagMatches('"ABC123"', etag)).toBe(false);
  });
});

describe('canonicalLink: Link rel="canonical" to the original on its public host', () => {
  it('joins the base URL and the path', () => {
    expect(canonicalLink('https://images.example.com', 'products/landscape.jpg')).toBe('<https://images.example.com/products/landscape.jpg>; rel="canonical"');
  });

  it('percent-encodes every segment, keeping the slashes between them', () => {
    expect(canonicalLink('https://cdn.example.com/media', "a b/ç/x?y#z/it's (1)*!.jpg")).toBe(
      '<https://cdn.example.com/media/a%20b/%C3%A7/x%3Fy%23z/it%27s%20%281%29%2A%21.jpg>; rel="canonical"',
    );
  });

  it('leaves nothing that could end the URL or add a parameter to the header', () => {
    const link = canonicalLink('https://cdn.example.com', 'x>; rel="next", <https://evil.example/;a,b.jpg');
    const url = /^<([^>]*)>; rel="canonical"$/.exec(link)![1];
    expect(url).toBe('https://cdn.example.com/x%3E%3B%20rel%3D%22next%22%2C%20%3Chttps%3A//evil.example/%3Ba%2Cb.jpg');
  });
});
