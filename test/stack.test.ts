// The infrastructure, rule by rule: what the synthesised template must (and must never) hold,
// the CloudFront Function run against sample events, and cdk-nag. Bundling is skipped here;
// test/bundle.test.ts builds the real asset.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duration, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { ConfigError, parseConfig, type AfterimageConfigInput } from '../lambda/config';
import { chooseFormat } from '../lambda/image/format';
import { plainKey } from '../lambda/origin/keys';
import { loadViewerRequest } from '../lib/edge/viewer-request-code';
import { CACHE_KEY_QUERY_STRINGS, DeliveryOptionError, ImageDelivery, VIEWER_REQUEST_FUNCTION_FILE, viewerRequestCode, writeConfigFile, type ImageDeliveryProps } from '../lib/image-delivery';
import { ORIGIN_SHIELD_REGIONS, originShieldRegionFor } from '../lib/origin-shield';
import { ImageDeliveryStack } from '../lib/stack';
import { CDK_CONTEXT, EXAMPLE_CONFIG, newApp, TEST_ENV } from './helpers/cdk-app';

const ROOT = path.join(__dirname, '..');

function synthStack(delivery: Partial<ImageDeliveryProps> = {}): { stack: ImageDeliveryStack; template: Template } {
  const stack = new ImageDeliveryStack(newApp(), 'Afterimage', { env: TEST_ENV, delivery: { config: EXAMPLE_CONFIG, ...delivery } });
  return { stack, template: Template.fromStack(stack) };
}

/** The logical ID of an L2 construct's CloudFormation resource. */
function logicalId(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Builds the construct alone in a fresh stack; used for configurations that must be refused. */
function build(props: ImageDeliveryProps): ImageDelivery {
  return new ImageDelivery(new Stack(newApp(), 'S', { env: TEST_ENV }), 'Images', props);
}

/** Every (action, resource) pair the template's IAM policies grant for actions starting with `prefix`. */
function grantsOf(template: Template, prefix: string): string[][] {
  const pairs: string[][] = [];
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]) {
      for (const action of [statement.Action].flat() as string[]) {
        if (!action.startsWith(prefix)) continue;
        for (const resource of [statement.Resource].flat()) pairs.push([action, JSON.stringify(resource)]);
      }
    }
  }
  return pairs.sort();
}

function withOrigins(origins: AfterimageConfigInput['origins']): AfterimageConfigInput {
  return { origins };
}

describe('the example configuration', () => {
  test('is valid, with the endpoints the README describes', () => {
    const config = parseConfig(EXAMPLE_CONFIG);
    expect(config.endpoints.map((e) => [e.prefix, e.origins, e.cloudinaryUrls])).toEqual([
      ['', ['images', 'cloudinary'], false],
      ['cld', ['cloudinary'], true],
    ]);
  });
});

describe('Lambda function', () => {
  const { stack, template } = synthStack();

  test('runs Node.js 22 on arm64 with the documented defaults', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      MemorySize: 1536,
      Timeout: 30,
    });
  });

  test('receives the secret ARN in its environment, and the configuration in its asset (bundle.test.ts), not the environment', () => {
    const secretId = logicalId(stack, stack.delivery.secret);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          AFTERIMAGE_SECRET_ARN: { Ref: secretId },
          // The metrics' namespace and service dimension (README "Observability").
          POWERTOOLS_METRICS_NAMESPACE: 'afterimage',
          POWERTOOLS_SERVICE_NAME: 'Afterimage/Images',
          // Node's flags, through the asset's wrapper script (bundle.test.ts runs it).
          AWS_LAMBDA_EXEC_WRAPPER: '/var/task/afterimage-runtime',
        },
      },
    });
    const fn = Object.values(template.findResources('AWS::Lambda::Function'))[0]!;
    expect(Object.keys(fn.Properties.Environment.Variables).sort()).toEqual(['AFTERIMAGE_SECRET_ARN', 'AWS_LAMBDA_EXEC_WRAPPER', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME']);
    expect(stack.delivery.config).toEqual(parseConfig(EXAMPLE_CONFIG, { target: 'lambda' }));
  });

  test('logs to its own log group, kept one month', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      LoggingConfig: { LogGroup: { Ref: logicalId(stack, stack.delivery.logGroup) } },
    });
  });

  test('renders run one at a time in the function unless the configuration says otherwise (the budget is for one render)', () => {
    expect(synthStack().stack.delivery.config.limits.maxConcurrentRenders).toBe(1);
    expect(synthStack({ config: { ...EXAMPLE_CONFIG, limits: { maxConcurrentRenders: 2 } } }).stack.delivery.config.limits.maxConcurrentRenders).toBe(2);
    expect(parseConfig(EXAMPLE_CONFIG).limits.maxConcurrentRenders).toBeUndefined();
  });

  test("the cost model's memory budget follows memorySize, unless the configuration sets it", () => {
    expect(synthStack().stack.delivery.config.limits.memoryBudgetMB).toBe(1228);
    expect(synthStack({ memorySize: 3008 }).stack.delivery.config.limits.memoryBudgetMB).toBe(2406);
    const own = synthStack({ memorySize: 3008, config: { ...EXAMPLE_CONFIG, limits: { memoryBudgetMB: 1000 } } });
    expect(own.stack.delivery.config.limits.memoryBudgetMB).toBe(1000);
  });

  test('has no reserved concurrency unless asked, and takes the infrastructure options', () => {
    expect(template.findResources('AWS::Lambda::Function', { Properties: { ReservedConcurrentExecutions: Match.anyValue() } })).toEqual({});
    const custom = synthStack({ memorySize: 2048, timeout: Duration.seconds(20), reservedConcurrency: 50 }).template;
    custom.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 2048, Timeout: 20, ReservedConcurrentExecutions: 50 });
  });
});

