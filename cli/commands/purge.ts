// `afterimage purge <path>…`: one CloudFront invalidation that removes every cached variant of
// each image (README "Fixing a stale image"). The invalidation paths are computed by the very
// CloudFront Function code the distribution runs, filled in from the same configuration, so
// they match the image-first URIs it caches under: `/<prefix>/<image path>/!*`.

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CloudFrontClient, CreateInvalidationCommand, GetInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { type AfterimageConfig, ConfigError, parseConfig } from '../../lambda/config';
import { CANONICAL_HEADER, invalidationPathOf } from '../../lambda/request/cache-key';
import { edgeFunctionSource, loadViewerRequest } from '../../lib/edge/viewer-request-code';
import { type Command, parseArgs, UsageError } from '../command';

/**
 * CloudFront's "Concurrent invalidation request maximum": up to 15 wildcard invalidation paths in
 * progress at one time per distribution. Every path purge sends ends in `*`.
 */
export const MAX_WILDCARD_PATHS = 15;

const DEFAULT_OUTPUTS_FILE = 'cdk-outputs.json';

/** With --wait: how often the invalidation is looked at, and for how long at most. */
const WAIT_POLL_MS = 5_000;
const WAIT_LIMIT_MS = 15 * 60_000;
const DEFAULT_CONFIG_FILE = 'afterimage.config.json';

const HELP = `Usage: afterimage purge <path>… [--distribution-id <id> | --outputs-file <file>] [--config <file>] [--dry-run] [--wait]

Removes every cached copy of each image from CloudFront: all transformations, both URL forms
(/tr:…/path and ?tr=), Cloudinary URL forms, every Accept class, signed and unsigned. Run it
after replacing an image in the bucket. One invalidation path per image (<prefix>/<path>/!*).

  <path>               the image, as a URL path or a whole URL in any form it is served under:
                       /products/shoe.jpg, /tr:w-300/products/shoe.jpg, https://cdn.example.com/img/shoe.jpg,
                       /demo/image/upload/v1700000000/products/shoe.jpg; a path ending in / purges
                       everything under that folder (one path too)
  --distribution-id    the CloudFront distribution (default: the DistributionId output in --outputs-file)
  --outputs-file       the JSON written by \`cdk deploy --outputs-file <file>\` (default: ${DEFAULT_OUTPUTS_FILE})
  --config             the configuration the stack was deployed with; it tells endpoint prefixes and
                       Cloudinary endpoints apart (default: ${DEFAULT_CONFIG_FILE}, else cdk.json's configFile)
  --dry-run            print the invalidation paths and send nothing
  --wait               wait until CloudFront reports the invalidation Completed (at most 15 minutes)

AWS credentials come from the usual places (AWS_PROFILE, environment, SSO); the caller needs
cloudfront:CreateInvalidation on the distribution. At most ${MAX_WILDCARD_PATHS} paths per run: CloudFront allows
${MAX_WILDCARD_PATHS} wildcard paths in progress at a time (purge a folder to cover more images).
The first 1,000 invalidation paths each month are free; each path counts once, whatever it covers.`;

/** The invalidation path of one image (or, ending in `/`, one folder), from any URL it is served under. */
export function invalidationPathFor(config: AfterimageConfig, input: string, edge = loadViewerRequest(edgeFunctionSource(config))): string {
  let path = input;
  if (/^https?:\/\//i.test(input)) {
    try {
      const url = new URL(input);
      path = url.pathname + url.search;
    } catch {
      throw new UsageError(`not a URL: ${input}`);
    }
  }
  if (!path.startsWith('/')) path = `/${path}`;
  const q = path.indexOf('?');
  const uri = q < 0 ? path : path.slice(0, q);
  const folder = uri.endsWith('/');
  // A folder: the path of a file in it, cut back to the folder once made canonical.
  const request = { uri: folder ? `${uri}_` : uri, headers: {}, querystring: {} };
  const out = edge({ request });
  if (out.headers[CANONICAL_HEADER]?.value !== '1') {
    throw new UsageError(`${input} is not an image path on any endpoint of this configuration (it needs an image path after the endpoint prefix, percent-encoded correctly)`);
  }
  const imagePath = invalidationPathOf(out.uri);
  if (!folder) return imagePath;
  // `/tr:w-300/` is no folder: cut back, it would be `/*`, everything.
  if (!out.uri.endsWith('/_/!')) throw new UsageError(`${input}: a folder is written without transformations (e.g. /products/ or /demo/image/upload/products/)`);
  return `${imagePath.slice(0, -'_/!*'.length)}*`;
}

