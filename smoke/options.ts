// `npm run smoke` arguments → what to check. The Function URL (and the distribution URL) may
// come from the JSON file `cdk deploy --outputs-file` writes.

import { readFileSync } from 'node:fs';
import type { SmokeTarget } from './checks';

export const USAGE = `Usage: afterimage smoke <distribution-url> --path <key> [options]   (or: npm run smoke -- …)
  <distribution-url>        https://<distribution-domain>, plus /<endpoint-prefix> to test another endpoint
                            (default: DistributionUrl from --outputs-file)
  --path <key>              the key of a JPEG or PNG photo served by that endpoint, as stored (required)
  --function-url <url>      the stack's Function URL; called directly, it must refuse (403)
  --outputs-file <file>     the JSON written by \`cdk deploy --outputs-file <file>\`: FunctionUrl and DistributionUrl
  --large <key>             the key of a file over 6 MB, fetched whole with orig-true
  --signed-key-env <VAR>    the environment variable holding the private key: a signed URL must be served,
                            a tampered one refused (401)
  --signed-endpoint <url>   the endpoint to sign for, a URL or a prefix such as /private (default: the distribution URL)
  --signed-path <key>       the key to request there (default: --path)`;

export class UsageError extends Error {}

const VALUE_OPTIONS = ['path', 'function-url', 'outputs-file', 'large', 'signed-key-env', 'signed-endpoint', 'signed-path'] as const;
type OptionName = (typeof VALUE_OPTIONS)[number];

function parseArgs(argv: string[]): { url?: string; options: Partial<Record<OptionName, string>> } {
  let url: string | undefined;
  const options: Partial<Record<OptionName, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError(USAGE);
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (match) {
      const name = match[1] as OptionName;
      if (!VALUE_OPTIONS.includes(name)) throw new UsageError(`Unknown option ${arg}\n\n${USAGE}`);
      const value = match[2] ?? argv[++i];
      if (value === undefined || value === '') throw new UsageError(`--${name} needs a value\n\n${USAGE}`);
      options[name] = value;
    } else if (url === undefined) url = arg;
    else throw new UsageError(`One distribution URL at a time (received ${url} and ${arg})\n\n${USAGE}`);
  }
  return { url, options };
}

function httpUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${what} is not a URL: ${text}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${what} must be an http(s) URL: ${text}`);
  if (url.search || url.hash) throw new UsageError(`${what} must not have a query or fragment: ${text}`);
  return url;
}

/** The Function URL and distribution URL of the stack in a `cdk deploy --outputs-file` file. */
export interface StackOutputs {
  stack: string;
  distributionUrl?: string;
  distributionDomainName?: string;
  functionUrl?: string;
}

const FUNCTION_URL = /^https:\/\/[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws\/?$/;

/**
 * Reads the outputs file. With several stacks, the one whose distribution is `baseUrl`'s host
 * is chosen. The Function URL is the `FunctionUrl` output, or failing that any output whose
 * value is a Function URL (a stack that names its outputs differently).
 */
export function readStackOutputs(file: string, baseUrl?: string): StackOutputs {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`Cannot read the outputs file ${file}: ${(error as Error).message}`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(`${file} is not a cdk outputs file: expected {"<StackName>": {"DistributionUrl": "…", "FunctionUrl": "…"}}`);
  }
  const stacks: StackOutputs[] = Object.entries(json as Record<string, unknown>).flatMap(([stack, outputs]) => {
    if (!outputs || typeof outputs !== 'object') return [];
    const values = Object.entries(outputs as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
    const named = (name: string) => values.find(([key]) => key === name)?.[1];
    const functionUrl = named('FunctionUrl') ?? values.find(([, value]) => FUNCTION_URL.test(value))?.[1];
    const domain = named('DistributionDomainName');
    const distributionUrl = named('DistributionUrl') ?? (domain ? `https://${domain}` : undefined);
    return distributionUrl || functionUrl ? [{ stack, distributionUrl, distributionDomainName: domain, functionUrl }] : [];
  });
  if (stacks.length === 0) throw new UsageError(`${file} holds no stack with a DistributionUrl or FunctionUrl output`);
  if (stacks.length === 1) return stacks[0];
  const host = baseUrl ? new URL(baseUrl).host : undefined;
  const matching = stacks.filter((s) => host && (hostOf(s.distributionUrl) === host || s.distributionDomainName === host));
  if (matching.length === 1) return matching[0];
  throw new UsageError(
    `${file} holds several stacks (${stacks.map((s) => s.stack).join(', ')})${host ? ` and none is only ${host}` : ''}: pass the distribution URL of one, or --function-url`,
  );
}

function hostOf(url: string | undefined): string | undefined {
  try {
    return url ? new URL(url).host : undefined;
  } catch {
    return undefined;
  }
}

/** Turns the command line (and the environment, for the signing key) into what to check. */
export function parseSmokeOptions(argv: string[], env: Record<string, string | undefined>): SmokeTarget {
  const { url, options } = parseArgs(argv);
  const outputs = options['outputs-file'] ? readStackOutputs(options['outputs-file'], url) : undefined;
  const baseText = url ?? outputs?.distributionUrl;
  if (!baseText) throw new UsageError(`Name the distribution URL (or --outputs-file with a DistributionUrl)\n\n${USAGE}`);
  const base = httpUrl(baseText, 'The distribution URL');
  if (!options.path) throw new UsageError(`--path is required: the key of an image (a JPEG or PNG photo) the endpoint serves\n\n${USAGE}`);

  const target: SmokeTarget = { baseUrl: base.href.replace(/\/+$/, ''), path: options.path };
  if (options['function-url']) target.functionUrl = httpUrl(options['function-url'], '--function-url').href;
  else if (outputs?.functionUrl) target.functionUrl = httpUrl(outputs.functionUrl, `FunctionUrl in ${options['outputs-file']}`).href;
  else if (outputs) target.functionUrlAbsent = `${options['outputs-file']} has no FunctionUrl output for ${outputs.stack}: pass --function-url`;
  if (options.large) target.largePath = options.large;

  const keyEnv = options['signed-key-env'];
  if (keyEnv) {
    const privateKey = env[keyEnv];
    if (!privateKey) throw new UsageError(`--signed-key-env ${keyEnv}: the environment variable ${keyEnv} is empty or not set`);
    const endpointText = options['signed-endpoint'];
    const endpointUrl = !endpointText
      ? target.baseUrl
      : /^https?:\/\//.test(endpointText)
        ? httpUrl(endpointText, '--signed-endpoint').href
        : `${base.origin}/${endpointText.replace(/^\/+/, '')}`;
    target.signing = { privateKey, keyEnv, endpointUrl: endpointUrl.replace(/\/*$/, '/'), path: options['signed-path'] ?? options.path };
  } else if (options['signed-endpoint'] || options['signed-path']) {
    throw new UsageError(`--signed-endpoint and --signed-path need --signed-key-env <VAR>\n\n${USAGE}`);
  }
  return target;
}