describe('Function URL', () => {
  const { template } = synthStack();

  test('needs IAM auth (only CloudFront signs) and streams responses', () => {
    template.resourceCountIs('AWS::Lambda::Url', 1);
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM' });
  });
});

describe('CloudFront origin access', () => {
  const { stack, template } = synthStack();
  const distributionRef = { Ref: logicalId(stack, stack.delivery.distribution) };
  const sourceArnNamesDistribution = Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([distributionRef])] });

  test('uses an origin access control for Lambda that always signs', () => {
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 'lambda', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
    });
  });

  test('grants lambda:InvokeFunctionUrl to this distribution only', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunctionUrl',
      Principal: 'cloudfront.amazonaws.com',
      SourceArn: sourceArnNamesDistribution,
    });
  });

  test('grants lambda:InvokeFunction via the Function URL to this distribution only', () => {
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'cloudfront.amazonaws.com',
      InvokedViaFunctionUrl: true,
      SourceArn: sourceArnNamesDistribution,
    });
  });

  test('grants nothing else', () => {
    template.resourceCountIs('AWS::Lambda::Permission', 2);
  });
});

describe('cache key', () => {
  const { template } = synthStack();

  test('holds only tr, ik-s, ik-t, the Accept header and the canonical-URI flag; no cookies, no encodings', () => {
    template.hasResourceProperties('AWS::CloudFront::CachePolicy', {
      CachePolicyConfig: {
        DefaultTTL: 86400,
        MaxTTL: 31536000,
        MinTTL: 0,
        ParametersInCacheKeyAndForwardedToOrigin: {
          QueryStringsConfig: { QueryStringBehavior: 'whitelist', QueryStrings: Match.exact(['tr', 'ik-s', 'ik-t']) },
          // x-afterimage-canonical: set by the edge function on every image-first URI, one value.
          HeadersConfig: { HeaderBehavior: 'whitelist', Headers: Match.exact(['accept', 'x-afterimage-canonical']) },
          CookiesConfig: { CookieBehavior: 'none' },
          EnableAcceptEncodingGzip: false,
          EnableAcceptEncodingBrotli: false,
        },
      },
    });
  });

  test('keeps ik-s and ik-t in the key when an endpoint requires signatures, so a signed response never answers an unsigned request', () => {
    const signed: AfterimageConfigInput = {
      origins: [{ name: 'images', type: 's3', bucket: 'b' }],
      endpoints: [{ prefix: '/private', origins: ['images'], requireSignedUrls: true }, { prefix: '', origins: ['images'] }],
    };
    const { template: signedTemplate } = synthStack({ config: signed });
    const [policy] = Object.values(signedTemplate.findResources('AWS::CloudFront::CachePolicy'));
    const queryStrings = policy.Properties.CachePolicyConfig.ParametersInCacheKeyAndForwardedToOrigin.QueryStringsConfig.QueryStrings;
    expect(queryStrings).toEqual(expect.arrayContaining(['ik-s', 'ik-t']));
    // And the edge function keeps them in the query the cache key is made from.
    const [fn] = Object.values(signedTemplate.findResources('AWS::CloudFront::Function'));
    expect(String(fn.Properties.FunctionCode)).toMatch(/ik-s/);
  });

  test('forwards nothing beyond it (no origin request policy: Host must not reach a Function URL)', () => {
    template.resourceCountIs('AWS::CloudFront::OriginRequestPolicy', 0);
    const [distribution] = Object.values(template.findResources('AWS::CloudFront::Distribution'));
    expect(distribution.Properties.DistributionConfig.DefaultCacheBehavior.OriginRequestPolicyId).toBeUndefined();
  });
});

