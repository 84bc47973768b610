// The ImageDelivery construct: the afterimage runtime in a Lambda function (sharp, arm64),
// reached only through CloudFront with origin access control, configured by the same
// configuration file as the local server and validated at synth time.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, Aws, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ICertificate } from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { DEFAULT_FUNCTION_MEMORY_MB } from '../lambda/config/limits';
import { kmsKeyRegion, parseConfig } from '../lambda/config/parse';
import type { AfterimageConfig, AfterimageConfigInput } from '../lambda/config/schema';
import { folderPrefix } from '../lambda/origin/keys';
import { METRICS_NAMESPACE } from '../lambda/telemetry';
import { CANONICAL_HEADER } from '../lambda/request/cache-key';
import { edgeFunctionSource } from './edge/viewer-request-code';
import { HANDLER_ENTRY, lambdaNodejsBundling, packageLockFile, PACKAGE_ROOT, RUNTIME_WRAPPER_PATH } from './lambda-bundling';
import { DeliveryMonitoring, type MonitoringOptions } from './monitoring';
import { ORIGIN_SHIELD_REGIONS, originShieldRegionFor, REGION_PATTERN } from './origin-shield';

export { VIEWER_REQUEST_FUNCTION_FILE } from './edge/viewer-request-code';

/** The query parameters that change a response; every other one is dropped at the edge. */
export const CACHE_KEY_QUERY_STRINGS = ['tr', 'ik-s', 'ik-t'] as const;

/** The secret's value at creation: the fields to fill in, empty (`"privateKey"` is added by hand for signed URLs). */
export const SECRET_TEMPLATE = '{"accessKeyId":"","secretAccessKey":""}';

export interface ImageDeliveryProps {
  /**
   * The afterimage configuration, as written in `afterimage.config.json`. Validated with
   * `parseConfig` and its Lambda rules (`target: 'lambda'`) at synth time; a bad configuration
   * fails the synth with every problem listed.
   *
   * Origins must read their keys from the stack's secret (`credentials.source: 'secret'`, the
   * default) or from the function's role (`'default-chain'`). `'static'` is refused (the keys
   * would be written into the template) and so is `'env'` (in Lambda the environment holds the
   * function's own role credentials, not bucket keys).
   */
  readonly config: AfterimageConfigInput;

  /**
   * Memory of the function, in MiB (512 at least). More memory also means more CPU for sharp,
   * and a larger memory budget for the cost model (80 % of it, unless the configuration sets
   * `limits.memoryBudgetMB`), of which the cache of originals takes `limits.originalCacheMB`.
   * @default 1536
   */
  readonly memorySize?: number;

  /**
   * Timeout of one invocation (5 s at least). CloudFront waits for the origin as long, up to 60 seconds.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;

  /**
   * Which CloudFront edge locations serve the images.
   * @default cloudfront.PriceClass.PRICE_CLASS_100
   */
  readonly priceClass?: cloudfront.PriceClass;

  /**
   * Custom domain names (CNAMEs) of the distribution. Needs `certificate`.
   * @default - the distribution's own `*.cloudfront.net` name only
   */
  readonly domainNames?: string[];

  /**
   * The ACM certificate (in us-east-1) for `domainNames`. The viewer TLS policy is then
   * TLSv1.2_2021.
   * @default - none; required when `domainNames` is given
   */
  readonly certificate?: ICertificate;

  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Reserved concurrency of the function: a ceiling on parallel invocations (and cost).
   * @default - no reservation; the account's unreserved concurrency
   */
  readonly reservedConcurrency?: number;
  /**
   * The playground page (README "Playground") in the deployed function, at `/_afterimage/playground`,
   * opened only by a link signed with the secret's `privateKey` and an expiry (`npm run sign`).
   * @default - off: the function serves no page
   */
  readonly playground?: { readonly enabled?: boolean };

  /**
   * A CloudWatch dashboard and alarms (README "Observability"), with their thresholds and an
   * optional SNS topic (`alarmTopic`, or `alarmEmail`). `false` leaves both out; the function's
   * logs and metrics are written either way.
   * @default - dashboard and alarms with the default thresholds, no notification
   */
  readonly monitoring?: MonitoringOptions | false;

