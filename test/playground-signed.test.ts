// The playground in a deployed function (construct option `playground.enabled`): the page only
// at /_afterimage/playground, only with a link signed by the secret's privateKey with an expiry,
// through the Lambda adapter under the runtime double; and off by default in the stack.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../lambda/config';
import { createStreamingHandler, loadService } from '../lambda/function-url';
import { SecretStore } from '../lambda/origin/secrets';
import { playgroundPage, playgroundSetup } from '../lambda/playground/page';
import { PLAYGROUND_FILE_NAME, PLAYGROUND_PATH, loadSignedPlayground } from '../lambda/playground/signed-access';
import { signUrl } from '../lambda/request/signature';
import { ImageService } from '../lambda/service/image-service';
import { lambdaNodejsBundling } from '../lib/lambda-bundling';
import { ImageDeliveryStack } from '../lib/stack';
import { EXAMPLE_CONFIG, newApp, TEST_ENV } from './helpers/cdk-app';
import { LambdaRuntime, awslambdaDouble, functionUrlEvent, installLambdaRuntime, type StreamingHandler } from './helpers/lambda-runtime';

installLambdaRuntime();

const ROOT = path.join(__dirname, '..');
const KEY = 'playground-test-key';
const config = parseConfig({
  origins: [{ name: 'media', type: 's3', bucket: 'media', endpoint: 'http://127.0.0.1:9', credentials: { source: 'static', accessKeyId: 'a', secretAccessKey: 'b' } }],
  endpoints: [{ prefix: '', origins: ['media'] }, { prefix: '/private', origins: ['media'], requireSignedUrls: true }],
});
let runtime: LambdaRuntime;
let directory: string;

beforeAll(async () => {
  runtime = await new LambdaRuntime().start();
  // What the construct's bundling puts in the asset when the playground is enabled.
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-playground-asset-'));
  fs.copyFileSync(path.join(ROOT, 'lambda/playground/index.html'), path.join(directory, PLAYGROUND_FILE_NAME));
});
afterAll(async () => {
  await runtime?.stop();
  fs.rmSync(directory, { recursive: true, force: true });
});

function handlerWithSecret(secret: object) {
  const secrets = new SecretStore('afterimage-secret', 60_000, { send: async () => ({ SecretString: JSON.stringify(secret) }) });
  const source = { service: new ImageService(config, { secrets }), playground: loadSignedPlayground(directory, config, secrets) };
  return awslambdaDouble.streamifyResponse(createStreamingHandler(source) as unknown as StreamingHandler);
}

/** A playground link as `npm run sign -- https://cdn.example.com/_afterimage/playground --endpoint https://cdn.example.com/` makes it. */
function signedLink(key: string, expiresAt?: number): string {
  return signUrl(`https://cdn.example.com${PLAYGROUND_PATH}`, 'https://cdn.example.com/', key, expiresAt).slice('https://cdn.example.com'.length);
}