describe('distribution', () => {
  const { stack, template } = synthStack();

  test('serves GET and HEAD over HTTPS, HTTP/2 and 3, uncompressed, price class 100', () => {
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        DefaultCacheBehavior: {
          AllowedMethods: ['GET', 'HEAD'],
          ViewerProtocolPolicy: 'redirect-to-https',
          Compress: false,
          CachePolicyId: { Ref: logicalId(stack, stack.delivery.cachePolicy) },
        },
        HttpVersion: 'http2and3',
        PriceClass: 'PriceClass_100',
      },
    });
  });

  test('runs the CloudFront Function on viewer request', () => {
    const functionId = logicalId(stack, stack.delivery.edgeFunction);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        DefaultCacheBehavior: {
          FunctionAssociations: [{ EventType: 'viewer-request', FunctionARN: { 'Fn::GetAtt': [functionId, 'FunctionARN'] } }],
        },
      },
    });
    const code = viewerRequestCode(parseConfig(EXAMPLE_CONFIG));
    template.hasResourceProperties('AWS::CloudFront::Function', {
      FunctionConfig: Match.objectLike({ Runtime: 'cloudfront-js-2.0' }),
      FunctionCode: code,
    });
    // The file without its comments, the endpoints filled in; within CloudFront Functions' 10 KB.
    expect(code).toContain('var CONFIG = {"endpoints":[["",null,false],["cld",null,true]],"maxDimension":8192,"cloudinaryKeys":",w,h,ar,');
    expect(code).toContain('function handler(event)');
    expect(code).not.toMatch(/^\s*\/\//m);
    expect(Buffer.byteLength(code)).toBeLessThan(10 * 1024);
  });

  test('the deployed function code puts the image first: every form of one image under one invalidation path (README "Fixing a stale image")', () => {
    const [fn] = Object.values(template.findResources('AWS::CloudFront::Function'));
    const deployed = loadViewerRequest(String(fn.Properties.FunctionCode));
    const uriOf = (uri: string, query: Record<string, string> = {}, accept = 'image/avif,image/webp') =>
      deployed({ request: { uri, headers: { accept: { value: accept } }, querystring: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, { value: v }])) } }).uri;
    for (const [uri, query, accept] of [
      ['/products/shoe.jpg'],
      ['/tr:w-300/products/shoe.jpg', {}, 'image/webp'],
      ['/products/shoe.jpg', { tr: 'w-300' }, '*/*'],
      ['/tr:n-thumb/products/shoe.jpg', { 'ik-s': 'abc' }],
    ] as [string, Record<string, string>?, string?][]) {
      expect([uri, uriOf(uri, query, accept).startsWith('/products/shoe.jpg/!')]).toEqual([uri, true]);
    }
    for (const uri of ['/cld/image/upload/products/shoe.jpg', '/cld/image/upload/c_fill,w_300/v1700000000/products/shoe.jpg', '/cld/tr:w-10/image/upload/e_grayscale/products/shoe.jpg']) {
      expect([uri, uriOf(uri).startsWith('/cld/image/upload/products/shoe.jpg/!')]).toEqual([uri, true]);
    }
  });

  test('a configuration whose CloudFront Function would pass 10 KB fails the synth, saying why', () => {
    const widths = Array.from({ length: 100 }, (_, i) => 100 + i * 50);
    const endpoints = Array.from({ length: 20 }, (_, i) => ({ prefix: `sized-${i}`, origins: ['images'], widths }));
    const config = { ...EXAMPLE_CONFIG, endpoints: [...(EXAMPLE_CONFIG.endpoints ?? []), ...endpoints] };
    expect(() => build({ config })).toThrow(/CloudFront Function for this configuration takes \d+ bytes, over the 10240/);
  });

  test("the configuration file for the asset is never taken on trust: a planted file of the same name is written over", () => {
    const config = parseConfig(EXAMPLE_CONFIG);
    const file = writeConfigFile(config);
    fs.writeFileSync(file, '{"origins":[{"name":"evil","type":"s3","bucket":"attacker"}]}');
    expect(writeConfigFile(config)).toBe(file);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(config)));
  });

  test('a custom domain gets its certificate and TLSv1.2_2021', () => {
    const app = newApp();
    const stack = new Stack(app, 'S', { env: TEST_ENV });
    const certificate = acm.Certificate.fromCertificateArn(stack, 'Cert', 'arn:aws:acm:us-east-1:111111111111:certificate/abc');
    new ImageDelivery(stack, 'Images', { config: EXAMPLE_CONFIG, domainNames: ['img.example.com'], certificate });
    Template.fromStack(stack).hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        Aliases: ['img.example.com'],
        ViewerCertificate: { MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
      },
    });
  });

  test('a memorySize or timeout too small for image work is refused, saying what would do', () => {
    expect(() => build({ config: EXAMPLE_CONFIG, memorySize: 128 })).toThrow(/memorySize 128 is too small for image work: give at least 512 MB/);
    expect(() => build({ config: EXAMPLE_CONFIG, timeout: Duration.seconds(2) })).toThrow(/timeout 2 s leaves no time for image work: give at least 5 seconds/);
    expect(() => build({ config: EXAMPLE_CONFIG, memorySize: 512, timeout: Duration.seconds(5) })).not.toThrow();
  });

  test('a custom domain without a certificate is refused with a user-facing error', () => {
    expect(() => build({ config: EXAMPLE_CONFIG, domainNames: ['img.example.com'] })).toThrow(DeliveryOptionError);
    expect(() => build({ config: EXAMPLE_CONFIG, domainNames: ['img.example.com'] })).toThrow(/domainNames needs a certificate/);
  });
});