/** The DistributionId output of the one stack in a `cdk deploy --outputs-file` file. */
export function distributionIdFrom(file: string): string {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read the outputs file ${file}: ${(error as Error).message}`);
  }
  const found = Object.entries(json && typeof json === 'object' ? (json as Record<string, Record<string, unknown>>) : {}).flatMap(([stack, outputs]) =>
    outputs && typeof outputs === 'object' && typeof outputs.DistributionId === 'string' ? [[stack, outputs.DistributionId] as const] : [],
  );
  if (found.length === 0) throw new UsageError(`${file} holds no stack with a DistributionId output (deploy this version of the stack, or pass --distribution-id)`);
  if (found.length > 1) throw new UsageError(`${file} holds several stacks (${found.map(([stack]) => stack).join(', ')}): pass --distribution-id`);
  return found[0][1];
}

function readConfig(file: string | undefined): AfterimageConfig {
  const chosen = file ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : cdkContextConfigFile());
  if (!chosen) throw new UsageError(`no configuration: pass --config <file> (the one the stack was deployed with)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(chosen, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read the configuration ${chosen}: ${(error as Error).message}`);
  }
  try {
    return parseConfig(json);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`${chosen}: ${error.message.split('\n').join('; ')}`);
    throw error;
  }
}

/** The configuration file cdk.json names (what `cdk deploy` uses without -c configFile=…). */
function cdkContextConfigFile(): string | undefined {
  try {
    const file = JSON.parse(readFileSync('cdk.json', 'utf8'))?.context?.configFile;
    return typeof file === 'string' && existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

export interface PurgeResult {
  invalidationId: string;
  status: string;
}

/** Sends one CreateInvalidation (CloudFront API 2020-05-31) for the paths. */
export async function createInvalidation(client: CloudFrontClient, distributionId: string, paths: string[], callerReference: string): Promise<PurgeResult> {
  const answer = await client.send(
    new CreateInvalidationCommand({
      DistributionId: distributionId,
      InvalidationBatch: { CallerReference: callerReference, Paths: { Quantity: paths.length, Items: paths } },
    }),
  );
  return { invalidationId: answer.Invalidation?.Id ?? '(no id)', status: answer.Invalidation?.Status ?? '(no status)' };
}

/** Polls GetInvalidation until CloudFront says Completed; false when the limit passed first. */
export async function waitForInvalidation(client: CloudFrontClient, distributionId: string, invalidationId: string, pollMs = WAIT_POLL_MS, limitMs = WAIT_LIMIT_MS): Promise<boolean> {
  const until = Date.now() + limitMs;
  for (;;) {
    const answer = await client.send(new GetInvalidationCommand({ DistributionId: distributionId, Id: invalidationId }));
    if (answer.Invalidation?.Status === 'Completed') return true;
    if (Date.now() + pollMs > until) return false;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

export const purge: Command = {
  name: 'purge',
  summary: 'remove every cached variant of images from CloudFront after replacing them (one invalidation)',
  help: HELP,
  async run(argv) {
    const { positional, options, flags } = parseArgs(argv, { values: ['distribution-id', 'outputs-file', 'config'], flags: ['dry-run', 'wait'] });
    if (positional.length === 0) throw new UsageError('name at least one image path, e.g. /products/shoe.jpg');
    const config = readConfig(options.config);
    const edge = loadViewerRequest(edgeFunctionSource(config));
    const paths: string[] = [];
    for (const input of positional) {
      const path = invalidationPathFor(config, input, edge);
      if (!paths.includes(path)) paths.push(path);
      process.stdout.write(`${input} -> ${path}\n`);
    }
    if (paths.length > MAX_WILDCARD_PATHS) {
      throw new UsageError(`${paths.length} invalidation paths: CloudFront allows ${MAX_WILDCARD_PATHS} wildcard paths in progress at a time; purge fewer images per run, or their folder (a path ending in /)`);
    }
    if (flags.has('dry-run')) return 0;
    // The SDK's notice that its 2027 releases need Node 22 would bury the one line this prints;
    // the package supports Node 20 (package.json engines) and pins the SDK in its lock file.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

    if (options['distribution-id'] && options['outputs-file']) throw new UsageError('--distribution-id and --outputs-file: give one of them');
    const outputsFile = options['outputs-file'] ?? (options['distribution-id'] ? undefined : DEFAULT_OUTPUTS_FILE);
    if (outputsFile && !options['outputs-file'] && !existsSync(outputsFile)) {
      throw new UsageError(`no distribution: pass --distribution-id <id>, or --outputs-file <file> (${DEFAULT_OUTPUTS_FILE} is not here)`);
    }
    const distributionId = options['distribution-id'] ?? distributionIdFrom(outputsFile!);
    // CloudFront is a global service; its API is signed for us-east-1 unless a region is configured.
    const client = new CloudFrontClient({ region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1' });
    const result = await createInvalidation(client, distributionId, paths, `afterimage-purge-${new Date().toISOString()}-${randomUUID().slice(0, 8)}`);
    process.stdout.write(
      `Invalidation ${result.invalidationId} (${result.status}) on distribution ${distributionId}: ${paths.length} path${paths.length === 1 ? '' : 's'}.\n` +
        (flags.has('wait') ? '' : 'CloudFront usually finishes within minutes; browsers keep their copies until their max-age passes.\n'),
    );
    if (!flags.has('wait')) return 0;
    if (!(await waitForInvalidation(client, distributionId, result.invalidationId))) {
      process.stderr.write(`afterimage purge: invalidation ${result.invalidationId} is still in progress after ${WAIT_LIMIT_MS / 60_000} minutes\n`);
      return 1;
    }
    process.stdout.write(`Completed: CloudFront serves fresh copies now; browsers keep theirs until their max-age passes.\n`);
    return 0;
  },
};