  /**
   * CloudFront Origin Shield (README "Origin Shield"): one cache in front of the function that
   * every other cache layer asks, so that a cache key is normally rendered once, not once per
   * regional edge cache that misses. Requests that reach it from a regional edge cache in another
   * Region are charged CloudFront's Origin Shield fee. `{ region }` runs it in that Region;
   * `false` leaves it out.
   * @default - on, in the Region the CloudFront Developer Guide names for the stack's Region;
   * off, with a synth warning, when the stack has no concrete Region or the guide names none
   */
  readonly originShield?: false | { readonly region?: string };
}

/**
 * Image delivery over CloudFront: an ImageKit- and Cloudinary-compatible URL API served by a
 * Lambda function (response streaming, arm64) behind a Function URL that only this
 * distribution can call.
 *
 * The bucket keys live in `secret` (JSON `{"accessKeyId", "secretAccessKey"}`, plus
 * `"privateKey"` for signed URLs). The stack creates the secret with empty values so that no
 * key is ever part of a template; put the real values in after the first deploy.
 *
 * @example
 * new ImageDelivery(this, 'Images', { config: JSON.parse(fs.readFileSync('afterimage.config.json', 'utf8')) });
 */
export class ImageDelivery extends Construct {
  /** The validated configuration, defaults filled in, as the function receives it. */
  readonly config: AfterimageConfig;
  readonly function: NodejsFunction;
  readonly functionUrl: lambda.FunctionUrl;
  readonly distribution: cloudfront.Distribution;
  /** Bucket keys and the signing key, read by the function at run time. */
  readonly secret: secretsmanager.Secret;
  readonly cachePolicy: cloudfront.CachePolicy;
  /** The viewer-request CloudFront Function that normalises Accept and the query string. */
  readonly edgeFunction: cloudfront.Function;
  readonly logGroup: logs.LogGroup;
  /** The dashboard and alarms; undefined with `monitoring: false`. */
  readonly monitoring?: DeliveryMonitoring;
  /** The Region Origin Shield runs in; undefined when it is off. */
  readonly originShieldRegion?: string;