// The Regions and mappings are the CloudFront Developer Guide's "Choosing the AWS Region for Origin
// Shield" (awsdocs/amazon-cloudfront-developer-guide, doc_source/origin-shield.md); CloudFront's
// API takes OriginShield { Enabled, OriginShieldRegion } with the Region pattern [a-z]{2}-[a-z]+-\d.
describe('Origin Shield (README "Origin Shield")', () => {
  /** The distribution's one origin's OriginShield property, and the construct's warnings. */
  function shieldOf(env: { account?: string; region?: string } | undefined, originShield?: ImageDeliveryProps['originShield']) {
    const stack = new ImageDeliveryStack(newApp(), 'Afterimage', { ...(env ? { env } : {}), delivery: { config: EXAMPLE_CONFIG, ...(originShield === undefined ? {} : { originShield }) } });
    const template = Template.fromStack(stack);
    const distribution = Object.values(template.findResources('AWS::CloudFront::Distribution'))[0];
    const origins = distribution.Properties.DistributionConfig.Origins as { OriginShield?: unknown }[];
    expect(origins).toHaveLength(1);
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('Origin ?Shield')).map((w) => String(w.entry.data));
    return { shield: origins[0].OriginShield, warnings, region: stack.delivery.originShieldRegion };
  }

  test('is on by default, in the stack\'s own Region when CloudFront offers it there', () => {
    for (const region of ['us-east-1', 'eu-west-1', 'ap-northeast-1', 'sa-east-1']) {
      const { shield, warnings, region: chosen } = shieldOf({ account: TEST_ENV.account, region });
      expect(shield).toEqual({ Enabled: true, OriginShieldRegion: region });
      expect(chosen).toBe(region);
      expect(warnings).toEqual([]);
    }
  });

  test('in a Region without it, runs in the Region the CloudFront Developer Guide names', () => {
    expect(shieldOf({ account: TEST_ENV.account, region: 'eu-north-1' }).shield).toEqual({ Enabled: true, OriginShieldRegion: 'eu-west-2' });
    expect(shieldOf({ account: TEST_ENV.account, region: 'ca-central-1' }).shield).toEqual({ Enabled: true, OriginShieldRegion: 'us-east-1' });
    expect(shieldOf({ account: TEST_ENV.account, region: 'us-west-1' }).shield).toEqual({ Enabled: true, OriginShieldRegion: 'us-west-2' });
    // Every Region the table maps to is one that offers Origin Shield.
    for (const region of ['us-west-1', 'af-south-1', 'ap-east-1', 'ca-central-1', 'eu-south-1', 'eu-west-3', 'eu-north-1', 'me-south-1']) {
      expect(ORIGIN_SHIELD_REGIONS).toContain(originShieldRegionFor(region));
    }
  });

  test('is off, with a warning saying how to turn it on, where no Region can be chosen', () => {
    const unknown = shieldOf({ account: TEST_ENV.account, region: 'ap-southeast-3' });
    expect(unknown.shield).toEqual({ Enabled: false });
    expect(unknown.region).toBeUndefined();
    expect(unknown.warnings).toEqual([expect.stringMatching(/names no Origin Shield Region for ap-southeast-3.*originShield: \{ region \}/)]);
    // An environment-agnostic stack: the Region is a token until deploy time.
    const agnostic = shieldOf(undefined);
    expect(agnostic.shield).toEqual({ Enabled: false });
    expect(agnostic.warnings).toEqual([expect.stringMatching(/no concrete Region.*originShield: \{ region \}/)]);
  });

  test('originShield: { region } chooses the Region; false turns it off without a warning', () => {
    expect(shieldOf({ account: TEST_ENV.account, region: 'ap-southeast-3' }, { region: 'ap-southeast-1' })).toEqual({ shield: { Enabled: true, OriginShieldRegion: 'ap-southeast-1' }, warnings: [], region: 'ap-southeast-1' });
    expect(shieldOf(undefined, { region: 'eu-central-1' }).shield).toEqual({ Enabled: true, OriginShieldRegion: 'eu-central-1' });
    expect(shieldOf({ account: TEST_ENV.account, region: 'us-east-1' }, false)).toEqual({ shield: { Enabled: false }, warnings: [], region: undefined });
    expect(shieldOf(undefined, false).warnings).toEqual([]);
  });

  test('a Region the guide does not list is used with a warning; something that is no Region code is refused', () => {
    const newer = shieldOf({ account: TEST_ENV.account, region: 'ap-southeast-3' }, { region: 'me-central-1' });
    expect(newer.shield).toEqual({ Enabled: true, OriginShieldRegion: 'me-central-1' });
    expect(newer.warnings).toEqual([expect.stringMatching(/me-central-1 is not among the Regions/)]);
    expect(() => build({ config: EXAMPLE_CONFIG, originShield: { region: 'Ireland' } })).toThrow(DeliveryOptionError);
    expect(() => build({ config: EXAMPLE_CONFIG, originShield: { region: 'Ireland' } })).toThrow(/originShield.region "Ireland" is not a Region code/);
  });
});

