// The CloudFront Function's code for one configuration, and a way to run it as CloudFront does
// (a plain script defining `handler`). No CDK here: `afterimage purge` computes invalidation
// paths with the very code the distribution runs.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AfterimageConfig } from '../../lambda/config/schema';
import { CLOUDINARY_COMPONENT_KEYS } from '../../lambda/request/cloudinary-url';

/** The CloudFront Function's source, read at synth time (also run by the unit tests and by purge). */
export const VIEWER_REQUEST_FUNCTION_FILE = path.join(__dirname, 'viewer-request.js');

/** The line of the source that is filled in from the configuration. */
const CONFIG_LINE = "var CONFIG = { endpoints: [], maxDimension: 8192, cloudinaryKeys: '' };";

/**
 * The file with every endpoint's prefix, `widths` and `cloudinaryUrls` filled in (and the
 * Cloudinary keys when an endpoint takes Cloudinary URLs); indentation, whole-line comments and
 * blank lines removed: CloudFront Functions take 10 KB of code.
 */
export function edgeFunctionSource(config: AfterimageConfig): string {
  const source = fs.readFileSync(VIEWER_REQUEST_FUNCTION_FILE, 'utf8');
  if (!source.includes(CONFIG_LINE)) throw new Error(`${VIEWER_REQUEST_FUNCTION_FILE} has no line "${CONFIG_LINE}" to fill in`);
  const endpoints = config.endpoints.map((endpoint) => [endpoint.prefix, endpoint.widths ?? null, endpoint.cloudinaryUrls === true]);
  const cloudinaryKeys = config.endpoints.some((endpoint) => endpoint.cloudinaryUrls) ? `,${CLOUDINARY_COMPONENT_KEYS.join(',')},` : '';
  const code = source
    .replace(CONFIG_LINE, `var CONFIG = ${JSON.stringify({ endpoints, maxDimension: config.limits.maxOutputDimension, cloudinaryKeys })};`)
    .split('\n')
    // Indentation goes too: the file has no string that spans lines.
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('//'))
    .join('\n');
  return `${code}\n`;
}

/** A request as CloudFront Functions pass it (event structure, JavaScript runtime 2.0). */
export interface EdgeRequest {
  uri: string;
  headers: Record<string, { value: string; multiValue?: { value: string }[] }>;
  querystring: Record<string, { value: string; multiValue?: { value: string }[] }>;
  method?: string;
}

/** The function's `handler`, loaded from its code as CloudFront runs it: a script, no modules. */
export function loadViewerRequest(code: string): (event: { request: EdgeRequest }) => EdgeRequest {
  return new Function(`${code}\nreturn handler;`)() as (event: { request: EdgeRequest }) => EdgeRequest;
}
