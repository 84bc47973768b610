// `afterimage sign <url> [--endpoint <url-endpoint>] [--expires <seconds>] [--key-name <name> | --key-file <file>]`:
// signs a delivery URL the way ImageKit's SDKs do (README "Signed URLs"), for operators. The key is
// read from AFTERIMAGE_PRIVATE_KEY (AFTERIMAGE_PRIVATE_KEYS for a named key) or --key-file,
// never from the command line (shell history). `npm run sign -- …` runs the same command.

import { readFileSync } from 'node:fs';
import { keyField, selectSigningKey, signUrl, signingKeysFromEnvironment } from '../../lambda/request/signature';
import { type Command, parseArgs, UsageError } from '../command';

export { UsageError } from '../command';

const HELP = `Usage: afterimage sign <url> [--endpoint <url-endpoint>] [--expires <seconds>] [--key-name <name> | --key-file <file>]

Prints the URL signed as ImageKit signs it (ik-s, and ik-t with --expires).

  <url>          the delivery URL, e.g. https://cdn.example.com/images/tr:w-300/shoe.jpg
  --endpoint     the part that is not signed: https://<host>/<endpoint-prefix>/ (default: https://<host>/)
  --expires      seconds from now after which the URL is refused (default: never)
  --key-name     the endpoint's signingKeyName: signs with that key from AFTERIMAGE_PRIVATE_KEYS
                 (a JSON object such as {"vault": "…"}; with ["new", "old"], the first signs)
  --key-file     a file holding the private key (default: the AFTERIMAGE_PRIVATE_KEY environment variable)

Example:
  AFTERIMAGE_PRIVATE_KEY=... npx afterimage sign https://cdn.example.com/private/tr:w-300/shoe.jpg \\
    --endpoint https://cdn.example.com/private/ --expires 3600`;

/** Parses the arguments and returns the signed URL. */
export function signCommand(argv: string[], env: Record<string, string | undefined>, nowMs: number): string {
  const { positional, options } = parseArgs(argv, { values: ['endpoint', 'expires', 'key-file', 'key-name'] });
  if (positional.length === 0) throw new UsageError('name the URL to sign');
  if (positional.length > 1) throw new UsageError(`only one URL at a time (received ${positional.length})`);
  const url = positional[0];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`not a URL: ${url}`);
  }
  const endpoint = options.endpoint ?? `${parsed.origin}/`;
  if (options['key-file'] !== undefined && options['key-name'] !== undefined) {
    throw new UsageError('--key-name and --key-file: give one of them');
  }
  let key = namedKey(env, options['key-name']);
  if (options['key-file']) {
    try {
      key = readFileSync(options['key-file'], 'utf8').trim();
    } catch {
      throw new UsageError(`Cannot read the key file ${options['key-file']}`);
    }
  }
  if (!key) {
    const where = options['key-name'] === undefined ? 'set AFTERIMAGE_PRIVATE_KEY or pass --key-file' : `AFTERIMAGE_PRIVATE_KEYS has no key "${options['key-name']}"`;
    throw new UsageError(`No private key: ${where}`);
  }
  let expiresAt: number | undefined;
  if (options.expires !== undefined) {
    if (!/^\d+$/.test(options.expires) || Number(options.expires) < 1) throw new UsageError(`--expires must be a whole number of seconds, received ${options.expires}`);
    expiresAt = Math.floor(nowMs / 1000) + Number(options.expires);
  }
  try {
    return signUrl(url, endpoint, key, expiresAt);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The key to sign with: the default key, or the named one; during a rotation the first (the new) key. */
function namedKey(env: Record<string, string | undefined>, name: string | undefined): string | undefined {
  let keys: ReturnType<typeof signingKeysFromEnvironment>;
  try {
    keys = signingKeysFromEnvironment(env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const entry = keys ? selectSigningKey(keys, name) : undefined;
  const first = Array.isArray(entry) ? entry[0] : entry;
  if (entry !== undefined && (typeof first !== 'string' || first === '')) {
    throw new UsageError(`${keyField(name)} must be a key or [current, previous] in AFTERIMAGE_PRIVATE_KEY${name === undefined ? '' : 'S'}`);
  }
  return first as string | undefined;
}

export const sign: Command = {
  name: 'sign',
  summary: 'sign a delivery URL with the private key (ik-s, ik-t), as ImageKit does',
  help: HELP,
  async run(argv) {
    process.stdout.write(`${signCommand(argv, process.env, Date.now())}\n`);
    return 0;
  },
};