describe('secret', () => {
  const { stack, template } = synthStack();
  const secretId = logicalId(stack, stack.delivery.secret);

  test('exists, created with empty key fields only', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { SecretStringTemplate: '{"accessKeyId":"","secretAccessKey":""}', GenerateStringKey: 'placeholder' },
      SecretString: Match.absent(),
    });
  });

  test('is created the same whatever the configuration, so a redeploy never regenerates it over the keys', () => {
    const signed = { ...EXAMPLE_CONFIG, endpoints: [{ prefix: '', origins: ['images'], requireSignedUrls: true }] };
    const secretOf = (t: Template) => Object.values(t.findResources('AWS::SecretsManager::Secret'))[0]!.Properties;
    expect(secretOf(synthStack({ config: signed }).template)).toEqual(secretOf(template));
  });

  test('is readable by the function, and only this secret', () => {
    const secretRef = JSON.stringify({ Ref: secretId });
    expect(grantsOf(template, 'secretsmanager:')).toEqual([
      ['secretsmanager:DescribeSecret', secretRef],
      ['secretsmanager:GetSecretValue', secretRef],
    ]);
    expect(grantsOf(template, '').filter(([, resource]) => resource === '"*"')).toEqual([]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalId(stack, stack.delivery.function.role!) }],
    });
  });
});

