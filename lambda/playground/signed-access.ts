// The playground in a deployed function (construct option `playground.enabled`, off by default):
// served only at PLAYGROUND_PATH, only with a signature made with the stack's `privateKey` and an
// expiry, exactly as `npm run sign` signs a URL on the default endpoint, so the page is never public.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AfterimageConfig } from '../config';
import { type HttpError, unauthorized } from '../errors';
import type { SecretStore } from '../origin/secrets';
import { checkSignature, selectSigningKey, signingKeysOf, type SigningKeyProvider } from '../request/signature';
import type { ServiceRequest, ServiceResponse } from '../service/image-service';
import { errorResponse } from '../service/respond';
import { playgroundPage, playgroundSetup, type PlaygroundPage } from './page';

/** Where a deployed function serves the playground (a reserved path, never an image). */
export const PLAYGROUND_PATH = '/_afterimage/playground';
/** The file the construct puts beside the bundle when the playground is enabled. */
export const PLAYGROUND_FILE_NAME = 'playground.html';

/**
 * The answer for the playground's path, or undefined for any other path. A missing, wrong or
 * expired signature, or one without an expiry (`ik-t`), is a 401: a link to the page always ends.
 */
export async function answerPlayground(
  request: ServiceRequest,
  page: PlaygroundPage,
  signingKey: SigningKeyProvider | undefined,
  nowMs: number,
): Promise<ServiceResponse | undefined> {
  if (request.rawPath !== PLAYGROUND_PATH) return undefined;
  const head = request.method === 'HEAD';
  const query = new URLSearchParams(request.rawQuery);
  const signature = query.get('ik-s');
  const expiry = query.get('ik-t');
  if (!signature || !expiry) return errorResponse(unauthorized('The playground needs a signed link with an expiry (ik-s, ik-t): npm run sign -- <url> --expires <seconds>'), head);
  const keys = signingKeysOf(await signingKey?.(undefined), 'privateKey');
  if (!keys) return errorResponse(unauthorized('The playground needs the secret\'s privateKey to verify its link; none is configured'), head);
  try {
    checkSignature(keys, PLAYGROUND_PATH.slice(1), expiry, signature, nowMs, { it: 'the playground link', expired: 'This playground link' });
  } catch (error) {
    return errorResponse(error as HttpError, head);
  }
  const body = Buffer.from(page.html);
  return { status: 200, headers: { ...page.headers, 'content-length': String(body.length) }, body: head ? Buffer.alloc(0) : body };
}

/** The page and the key that opens it, for a function with the playground enabled. */
export interface SignedPlayground {
  page: PlaygroundPage;
  signingKey?: SigningKeyProvider;
}

/** Reads the page the construct put beside the bundle; its setup lists the configured endpoints. */
export function loadSignedPlayground(directory: string, config: AfterimageConfig, secrets?: SecretStore): SignedPlayground {
  const template = readFileSync(join(directory, PLAYGROUND_FILE_NAME), 'utf8');
  return {
    page: playgroundPage(playgroundSetup(config), template),
    signingKey: secrets ? async (name) => selectSigningKey(await secrets.get(), name) : undefined,
  };
}
