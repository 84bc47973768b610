// The configuration schema: defaults, the limits table, the Lambda target's rules, and
// messages a user can act on.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, DEFAULT_CACHE, DEFAULT_LIMITS, DEFAULT_OUTPUT, memoryBudgetFor, parseConfig, type ParseOptions } from '../lambda/config';
import { LIMIT_NAMES, LIMITS } from '../lambda/config/limits';

const origin = { name: 'images', type: 's3', bucket: 'my-images' };

function problemsOf(input: unknown, options?: ParseOptions): string[] {
  try {
    parseConfig(input, options);
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
    expect(config.output.cacheControl).toBe('public, max-age=86400, s-maxage=31536000, stale-while-revalidate=86400');
    expect(config.output.versionedCacheControl).toBe('public, max-age=31536000, immutable');
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

  it('takes both Cache-Control values from output, and refuses an empty one', () => {
    const config = parseConfig({ origins: [origin], output: { cacheControl: 'public, max-age=600, s-maxage=86400', versionedCacheControl: 'public, max-age=604800' } });
    expect(config.output).toMatchObject({ cacheControl: 'public, max-age=600, s-maxage=86400', versionedCacheControl: 'public, max-age=604800' });
    expect(problemsOf({ origins: [origin], output: { versionedCacheControl: '' } })).toEqual(['expected a non-empty string for output.versionedCacheControl but received ""']);
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
      'expected one of s3, cloudinary-backup, web, cloudinary for origins[0].type but received "gcs"',
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

  it('kmsKeyArn: a key ARN of an Amazon S3 origin, in the bucket\'s Region (README "Configuration reference")', () => {
    const key = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const multiRegion = 'arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    expect(parseConfig({ origins: [{ ...origin, kmsKeyArn: key }] }).origins[0].kmsKeyArn).toBe(key);
    expect(parseConfig({ origins: [{ ...origin, region: 'cn-north-1', kmsKeyArn: multiRegion }] }).origins[0].kmsKeyArn).toBe(multiRegion);
    expect(parseConfig({ origins: [origin] }).origins[0]).not.toHaveProperty('kmsKeyArn');
    const alias = 'arn:aws:kms:eu-west-1:111122223333:alias/images';
    expect(problemsOf({ origins: [{ ...origin, kmsKeyArn: alias }] })).toEqual([
      `expected the key's own ARN (an IAM policy cannot name a key by its alias), such as "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab" for origins[0].kmsKeyArn but received "${alias}"`,
    ]);
    for (const wrong of ['1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:s3:::bucket', `${key}/x`]) {
      expect(problemsOf({ origins: [{ ...origin, kmsKeyArn: wrong }] })[0]).toMatch(/^expected a KMS key ARN, such as .* for origins\[0\]\.kmsKeyArn/);
    }
    expect(problemsOf({ origins: [{ ...origin, region: 'us-east-1', kmsKeyArn: key }] })).toEqual([
      'origins[0].kmsKeyArn is a key in eu-west-1, but the bucket is in us-east-1 (origins[0].region): S3 encrypts with keys of the bucket\'s own Region',
    ]);
    expect(problemsOf({ origins: [{ ...origin, endpoint: 'https://storage.googleapis.com', kmsKeyArn: key }] })).toEqual([
      'origins[0].kmsKeyArn applies only to Amazon S3 (this origin sets an endpoint: its service manages its own keys)',
    ]);
    expect(problemsOf({ origins: [{ type: 'web', name: 'w', baseUrl: 'https://images.example.org', kmsKeyArn: key }] })).toEqual([
      'origins[0].kmsKeyArn applies only to S3 origins ("s3", "cloudinary-backup"), not to type "web"',
    ]);
  });

  it('rejects a configuration that is not an object', () => {
    expect(problemsOf('origins')).toEqual(['expected an object for the configuration but received "origins"']);
  });
});

describe('the limits table', () => {
  it('gives every limit its default, within its own range', () => {
    for (const name of LIMIT_NAMES) {
      const { default: value, min, max } = LIMITS[name];
      if (value === undefined) continue;
      expect([name, DEFAULT_LIMITS[name]]).toEqual([name, value]);
      expect(value).toBeGreaterThanOrEqual(min);
      expect(value).toBeLessThanOrEqual(max);
    }
    // Set only when written: the serving machine's CPUs decide.
    expect(parseConfig({ origins: [origin] }).limits).not.toHaveProperty('maxConcurrentRenders');
  });

  it('checks every limit against its range: both ends accepted, one past either refused by name', () => {
    for (const name of LIMIT_NAMES) {
      const { min, max } = LIMITS[name];
      // The cache of originals comes out of the memory budget: its largest needs the largest budget.
      const room = name === 'originalCacheMB' ? { memoryBudgetMB: LIMITS.memoryBudgetMB.max } : {};
      expect(parseConfig({ origins: [origin], limits: { [name]: min } }).limits[name]).toBe(min);
      expect(parseConfig({ origins: [origin], limits: { ...room, [name]: max } }).limits[name]).toBe(max);
      for (const wrong of [min - 1, max + 1, min + 0.5]) {
        expect(problemsOf({ origins: [origin], limits: { [name]: wrong } })).toEqual([
          `expected an integer between ${min} and ${max} for limits.${name} but received ${wrong}`,
        ]);
      }
    }
  });

  it('names the known limits when one is misspelt', () => {
    expect(problemsOf({ origins: [origin], limits: { maxStep: 5 } })).toEqual([
      'unknown setting limits.maxStep (known: maxOutputDimension, maxInputBytes, maxInputPixels, maxOutputPixels, memoryBudgetMB, originalCacheMB, ' +
        'maxEncodeSeconds, maxAvifPixels, maxSteps, maxChainLength, maxLayers, maxLayerText, originTimeoutMs, originRetries, requestTimeoutMs, maxSvgPixels, ' +
        'maxQueuedRenders, maxConcurrentRenders)',
    ]);
  });

  it("is the README's limits table, row for row", () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const documented = readme.split('\n').filter((line) => line.startsWith('| `limits.'));
    const rows = LIMIT_NAMES.map((name) => {
      const spec: { default: number | undefined; min: number; max: number; defaultText?: string; doc: string } = LIMITS[name];
      const shownDefault = spec.defaultText ?? `\`${spec.default}\``;
      return `| \`limits.${name}\` | ${shownDefault} | ${spec.min.toLocaleString('en-US')} to ${spec.max.toLocaleString('en-US')} | ${spec.doc} |`;
    });
    expect(documented).toEqual(rows);
  });

  it("is the README's output and cache rows: each setting once, with its default, in one unbroken table", () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const lines = readme.split('\n');
    const rows = lines.flatMap((line, index) => {
      const match = /^\| `(output|cache)\.(\w+)` \| `([^`]*)` \|/.exec(line);
      return match ? [{ index, setting: `${match[1]}.${match[2]}`, shown: match[3] }] : [];
    });
    const defaults = [...Object.entries(DEFAULT_OUTPUT).map(([k, v]) => [`output.${k}`, v]), ...Object.entries(DEFAULT_CACHE).map(([k, v]) => [`cache.${k}`, v])];
    expect(rows.map((r) => r.setting).sort()).toEqual(defaults.map(([k]) => k).sort());
    expect(Object.fromEntries(rows.map((r) => [r.setting, r.shown]))).toEqual(Object.fromEntries(defaults.map(([k, v]) => [k, String(v)])));
    // A blank line ends a Markdown table: every row from the first to the last is a table line.
    for (let i = rows[0].index; i <= rows[rows.length - 1].index; i++) expect(lines[i]).toMatch(/^\|/);
  });
});

describe("the Lambda target (the CDK construct's rules)", () => {
  const withCredentials = (credentials: unknown) => ({ origins: [{ ...origin, credentials }] });

  it('refuses static and env credentials, which work locally', () => {
    const staticKeys = withCredentials({ source: 'static', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' });
    expect(parseConfig(staticKeys).origins[0].credentials).toMatchObject({ source: 'static' });
    expect(parseConfig(withCredentials({ source: 'env' })).origins[0].credentials).toEqual({ source: 'env' });
    expect(problemsOf(staticKeys, { target: 'lambda' })).toEqual([
      'origins[0].credentials.source "static" is refused in AWS: the keys would be written into the CloudFormation template. ' +
        'Use "secret" and put the keys into the stack\'s secret after deploying',
    ]);
    expect(problemsOf(withCredentials({ source: 'env' }), { target: 'lambda' })).toEqual([
      'origins[0].credentials.source "env" does not work in Lambda, where AWS_ACCESS_KEY_ID holds the function\'s own role credentials. ' +
        'Use "secret" (bucket keys in the stack\'s secret) or "default-chain" (the function\'s role)',
    ]);
  });

  it('accepts the secret and the role', () => {
    for (const source of ['secret', 'default-chain']) {
      expect(parseConfig(withCredentials({ source }), { target: 'lambda' }).origins[0].credentials).toEqual({ source });
    }
  });

  it("lists its problems after the schema's, in one error", () => {
    const input = { origins: [{ ...origin, credentials: { source: 'static' } }, { ...origin, name: 'other', credentials: { source: 'env' } }], colour: 'blue' };
    const problems = problemsOf(input, { target: 'lambda' });
    expect(problems[0]).toMatch(/^unknown setting config\.colour/);
    expect(problems).toContain('expected a non-empty string for origins[0].credentials.accessKeyId but received nothing');
    expect(problems.slice(-2).map((p) => p.slice(0, 40))).toEqual([
      'origins[0].credentials.source "static" i',
      'origins[1].credentials.source "env" does',
    ]);
  });

  it("lets memoryBudgetMB follow the function's memory unless written, checked as if written", () => {
    expect(parseConfig({ origins: [origin] }, { memorySizeMB: 3008 }).limits.memoryBudgetMB).toBe(2406);
    expect(parseConfig({ origins: [origin], limits: { memoryBudgetMB: 1000 } }, { memorySizeMB: 3008 }).limits.memoryBudgetMB).toBe(1000);
    expect(problemsOf({ origins: [origin] }, { target: 'lambda', memorySizeMB: 128 })).toEqual([
      'expected an integer between 128 and 10240 for limits.memoryBudgetMB but received 102',
    ]);
  });
});

describe('web and Cloudinary origins, copy on miss, fetch URLs: every new key checked', () => {
  const web = { name: 'web', type: 'web', baseUrl: 'https://images.example.org/media/' };
  const live = { name: 'live', type: 'cloudinary', cloud: 'demo' };

  it('a web origin: baseUrl without its trailing slash, https, no bucket or keys', () => {
    const config = parseConfig({ origins: [web] });
    expect(config.origins[0]).toEqual({ name: 'web', type: 'web', baseUrl: 'https://images.example.org/media', allowHttp: false, allowPrivateNetwork: false, encodeKeys: false });
  });

  it('a cloudinary origin: cloud, deliveryTypes upload by default', () => {
    expect(parseConfig({ origins: [live] }).origins[0]).toMatchObject({ cloud: 'demo', deliveryTypes: ['upload'], allowPrivateNetwork: false });
    expect(parseConfig({ origins: [{ ...live, deliveryHost: 'Demo-Res.cloudinary.com' }] }).origins[0].deliveryHost).toBe('demo-res.cloudinary.com');
  });

  it('http only with allowHttp', () => {
    expect(problemsOf({ origins: [{ ...web, baseUrl: 'http://images.example.org' }] })).toEqual([
      'expected an https URL (http needs "allowHttp": true) without user, query or fragment, such as "https://images.example.org/media" for origins[0].baseUrl but received "http://images.example.org"',
    ]);
    expect(parseConfig({ origins: [{ ...web, baseUrl: 'http://images.example.org', allowHttp: true }] }).origins[0].baseUrl).toBe('http://images.example.org');
  });

  it.each([
    [{ ...web, baseUrl: 'ftp://x.org' }, /origins\[0\]\.baseUrl/],
    [{ ...web, baseUrl: 'https://user:pw@x.org' }, /without user, query or fragment.*origins\[0\]\.baseUrl/],
    [{ ...web, baseUrl: undefined }, /a non-empty string for origins\[0\]\.baseUrl but received nothing/],
    [{ ...web, bucket: 'b' }, /origins\[0\]\.bucket applies only to S3 origins \("s3", "cloudinary-backup"\), not to type "web"/],
    [{ ...web, credentials: { source: 'secret' } }, /origins\[0\]\.credentials applies only to S3 origins/],
    [{ ...web, cloud: 'demo' }, /origins\[0\]\.cloud applies only to type "cloudinary"/],
    [{ ...live, baseUrl: 'https://x.org' }, /origins\[0\]\.baseUrl applies only to type "web"/],
    [{ ...live, cloud: undefined }, /a non-empty string for origins\[0\]\.cloud/],
    [{ ...live, cloud: 'de mo' }, /a Cloudinary cloud name.*origins\[0\]\.cloud/],
    [{ ...live, deliveryHost: 'https://x.org/path' }, /a host name, with an optional port.*origins\[0\]\.deliveryHost/],
    [{ ...live, encodeKeys: true }, /origins\[0\]\.encodeKeys applies only to types "s3", "cloudinary-backup" and "web"/],
    [{ ...web, allowPrivateNetwork: 'yes' }, /true or false for origins\[0\]\.allowPrivateNetwork/],
    [{ ...web, contentTypes: ['images'] }, /a non-empty list of content types.*origins\[0\]\.contentTypes/],
    [{ ...web, secretHeaders: { Authorization: 'Bearer abc.def' } }, /the name of a field of the secret's "originHeaders".*never the header's value itself\) for origins\[0\]\.secretHeaders\.Authorization but received "…"/],
    [{ ...web, secretHeaders: { Host: 'h' } }, /an HTTP header name other than host/],
    [{ ...origin, allowHttp: true }, /origins\[0\]\.allowHttp applies only to types "web" and "cloudinary"/],
    [{ ...origin, copyTo: 'images' }, /origins\[0\]\.copyTo applies only to types "web" and "cloudinary"/],
  ])('refuses %j', (written, message) => {
    expect(problemsOf({ origins: [written] }).join('\n')).toMatch(message);
  });

  it('a secret header value never appears in a message', () => {
    expect(problemsOf({ origins: [{ ...web, secretHeaders: { Authorization: 'Bearer TOPSECRET' } }] }).join('\n')).not.toMatch(/TOPSECRET/);
  });

  it('copyTo names an existing S3 origin', () => {
    expect(parseConfig({ origins: [origin, { ...web, copyTo: 'images' }] }).origins[1].copyTo).toBe('images');
    expect(problemsOf({ origins: [origin, { ...web, copyTo: 'nope' }] })).toEqual(['origins[1].copyTo names an origin that does not exist: "nope" (known: images, web)']);
    expect(problemsOf({ origins: [live, { ...web, copyTo: 'live' }] })).toEqual(['origins[1].copyTo must name an S3 origin ("s3" or "cloudinary-backup"); "live" is of type "cloudinary"']);
  });

  it('an endpoint reads the copies: the target comes before the origin copied from', () => {
    const origins = [origin, { ...web, copyTo: 'images' }];
    expect(parseConfig({ origins, endpoints: [{ prefix: '', origins: ['images', 'web'] }] }).endpoints[0].origins).toEqual(['images', 'web']);
    expect(problemsOf({ origins, endpoints: [{ prefix: '', origins: ['web', 'images'] }, { prefix: 'b', origins: ['web'] }] })).toEqual([
      'endpoints[0].origins lists "web", which copies into "images", without "images" before it: the copies would never be read (list "images" first)',
      'endpoints[1].origins lists "web", which copies into "images", without "images" before it: the copies would never be read (list "images" first)',
    ]);
    expect(problemsOf({ origins: [{ ...web, copyTo: 'images' }, origin] })).toEqual([
      'the default endpoint (every origin, in order) lists "web", which copies into "images", without "images" before it: the copies would never be read (list "images" first)',
    ]);
  });

  it('fetchAllowedHosts: exact lower-case host names, on a cloudinaryUrls endpoint', () => {
    const endpoint = { prefix: '', origins: ['images'], cloudinaryUrls: true, fetchAllowedHosts: ['images.example.org'] };
    expect(parseConfig({ origins: [origin], endpoints: [endpoint] }).endpoints[0].fetchAllowedHosts).toEqual(['images.example.org']);
    expect(problemsOf({ origins: [origin], endpoints: [{ ...endpoint, cloudinaryUrls: false }] })).toEqual([
      'endpoints[0].fetchAllowedHosts needs "cloudinaryUrls": true (fetch URLs are Cloudinary URLs)',
    ]);
    for (const bad of [['*.example.org'], ['https://images.example.org'], ['images.example.org:443'], ['images.example.org/x'], ['Images.Example.org'], [], 'images.example.org']) {
      expect(problemsOf({ origins: [origin], endpoints: [{ ...endpoint, fetchAllowedHosts: bad }] }).join('\n')).toMatch(/a list of 1 to 100 lower-case host names.*endpoints\[0\]\.fetchAllowedHosts/);
    }
    expect(problemsOf({ origins: [origin], endpoints: [{ prefix: '', origins: ['images'], fetchAllowPrivateNetwork: true }] })).toEqual([
      'endpoints[0].fetchAllowPrivateNetwork applies only with fetchAllowedHosts',
    ]);
  });
});

describe('fonts (README "Layers")', () => {
  it('names a font file in an origin; the leading slash of its path is dropped', () => {
    const config = parseConfig({ origins: [origin], fonts: { brand: { origin: 'images', path: '/fonts/Brand.ttf' } } });
    expect(config.fonts).toEqual({ brand: { origin: 'images', path: 'fonts/Brand.ttf' } });
  });

  it('refuses an unknown origin, a bad name and unknown keys, naming each', () => {
    expect(problemsOf({ origins: [origin], fonts: { 'my font': { origin: 'nope', path: 'a.ttf', size: 3 } } })).toEqual([
      'expected letters, digits, "-" or "_" for the name fonts.my font but received "my font"',
      'unknown setting fonts.my font.size (known: origin, path)',
      'expected the name of an origin (images) for fonts.my font.origin but received "nope"',
    ]);
  });
});