describe('no key material anywhere in the template', () => {
  test('no access key, no secret value, no SecretString', () => {
    const configs: AfterimageConfigInput[] = [
      EXAMPLE_CONFIG,
      { ...EXAMPLE_CONFIG, endpoints: [{ prefix: '', origins: ['images'], requireSignedUrls: true }] },
    ];
    for (const config of configs) {
      const text = JSON.stringify(synthStack({ config }).template.toJSON());
      expect(text).not.toMatch(/(AKIA|ASIA)[0-9A-Z]{16}/);
      expect(text).not.toMatch(/"SecretString"\s*:/);
      // A key name followed by a non-empty value, in plain or escaped JSON.
      expect(text).not.toMatch(/(secretAccessKey|accessKeyId|privateKey|sessionToken)\\*"\s*:\s*\\*"[^"\\]/);
    }
  });
});

describe('configuration is validated at synth time', () => {
  test('a bad configuration throws a ConfigError naming every problem', () => {
    const bad = { origins: [{ name: 'images', type: 's3', bucket: 'b' }], endpoints: [{ prefix: '', origins: ['nope'] }], output: { quality: 0 } };
    expect(() => build({ config: bad as AfterimageConfigInput })).toThrow(ConfigError);
    expect(() => build({ config: bad as AfterimageConfigInput })).toThrow(/names an origin that does not exist: "nope"/);
    expect(() => build({ config: bad as AfterimageConfigInput })).toThrow(/output\.quality/);
  });

  test('static credentials are refused: the keys would land in the template', () => {
    const config = withOrigins([
      { name: 'images', type: 's3', bucket: 'b', credentials: { source: 'static', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'x' } },
    ]);
    expect(() => build({ config })).toThrow(ConfigError);
    expect(() => build({ config })).toThrow(/origins\[0\]\.credentials\.source "static" is refused/);
  });

  test('the Lambda-only problems are listed with the schema problems, in one error', () => {
    const config = { origins: [{ name: 'images', type: 's3', bucket: 'b', credentials: { source: 'env' } }], colour: 'blue' };
    expect(() => build({ config: config as AfterimageConfigInput })).toThrow(/unknown setting config\.colour[\s\S]*"env" does not work in Lambda/);
  });

  test('env credentials are refused: in Lambda the environment holds the role, not bucket keys', () => {
    const config = withOrigins([{ name: 'images', type: 's3', bucket: 'b', credentials: { source: 'env' } }]);
    expect(() => build({ config })).toThrow(/origins\[0\]\.credentials\.source "env" does not work in Lambda/);
  });

  test('a configuration far larger than the Lambda environment allows (4 KB) synthesises', () => {
    const namedTransformations = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`t${i}`, 'w-200,h-200,c-at_max']));
    const delivery = build({ config: { ...EXAMPLE_CONFIG, namedTransformations } });
    expect(Object.keys(delivery.config.namedTransformations)).toHaveLength(1000);
    expect(JSON.stringify(Template.fromStack(delivery.node.scope as Stack).toJSON())).not.toContain('t999');
  });

  test('the configuration file for the asset is named by its content', () => {
    const a = writeConfigFile(parseConfig(EXAMPLE_CONFIG));
    const b = writeConfigFile(parseConfig({ ...EXAMPLE_CONFIG, namedTransformations: { thumb: 'w-100' } }));
    expect(a).not.toBe(b);
    expect(writeConfigFile(parseConfig(EXAMPLE_CONFIG))).toBe(a);
    expect(JSON.parse(fs.readFileSync(a, 'utf8'))).toEqual(JSON.parse(JSON.stringify(parseConfig(EXAMPLE_CONFIG))));
  });

  test('default-chain origins on AWS get read access to their folder, and listing (404, not 403, for a missing key)', () => {
    const config = withOrigins([
      { name: 'images', type: 's3', bucket: 'own-bucket', folder: '/photos', credentials: { source: 'default-chain' } },
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup-bucket', folder: '/res/c/', credentials: { source: 'default-chain' } },
    ]);
    const template = Template.fromStack(build({ config }).node.scope as Stack);
    const arn = (tail: string) => JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, tail]] });
    expect(grantsOf(template, 's3:')).toEqual(
      [
        ['s3:GetObject', arn(':s3:::own-bucket/photos/*')],
        ['s3:GetObject', arn(':s3:::backup-bucket/res/c/*')],
        ['s3:ListBucket', arn(':s3:::own-bucket')],
        ['s3:ListBucket', arn(':s3:::backup-bucket')],
      ].sort(),
    );

  });

  test('copy on miss: the role may put objects into exactly the copyTo origin\'s bucket and folder, nothing more; the keys stay read-only', () => {
    const config = withOrigins([
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup-bucket', folder: '/res/demo/' },
      { name: 'other', type: 's3', bucket: 'other-bucket' },
      { name: 'cloudinary-live', type: 'cloudinary', cloud: 'demo', copyTo: 'backup' },
    ]);
    const template = Template.fromStack(build({ config }).node.scope as Stack);
    const arn = (tail: string) => JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, tail]] });
    expect(grantsOf(template, 's3:')).toEqual([['s3:PutObject', arn(':s3:::backup-bucket/res/demo/*')]]);
  });

  test('kmsKeyArn: the role may use the key only through S3 in the key\'s Region: Decrypt to read, GenerateDataKey to write copies', () => {
    const readKey = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const copyKey = 'arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    const config = withOrigins([
      { name: 'images', type: 's3', bucket: 'own-bucket', region: 'eu-west-1', credentials: { source: 'default-chain' }, kmsKeyArn: readKey },
      // Read with the secret's keys (their KMS rights are granted where they are issued); the role only writes copies here.
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup-bucket', folder: '/res/demo/', kmsKeyArn: copyKey },
      { name: 'cloudinary-live', type: 'cloudinary', cloud: 'demo', copyTo: 'backup' },
    ]);
    const template = Template.fromStack(build({ config }).node.scope as Stack);
    const kms: unknown[] = [];
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement as { Action: string }[]) if (String(statement.Action).startsWith('kms:')) kms.push(statement);
    }
    expect(kms).toEqual([
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: readKey, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } },
      { Effect: 'Allow', Action: 'kms:GenerateDataKey', Resource: copyKey, Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } },
    ]);
    // Without kmsKeyArn, no KMS right at all.
    const plain = Template.fromStack(build({ config: withOrigins([{ name: 'images', type: 's3', bucket: 'b', credentials: { source: 'default-chain' } }]) }).node.scope as Stack);
    expect(grantsOf(plain, 'kms:')).toEqual([]);
  });

  test('copy on miss into an origin on another S3-compatible service is refused (the role cannot write there)', () => {
    const config = withOrigins([
      { name: 'backup', type: 'cloudinary-backup', bucket: 'b', folder: '/res/demo/', endpoint: 'https://storage.googleapis.com' },
      { name: 'live', type: 'cloudinary', cloud: 'demo', copyTo: 'backup' },
    ]);
    expect(() => build({ config })).toThrow(/origins\[1\]\.copyTo: the function writes copies with its own role, which reaches Amazon S3 only/);
  });

  test("the grant covers the folder as the runtime reads it: \"images//\" is the keys under images/, not images//", () => {
    const origin = { name: 'images', type: 's3', bucket: 'own-bucket', folder: 'images//', credentials: { source: 'default-chain' } } as const;
    const template = Template.fromStack(build({ config: withOrigins([origin]) }).node.scope as Stack);
    const arn = (tail: string) => JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, tail]] });
    expect(grantsOf(template, 's3:GetObject')).toEqual([['s3:GetObject', arn(':s3:::own-bucket/images/*')]]);
    // The key the function asks for lies under the grant.
    expect(plainKey('shoe.jpg', parseConfig(withOrigins([origin])).origins[0])).toBe('images/shoe.jpg');
  });
});