describe('the playground in a deployed function', () => {
  const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

  it('serves the page to a link signed with the secret\'s privateKey and an expiry', async () => {
    const result = await runtime.invoke(handlerWithSecret({ privateKey: KEY }), functionUrlEvent('GET', signedLink(KEY, inAnHour())));
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(result.headers['cache-control']).toBe('no-store');
    expect(result.headers['content-security-policy']).toMatch(/script-src 'sha256-/);
    const html = result.body.toString();
    expect(html).toContain('<title>afterimage playground</title>');
    // Its setup lists the configured endpoints; no samples are known in AWS.
    expect(html).toContain('"endpoints":[{"prefix":""');
    expect(html).toContain('"prefix":"private","cloudinaryUrls":false,"requireSignedUrls":true');
    expect(html).toContain('"samples":[]');
  });

  it('refuses the page without a signature, with a wrong one, without an expiry, or expired (401 ESIGNATURE)', async () => {
    const handler = handlerWithSecret({ privateKey: KEY });
    const cases: [string, string][] = [
      [PLAYGROUND_PATH, 'needs a signed link with an expiry'],
      [signedLink('another key', inAnHour()), 'does not match'],
      [signedLink(KEY), 'needs a signed link with an expiry'],
      [signedLink(KEY, Math.floor(Date.now() / 1000) - 10), 'has expired'],
    ];
    for (const [url, reason] of cases) {
      const result = await runtime.invoke(handler, functionUrlEvent('GET', url));
      expect({ url, status: result.statusCode }).toEqual({ url, status: 401 });
      expect(result.headers['x-afterimage-error']).toContain('ESIGNATURE');
      expect(result.headers['x-afterimage-error']).toContain(reason);
      expect(result.body.toString()).not.toContain('<html');
    }
  });

  it('refuses the page when the secret holds no privateKey', async () => {
    const result = await runtime.invoke(handlerWithSecret({}), functionUrlEvent('GET', signedLink(KEY, inAnHour())));
    expect(result.statusCode).toBe(401);
    expect(result.headers['x-afterimage-error']).toContain('none is configured');
  });

  it('serves no page when the option is off: the path goes to the image service like any other', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-no-playground-'));
    try {
      fs.writeFileSync(path.join(dir, 'afterimage.config.json'), JSON.stringify(config));
      const saved = process.env.AFTERIMAGE_PLAYGROUND;
      delete process.env.AFTERIMAGE_PLAYGROUND;
      const source = loadService(dir);
      if (saved !== undefined) process.env.AFTERIMAGE_PLAYGROUND = saved;
      expect('playground' in source && source.playground).toBeFalsy();
      const handler = awslambdaDouble.streamifyResponse(createStreamingHandler(source) as unknown as StreamingHandler);
      const result = await runtime.invoke(handler, functionUrlEvent('GET', signedLink(KEY, inAnHour())));
      expect(result.headers['content-type']).not.toContain('text/html');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the page\'s setup', () => {
  it('lists the endpoints and the samples; a path cannot close the script element that carries them', () => {
    const page = playgroundPage(playgroundSetup(config, [{ endpoint: '', path: 'a</script><script>alert(1)</script>.jpg' }]));
    expect(page.html).not.toContain('</script><script>alert(1)');
    const json = /<script type="application\/json" id="setup">([^<]*)<\/script>/.exec(page.html)![1];
    expect(JSON.parse(json)).toEqual({
      endpoints: [
        { prefix: '', cloudinaryUrls: false, requireSignedUrls: false },
        { prefix: 'private', cloudinaryUrls: false, requireSignedUrls: true },
      ],
      samples: [{ endpoint: '', path: 'a</script><script>alert(1)</script>.jpg' }],
    });
    // The Content-Security-Policy allows the page's one inline script by its hash, nothing else.
    const script = /<script>([\s\S]*?)<\/script>/.exec(page.html)![1];
    const hash = createHash('sha256').update(script).digest('base64');
    expect(page.headers['content-security-policy']).toContain(`script-src 'sha256-${hash}';`);
    expect(/script-src [^;]*/.exec(page.headers['content-security-policy'])![0]).not.toContain('unsafe');
  });
});

describe('construct option playground', () => {
  const synth = (playground?: { enabled?: boolean }) => {
    const stack = new ImageDeliveryStack(newApp(), 'Afterimage', { env: TEST_ENV, delivery: { config: EXAMPLE_CONFIG, playground } });
    return Template.fromStack(stack);
  };
  const environmentOf = (template: Template) =>
    Object.values(template.findResources('AWS::Lambda::Function'))
      .map((f) => f.Properties.Environment?.Variables ?? {})
      .find((v) => 'AFTERIMAGE_SECRET_ARN' in v);

  it('is off by default: no AFTERIMAGE_PLAYGROUND, and the page is not copied into the asset', () => {
    expect(environmentOf(synth())).not.toHaveProperty('AFTERIMAGE_PLAYGROUND');
    expect(environmentOf(synth({ enabled: false }))).not.toHaveProperty('AFTERIMAGE_PLAYGROUND');
    const hooks = lambdaNodejsBundling('/pkg/config.json').commandHooks!;
    expect(hooks.afterBundling('/pkg', '/out').join('\n')).not.toContain(PLAYGROUND_FILE_NAME);
  });

  it('when enabled, the function serves the signed page and the asset carries it', () => {
    expect(environmentOf(synth({ enabled: true }))).toMatchObject({ AFTERIMAGE_PLAYGROUND: 'signed' });
    const hooks = lambdaNodejsBundling('/pkg/config.json', true).commandHooks!;
    expect(hooks.afterBundling('/pkg', '/out').join('\n')).toContain(`cp '/pkg/lambda/playground/index.html' '/out/${PLAYGROUND_FILE_NAME}'`);
  });
});
