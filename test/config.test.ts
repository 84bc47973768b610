// The configuration schema: defaults, and messages a user can act on.

import { ConfigError, DEFAULT_LIMITS, memoryBudgetFor, parseConfig } from '../lambda/config';

const origin = { name: 'images', type: 's3', bucket: 'my-images' };

function problemsOf(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration defaults', () => {
  it('fills in output defaults (quality 80, format auto), limits and one default endpoint', () => {
    const config = parseConfig({ origins: [origin] });
    expect(config.output.quality).toBe(80);
    expect(config.output.format).toBe('auto');
    expect(config.limits).toEqual(DEFAULT_LIMITS);
    expect(config.limits.maxOutputPixels).toBe(8192 * 8192); // every still image within maxOutputDimension
    // The cost model's budget: 80 % of the default 1536 MB function; AVIF up to 4K UHD.
    expect(config.limits).toMatchObject({ memoryBudgetMB: 1228, maxEncodeSeconds: 10, maxAvifPixels: 3840 * 2160 });
    expect(memoryBudgetFor(3008)).toBe(2406);
    expect(config.endpoints).toEqual([{ prefix: '', origins: ['images'], cloudinaryUrls: false, requireSignedUrls: false }]);
    expect(config.origins[0]).toMatchObject({ folder: '/', credentials: { source: 'secret' }, encodeKeys: false });
  });

  it('normalises endpoint prefixes to bare segments', () => {
    const config = parseConfig({ origins: [origin], endpoints: [{ prefix: '/shop/images/', origins: ['images'] }] });
    expect(config.endpoints[0].prefix).toBe('shop/images');
  });

  it('strips a trailing slash from the canonical base URL', () => {
    const config = parseConfig({ origins: [{ ...origin, canonicalBaseUrl: 'https://cdn.example.com/' }] });
    expect(config.origins[0].canonicalBaseUrl).toBe('https://cdn.example.com');
  });
});

describe('configuration errors', () => {
  it('lists every problem at once, naming the setting and what was expected', () => {
    const problems = problemsOf({
      origins: [{ name: 'a b', type: 'gcs', bucket: '' }],
      output: { quality: 120 },
      limits: { maxOutputDimension: 'big', maxOutputPixels: 0, memoryBudgetMB: 64 },
    });
    expect(problems).toEqual(expect.arrayContaining([
      'expected letters, digits, "-" or "_" (at most 64) for origins[0].name but received "a b"',
      'expected one of s3, cloudinary-backup for origins[0].type but received "gcs"',
      'expected a non-empty string for origins[0].bucket but received ""',
      'expected an integer between 1 and 100 for output.quality but received 120',
      'expected an integer between 1 and 16383 for limits.maxOutputDimension but received "big"',
      'expected an integer between 1 and 4294967296 for limits.maxOutputPixels but received 0',
      'expected an integer between 128 and 10240 for limits.memoryBudgetMB but received 64',
    ]));
  });

  it('rejects an endpoint that names an unknown origin', () => {
    expect(problemsOf({ origins: [origin], endpoints: [{ prefix: '', origins: ['nope'] }] })).toEqual([
      'endpoints[0].origins[0] names an origin that does not exist: "nope" (known: images)',
    ]);
  });

  it('rejects unknown settings, so a typo is not silently ignored', () => {
    expect(problemsOf({ origins: [{ ...origin, folderr: '/x' }] })[0]).toMatch(/unknown setting origins\[0\]\.folderr/);
  });

  it('rejects duplicate origin names and endpoint prefixes', () => {
    const problems = problemsOf({
      origins: [origin, origin],
      endpoints: [{ prefix: '/a', origins: ['images'] }, { prefix: 'a/', origins: ['images'] }],
    });
    expect(problems).toContain('two origins are named "images"; names must be unique');
    expect(problems).toContain('two endpoints have the prefix "/a"; prefixes must be unique');
  });

  it('requires keys for static credentials and an http(s) endpoint URL', () => {
    const problems = problemsOf({ origins: [{ ...origin, endpoint: 'ftp://x', credentials: { source: 'static' } }] });
    expect(problems).toEqual(expect.arrayContaining([
      'expected an http(s) URL for origins[0].endpoint but received "ftp://x"',
      'expected a non-empty string for origins[0].credentials.accessKeyId but received nothing',
    ]));
  });

  it('rejects a configuration that is not an object', () => {
    expect(problemsOf('origins')).toEqual(['expected an object for the configuration but received "origins"']);
  });
});