describe('outputs', () => {
  const { stack, template } = synthStack();

  test('name the URL, the secret, the function and its Function URL (for the smoke test)', () => {
    const distributionId = logicalId(stack, stack.delivery.distribution);
    template.hasOutput('DistributionUrl', { Value: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }]] } });
    template.hasOutput('DistributionDomainName', { Value: { 'Fn::GetAtt': [distributionId, 'DomainName'] } });
    // What `afterimage purge` reads from cdk-outputs.json.
    template.hasOutput('DistributionId', { Value: { Ref: distributionId } });
    template.hasOutput('SecretArn', { Value: { Ref: logicalId(stack, stack.delivery.secret) } });
    template.hasOutput('FunctionName', { Value: { Ref: logicalId(stack, stack.delivery.function) } });
    template.hasOutput('FunctionUrl', { Value: { 'Fn::GetAtt': [logicalId(stack, stack.delivery.functionUrl), 'FunctionUrl'] } });
  });

  test('the URL uses the custom domain when there is one', () => {
    const app = newApp();
    const stack = new ImageDeliveryStack(app, 'Afterimage', {
      env: TEST_ENV,
      delivery: { config: EXAMPLE_CONFIG, domainNames: ['img.example.com'] },
      certificateArn: 'arn:aws:acm:us-east-1:111111111111:certificate/abc',
    });
    Template.fromStack(stack).hasOutput('DistributionUrl', { Value: 'https://img.example.com' });
  });
});

// The CloudFront Function, run as CloudFront would: `handler(event)` returns the request.
describe('viewer-request function', () => {
  type Header = { value: string; multiValue?: { value: string }[] };
  type Request = { headers: Record<string, Header>; querystring: Record<string, { value: string }> };
  const source = fs.readFileSync(VIEWER_REQUEST_FUNCTION_FILE, 'utf8');
  const viewerRequest = new Function(`${source}\nreturn handler;`)() as (event: { request: Request }) => Request;

  function run(accept: string | undefined, querystring: Request['querystring'] = {}): Request {
    const headers: Record<string, Header> = { host: { value: 'img.example.com' } };
    if (accept !== undefined) headers.accept = { value: accept };
    return viewerRequest({ request: { headers, querystring } });
  }

  const CHROME = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';
  const SAFARI = 'image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5';
  const OLD_FIREFOX = 'image/webp,*/*';
  const CURL = '*/*';

  test.each([
    { client: 'Chrome', accept: CHROME, expected: 'image/avif,image/webp' },
    { client: 'Safari', accept: SAFARI, expected: 'image/avif,image/webp' },
    { client: 'an upper-case header', accept: 'IMAGE/AVIF, IMAGE/WEBP', expected: 'image/avif,image/webp' },
    { client: 'an AVIF-only client (no WebP to step down to)', accept: 'image/avif,image/webp;q=0,*/*;q=0.8', expected: 'image/avif' },
    { client: 'an old Firefox', accept: OLD_FIREFOX, expected: 'image/webp' },
    { client: 'curl', accept: CURL, expected: 'image/*' },
    { client: 'a PNG-only client', accept: 'image/png', expected: 'image/*' },
    { client: 'a client sending none', accept: undefined, expected: 'image/*' },
  ])('Accept from $client becomes $expected', ({ accept, expected }) => {
    expect(run(accept).headers.accept).toEqual({ value: expected });
  });

  test('a repeated Accept header is read whole', () => {
    const request = viewerRequest({
      request: { headers: { accept: { value: 'image/png', multiValue: [{ value: 'image/png' }, { value: 'image/webp' }] } }, querystring: {} },
    });
    expect(request.headers.accept).toEqual({ value: 'image/webp' });
  });

  test('the bucket never changes the format the runtime negotiates', () => {
    const input = { format: 'jpeg', hasAlpha: false, animated: false };
    for (const accept of [CHROME, SAFARI, OLD_FIREFOX, CURL, 'image/png', '', 'IMAGE/AVIF']) {
      const bucket = run(accept).headers.accept!.value;
      expect(chooseFormat({ configured: 'auto', accept: bucket, input }).format).toBe(chooseFormat({ configured: 'auto', accept, input }).format);
    }
  });

  test('keeps only tr, ik-s and ik-t, in the viewer order', () => {
    const request = run(CHROME, {
      _a: { value: 'BAVAFLDQ0' },
      'ik-t': { value: '1700000000' },
      tr: { value: 'w-100' },
      utm_source: { value: 'news' },
      'ik-s': { value: 'abc' },
    });
    expect(request.querystring).toEqual({ 'ik-t': { value: '1700000000' }, tr: { value: 'w-100' }, 'ik-s': { value: 'abc' } });
    expect(Object.keys(request.querystring)).toEqual(['ik-t', 'tr', 'ik-s']);
    expect([...CACHE_KEY_QUERY_STRINGS].sort()).toEqual(Object.keys(request.querystring).sort());
  });

  test('an empty or missing query string stays empty; other request fields are untouched', () => {
    expect(run(CHROME, {}).querystring).toEqual({});
    const request = viewerRequest({ request: { headers: {}, querystring: undefined as never } });
    expect(request.querystring).toEqual({});
    expect(run(CHROME).headers.host).toEqual({ value: 'img.example.com' });
  });
});