  constructor(scope: Construct, id: string, props: ImageDeliveryProps) {
    super(scope, id);
    // The cost model's memory budget follows the function's memory (80 % of it) unless the
    // configuration sets limits.memoryBudgetMB itself.
    const memorySize = props.memorySize ?? DEFAULT_MEMORY_MB;
    if (memorySize < MIN_MEMORY_MB) {
      throw new DeliveryOptionError(
        `ImageDelivery: memorySize ${memorySize} is too small for image work: give at least ${MIN_MEMORY_MB} MB (Node and sharp take about 128 MB before any image, and the cost model's budget is 80 % of the function's memory)`,
      );
    }
    const timeoutSeconds = props.timeout?.toSeconds() ?? 30;
    if (timeoutSeconds < MIN_TIMEOUT_SECONDS) {
      throw new DeliveryOptionError(
        `ImageDelivery: timeout ${timeoutSeconds} s leaves no time for image work: give at least ${MIN_TIMEOUT_SECONDS} seconds (the last 2 s of every invocation are kept for sending the answer)`,
      );
    }
    this.config = parseConfig(props.config, { target: 'lambda', memorySizeMB: memorySize });
    const domainNames = props.domainNames ?? [];
    if (domainNames.length > 0 && !props.certificate) {
      throw new DeliveryOptionError('ImageDelivery: domainNames needs a certificate (an ACM certificate in us-east-1 covering those names)');
    }
    if (props.certificate && domainNames.length === 0) {
      throw new DeliveryOptionError('ImageDelivery: a certificate was given without domainNames; give the names the certificate is for');
    }
    const timeout = props.timeout ?? Duration.seconds(30);
    this.originShieldRegion = this.chooseOriginShieldRegion(props.originShield);

    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: 'afterimage: read-only bucket keys ({"accessKeyId", "secretAccessKey"}) and the URL signing key ("privateKey")',
      // The template holds only empty fields; CloudFormation adds one random "placeholder"
      // field. The runtime answers 502 until the keys are put in. This never depends on the
      // configuration: a changed GenerateSecretString would make CloudFormation generate a new
      // value, overwriting the keys.
      generateSecretString: {
        secretStringTemplate: SECRET_TEMPLATE,
        generateStringKey: 'placeholder',
        excludePunctuation: true,
        passwordLength: 16,
      },
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    // Our own role instead of the AWSLambdaBasicExecutionRole managed policy: logs go to
    // this one log group only.
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'afterimage image delivery function',
    });
    this.logGroup.grantWrite(role);

    const lockFile = packageLockFile();
    this.function = new NodejsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      handler: 'handler',
      // The package root is the bundling input: the configuration file is read from it.
      projectRoot: PACKAGE_ROOT,
      ...(lockFile ? { depsLockFilePath: lockFile } : {}),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? DEFAULT_MEMORY_MB,
      timeout,
      role,
      logGroup: this.logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      description: 'afterimage: image transformations with sharp',
      environment: {
        AFTERIMAGE_SECRET_ARN: this.secret.secretArn,
        // Node's flags (NODE_FLAGS), given by a wrapper script: they cannot go in NODE_OPTIONS.
        AWS_LAMBDA_EXEC_WRAPPER: RUNTIME_WRAPPER_PATH,
        ...(props.playground?.enabled ? { AFTERIMAGE_PLAYGROUND: 'signed' } : {}),
        // The metrics' namespace and `service` dimension (one per construct), read by Powertools.
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_SERVICE_NAME: this.node.path,
      },
      // The configuration travels in the asset, not the environment (4 KB for all variables).
      bundling: lambdaNodejsBundling(writeConfigFile(this.config), props.playground?.enabled === true),
    });
    this.secret.grantRead(this.function);
    grantDefaultChainOrigins(role, this.config);
    grantCopyTargets(role, this.config);

    this.functionUrl = this.function.addFunctionUrl({
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    this.edgeFunction = new cloudfront.Function(this, 'ViewerRequest', {
      comment: 'afterimage: Accept reduced to four classes; only tr, ik-s, ik-t kept; widths snapped; image path first',
      code: cloudfront.FunctionCode.fromInline(viewerRequestCode(this.config)),
      runtime: cloudfront.FunctionRuntime.JS_2_0,
    });

    this.cachePolicy = new cloudfront.CachePolicy(this, 'CachePolicy', {
      comment: 'afterimage: the transformation, the signature and the Accept bucket',
      queryStringBehavior: cloudfront.CacheQueryStringBehavior.allowList(...CACHE_KEY_QUERY_STRINGS),
      // The canonical-URI flag the edge function sets has one value: it only reaches the origin this way.
      headerBehavior: cloudfront.CacheHeaderBehavior.allowList('accept', CANONICAL_HEADER),
      cookieBehavior: cloudfront.CacheCookieBehavior.none(),
      // Images are compressed already; Accept-Encoding would only split the cache.
      enableAcceptEncodingGzip: false,
      enableAcceptEncodingBrotli: false,
      // The origin's Cache-Control decides; these apply when it sends none.
      defaultTtl: Duration.days(1),
      maxTtl: Duration.days(365),
      minTtl: Duration.seconds(0),
    });

    // withOriginAccessControl signs every request (SigV4) and adds both permissions that
    // Function URLs need: lambda:InvokeFunctionUrl, and lambda:InvokeFunction with
    // InvokedViaFunctionUrl, each limited to this distribution.
    const origin = origins.FunctionUrlOrigin.withOriginAccessControl(this.functionUrl, {
      readTimeout: Duration.seconds(Math.min(Math.max(timeout.toSeconds(), 1), 60)),
      ...(this.originShieldRegion ? { originShieldEnabled: true, originShieldRegion: this.originShieldRegion } : { originShieldEnabled: false }),
    });

    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'afterimage image delivery',
      defaultBehavior: {
        origin,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
        compress: false,
        cachePolicy: this.cachePolicy,
        functionAssociations: [{ function: this.edgeFunction, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? cloudfront.PriceClass.PRICE_CLASS_100,
      ...(props.certificate
        ? { domainNames, certificate: props.certificate, minimumProtocolVersion: cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 }
        : {}),
    });

    if (props.monitoring !== false) {
      this.monitoring = new DeliveryMonitoring(this, 'Monitoring', {
        ...props.monitoring,
        function: this.function,
        timeout,
        distribution: this.distribution,
        namespace: METRICS_NAMESPACE,
        serviceName: this.node.path,
      });
    }

    this.acknowledgeNagFindings(props);
  }

  /** cdk-nag (AwsSolutions) findings that are choices, each with its reason. */
  private acknowledgeNagFindings(props: ImageDeliveryProps): void {
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The secret holds keys issued by the bucket owner (and the URL signing key); they are rotated where they are issued, then put here.',
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Pinned to Node.js 22: the runtime the bundle is built and tested for.',
    });
    const distribution = this.distribution;
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason: 'Images are public content; no geographic restriction is wanted.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      reason: 'A WAF web ACL is optional (cost); the origin is reachable only through CloudFront, and input limits are enforced by the function.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      reason: 'CloudFront access logs are optional; add them on `distribution` where wanted.',
    });
    if (!props.certificate) {
      Validations.of(distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason: 'Without a custom domain the distribution uses the *.cloudfront.net certificate, whose TLS policy cannot be chosen. With domainNames and certificate the policy is TLSv1.2_2021.',
      });
    }
  }

  /** The Origin Shield Region, from the option or the stack's Region; undefined when it stays off. */
  private chooseOriginShieldRegion(option: ImageDeliveryProps['originShield']): string | undefined {
    if (option === false) return undefined;
    const chosen = option?.region;
    if (chosen !== undefined) {
      if (Token.isUnresolved(chosen)) return chosen;
      if (!REGION_PATTERN.test(chosen)) {
        throw new DeliveryOptionError(`ImageDelivery: originShield.region "${chosen}" is not a Region code (like us-east-1); CloudFront offers Origin Shield in ${ORIGIN_SHIELD_REGIONS.join(', ')}`);
      }
      if (!ORIGIN_SHIELD_REGIONS.includes(chosen)) {
        Annotations.of(this).addWarningV2('afterimage:originShieldRegion', `originShield.region ${chosen} is not among the Regions the CloudFront Developer Guide lists for Origin Shield (${ORIGIN_SHIELD_REGIONS.join(', ')}); the deploy fails if CloudFront does not offer it there`);
      }
      return chosen;
    }
    const region = Stack.of(this).region;
    const off = 'Origin Shield is off, so each regional edge cache that misses asks the function itself (an image can be rendered once per regional edge cache)';
    if (Token.isUnresolved(region)) {
      Annotations.of(this).addWarningV2('afterimage:originShield', `${off}: the stack has no concrete Region to choose its Region from. Give the stack an env with a region, or set originShield: { region } (-c originShieldRegion=… with the afterimage app; README "Origin Shield"), or originShield: false (-c originShield=false) to silence this`);
      return undefined;
    }
    const mapped = originShieldRegionFor(region);
    if (!mapped) {
      Annotations.of(this).addWarningV2('afterimage:originShield', `${off}: the CloudFront Developer Guide names no Origin Shield Region for ${region}. Set originShield: { region } (-c originShieldRegion=… with the afterimage app) to the nearest of ${ORIGIN_SHIELD_REGIONS.join(', ')} (README "Origin Shield"), or originShield: false (-c originShield=false) to silence this`);
    }
    return mapped;
  }
}

/** The least memory the construct accepts: Node and sharp alone take about 128 MB. */
export const MIN_MEMORY_MB = 512;

/** The shortest timeout the construct accepts: 2 s of each invocation are kept for the answer. */
export const MIN_TIMEOUT_SECONDS = 5;

/** The function's memory unless `memorySize` says otherwise, in MiB. */
export const DEFAULT_MEMORY_MB = DEFAULT_FUNCTION_MEMORY_MB;

/**
 * The CloudFront Function's code for a configuration: the file, with every endpoint's prefix,
 * `widths` and `cloudinaryUrls` filled in (lib/edge/viewer-request-code.ts).
 */
export function viewerRequestCode(config: AfterimageConfig): string {
  const code = edgeFunctionSource(config);
  const bytes = Buffer.byteLength(code);
  if (bytes > MAX_FUNCTION_CODE_BYTES) {
    throw new DeliveryOptionError(
      `ImageDelivery: the CloudFront Function for this configuration takes ${bytes} bytes, over the ${MAX_FUNCTION_CODE_BYTES} CloudFront Functions allow; ` +
        `it holds every endpoint's prefix and widths: use fewer endpoints or shorter width lists`,
    );
  }
  return code;
}

/** CloudFront Functions' code size limit. */
export const MAX_FUNCTION_CODE_BYTES = 10 * 1024;