describe('cdk-nag (AwsSolutions)', () => {
  function nagSynth(build: (stack: Stack) => void): unknown[] {
    const app = newApp();
    const stack = new Stack(app, 'Nagged', { env: TEST_ENV });
    build(stack);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // In-memory synth throws with the report when any finding is not acknowledged.
    const assembly = app.synth();
    const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
    return (report.pluginReports as { violations: unknown[] }[]).flatMap((r) => r.violations);
  }

  test('the stack has no unacknowledged finding', () => {
    expect(nagSynth((stack) => new ImageDelivery(stack, 'Images', { config: EXAMPLE_CONFIG }))).toEqual([]);
  });

  test('nor with a custom domain or default-chain origins (one with a KMS key)', () => {
    const config = withOrigins([
      { name: 'images', type: 's3', bucket: 'own-bucket', credentials: { source: 'default-chain' }, kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup-bucket', folder: '/res/c/', credentials: { source: 'default-chain' } },
    ]);
    const violations = nagSynth((stack) => {
      const certificate = acm.Certificate.fromCertificateArn(stack, 'Cert', 'arn:aws:acm:us-east-1:111111111111:certificate/abc');
      new ImageDelivery(stack, 'Images', { config, domainNames: ['img.example.com'], certificate });
    });
    expect(violations).toEqual([]);
  });

  test('nor with web and Cloudinary origins and copy on miss (into a bucket with a KMS key)', () => {
    const config = withOrigins([
      { name: 'backup', type: 'cloudinary-backup', bucket: 'backup-bucket', folder: '/res/demo/', kmsKeyArn: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
      { name: 'cloudinary-live', type: 'cloudinary', cloud: 'demo', copyTo: 'backup' },
      { name: 'legacy', type: 'web', baseUrl: 'https://images.example.org', secretHeaders: { Authorization: 'legacy' } },
    ]);
    expect(nagSynth((stack) => new ImageDelivery(stack, 'Images', { config }))).toEqual([]);
  });
});

// bin/app.ts as `cdk synth` runs it: context comes in CDK_CONTEXT_JSON.
describe('cdk.json', () => {
  test('sets every feature flag this aws-cdk-lib recommends (as cdk init does), so synth warns of none', () => {
    const recommended = JSON.parse(fs.readFileSync(require.resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'));
    for (const [flag, value] of Object.entries(recommended)) expect([flag, CDK_CONTEXT[flag]]).toEqual([flag, value]);
  });
});

describe('the CDK app (bin/app.ts)', () => {
  function runApp(context: Record<string, unknown>): { status: number | null; stderr: string } {
    const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(ROOT, 'bin', 'app.ts')], {
      cwd: ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ ...CDK_CONTEXT, ...context }), CDK_OUTDIR: fs.mkdtempSync(path.join(os.tmpdir(), 'afterimage-app-')) },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: result.status, stderr: result.stderr };
  }

  test('domainNames without certificateArn: a one-line message, no stack trace', () => {
    const { status, stderr } = runApp({ domainNames: 'img.example.com' });
    expect(status).toBe(1);
    expect(stderr).toMatch(/-c domainNames=img\.example\.com needs -c certificateArn=/);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(stderr.trim().split('\n').filter((line) => !line.includes('afterimage.config.example.json'))).toHaveLength(1);
  });

  test('a missing configuration file: a one-line message, no stack trace', () => {
    const { status, stderr } = runApp({ configFile: 'no-such-config.json' });
    expect(status).toBe(1);
    expect(stderr).toMatch(/no-such-config\.json does not exist/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