/** A construct option that cannot work, e.g. domain names without a certificate; the user's to fix. */
export class DeliveryOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryOptionError';
  }
}

/** Where the configuration files for the bundling step are written: inside the package, which the bundling step reads. */
export const CONFIG_STAGING_DIR = path.join(PACKAGE_ROOT, '.afterimage', 'cdk');

/**
 * The validated configuration as a JSON file for the bundling step to copy into the asset.
 * Named by its content, so two constructs (or two synths) with different configurations never
 * share a file, and the same configuration is the same input to CDK's bundling cache. Always
 * written anew (whole, then renamed, so parallel synths never read half a file): a file found
 * under that name is never trusted.
 */
export function writeConfigFile(config: AfterimageConfig): string {
  const json = `${JSON.stringify(config)}\n`;
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 32);
  fs.mkdirSync(CONFIG_STAGING_DIR, { recursive: true });
  const file = path.join(CONFIG_STAGING_DIR, `config-${hash}.json`);
  const partial = `${file}.${process.pid}.${Date.now()}.partial`;
  fs.writeFileSync(partial, json);
  fs.renameSync(partial, file);
  return file;
}

/**
 * Origins on AWS S3 that use the function's own role ("default-chain") get read access to
 * their folder (and, for Cloudinary backups, listing). Other S3-compatible services are
 * granted on their side.
 */
function grantDefaultChainOrigins(role: iam.Role, config: AfterimageConfig): void {
  for (const origin of config.origins) {
    if (origin.credentials?.source !== 'default-chain' || origin.endpoint) continue;
    const bucketArn = `arn:${Aws.PARTITION}:s3:::${origin.bucket}`;
    // The runtime's own reading of the folder (`images//` is the keys under `images/`), so the
    // grant covers exactly the keys the function asks for.
    const folder = folderPrefix(origin.folder);
    const objects = `${bucketArn}/${folder}*`;
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [objects] }));
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${origin.bucket}/${folder}*]`,
      reason: `The function reads the objects of origin "${origin.name}" (bucket ${origin.bucket}, folder /${folder}).`,
    });
    // Listing: Cloudinary backups list an asset's versions, and for every origin it makes S3
    // answer 404 rather than 403 for a missing key, so the preference list and `di-` work. It
    // is not limited by an s3:prefix condition: S3 decides 404-or-403 for a GET without a
    // prefix, so a conditioned grant would bring the 403 back.
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucketArn] }));
    if (origin.kmsKeyArn) role.addToPolicy(kmsThroughS3('kms:Decrypt', origin.kmsKeyArn));
  }
}

/**
 * An origin's KMS key (`kmsKeyArn`), usable by the role only in S3's requests on its behalf
 * (`kms:ViaService`, in the key's Region: S3 encrypts with keys of the bucket's own Region).
 * Reading an SSE-KMS object takes kms:Decrypt; writing one, kms:GenerateDataKey.
 */
function kmsThroughS3(action: 'kms:Decrypt' | 'kms:GenerateDataKey', keyArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: [action],
    resources: [keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `s3.${kmsKeyRegion(keyArn)}.amazonaws.com` } },
  });
}

/**
 * Copy on miss (README "Copy on miss"): the role may write into exactly the folder of each
 * origin named by a `copyTo`. The copies are written with the role, never with the secret's
 * keys, which stay read-only.
 */
function grantCopyTargets(role: iam.Role, config: AfterimageConfig): void {
  const targets = new Set(config.origins.map((o) => o.copyTo).filter((name): name is string => name !== undefined));
  for (const target of config.origins.filter((o) => targets.has(o.name))) {
    const folder = folderPrefix(target.folder);
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [`arn:${Aws.PARTITION}:s3:::${target.bucket}/${folder}*`] }));
    if (target.kmsKeyArn) role.addToPolicy(kmsThroughS3('kms:GenerateDataKey', target.kmsKeyArn));
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${target.bucket}/${folder}*]`,
      reason: `Copy on miss writes the files it fetched into origin "${target.name}" (bucket ${target.bucket}, folder /${folder}).`,
    });
  }
}
