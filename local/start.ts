// `npm start`: serves afterimage on http://127.0.0.1:3000 (PORT to change it).
// With no configuration, an embedded S3 server seeded with samples is the origin;
// with `--config <file>` or AFTERIMAGE_CONFIG=<file>, the user's own origins are served.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, parseConfig, type AfterimageConfig, type AfterimageConfigInput } from '../lambda/config';
import { selectSigningKey, signingKeysFromEnvironment } from '../lambda/request/signature';
import { originHeadersFromEnvironment } from '../lambda/origin/web';
import { ImageService } from '../lambda/service/image-service';
import { EMBEDDED_KEYS, startEmbeddedS3, type EmbeddedS3 } from './embedded-s3';
import { playgroundPage, playgroundSetup, type PlaygroundSetup } from '../lambda/playground/page';
import { CLOUDINARY_EXAMPLES, SAMPLE_BACKUP, SAMPLE_BACKUP_FOLDER, SAMPLE_BUCKET, SAMPLE_CLOUD, seedCloudinaryBackup, seedSamples } from './samples';
import { createLocalServer, listen } from './server';
import { humanLine } from './request-line';

function configFileFromArgs(argv: string[]): string | undefined {
  const i = argv.indexOf('--config');
  if (i >= 0) {
    if (!argv[i + 1]) throw new Error('--config needs a file name: npm start -- --config my-config.json');
    return argv[i + 1];
  }
  const inline = argv.find((a) => a.startsWith('--config='));
  return inline ? inline.slice('--config='.length) : process.env.AFTERIMAGE_CONFIG;
}

function readConfigFile(file: string): AfterimageConfig {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch {
    throw new Error(`Cannot read the configuration file ${file}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json);
}

/**
 * Locally there is no stack secret: an origin that reads its keys from it (`"secret"`, the
 * default) uses the AWS SDK's default chain instead (your profile, SSO, the environment), as
 * `afterimage doctor` does, so one file serves `npm start -- --config` and `cdk deploy`.
 * Returns the configuration to serve and the names of the origins changed.
 */
export function withLocalCredentials(config: AfterimageConfig): { config: AfterimageConfig; ownCredentials: string[] } {
  const ownCredentials: string[] = [];
  const origins = config.origins.map((origin) => {
    const bucketOrigin = origin.type === 's3' || origin.type === 'cloudinary-backup';
    if (!bucketOrigin || (origin.credentials?.source ?? 'secret') !== 'secret') return origin;
    ownCredentials.push(origin.name);
    return { ...origin, credentials: { source: 'default-chain' as const } };
  });
  return { config: { ...config, origins }, ownCredentials };
}

/** The configuration of the embedded sample setup. */
export function sampleConfig(s3Endpoint: string): AfterimageConfigInput {
  return {
    origins: [
      {
        name: 'samples',
        type: 's3',
        bucket: SAMPLE_BUCKET,
        folder: '/',
        endpoint: s3Endpoint,
        credentials: { source: 'static', ...EMBEDDED_KEYS },
      },
      {
        // The sample Cloudinary backup, in the same bucket under res/<cloud>/.
        name: 'cloudinary-backup',
        type: 'cloudinary-backup',
        bucket: SAMPLE_BUCKET,
        folder: `/${SAMPLE_BACKUP_FOLDER}`,
        exactVersions: true,
        endpoint: s3Endpoint,
        credentials: { source: 'static', ...EMBEDDED_KEYS },
      },
    ],
    endpoints: [
      { prefix: '', origins: ['samples'] },
      // The prefix stands for the cloud name: res.cloudinary.com/demo/… → 127.0.0.1:3000/demo/…
      { prefix: `/${SAMPLE_CLOUD}`, origins: ['cloudinary-backup'], cloudinaryUrls: true },
    ],
  };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const file = configFileFromArgs(process.argv.slice(2));
  let s3: EmbeddedS3 | undefined;
  let config: AfterimageConfig;
  // The playground's samples; with a configuration file the user types paths instead.
  const samples: PlaygroundSetup['samples'] = [];
  let ownCredentials: string[] = [];
  if (file) {
    ({ config, ownCredentials } = withLocalCredentials(readConfigFile(file)));
  } else {
    s3 = await startEmbeddedS3([SAMPLE_BUCKET]);
    for (const key of await seedSamples(s3)) if (/\.(jpe?g|png|svg)$/.test(key)) samples.push({ endpoint: '', path: key });
    await seedCloudinaryBackup(s3);
    for (const [publicId, versions] of Object.entries(SAMPLE_BACKUP)) {
      for (const format of new Set(versions.map(([, , f]) => f))) samples.push({ endpoint: SAMPLE_CLOUD, path: `image/upload/${publicId}.${format}` });
    }
    config = parseConfig(sampleConfig(s3.endpoint));
  }
  // Local runs only: in AWS the signing key is read from Secrets Manager, never the environment.
  const keys = signingKeysFromEnvironment(process.env);
  const service = new ImageService(config, {
    signingKey: keys ? (name) => selectSigningKey(keys, name) : undefined,
    originHeaders: originHeadersFromEnvironment(process.env),
  });
  const server = createLocalServer(service, {
    playground: playgroundPage(playgroundSetup(config, samples)),
    onRequest: (record) => console.log(humanLine(record)),
  });
  const actualPort = await listen(server, port);
  const base = `http://127.0.0.1:${actualPort}`;
  console.log(`afterimage is serving on ${base}`);
  console.log(`playground: ${base}/`);
  if (s3) {
    console.log(`(embedded S3 server with sample images on ${s3.endpoint})\n\nTry:`);
    for (const example of [
      '/products/landscape.jpg',
      '/tr:w-400/products/landscape.jpg',
      '/tr:w-300,h-300/products/portrait.jpg',
      '/tr:w-200,h-200,f-png/brand/badge.png',
      '/products/landscape.jpg?tr=w-600,q-50',
      '/tr:w-800:w-200/products/landscape.jpg',
      '/tr:w-800,l-image,i-brand@@logo.png,w-200,o-85,lx-N24,ly-N24,l-end/products/landscape.jpg',
      '/tr:w-800,l-text,i-Summer%20sale,fs-48,co-FFFFFF,bg-0F172A70,pa-12_24,tg-b,lfo-bottom,ly-N32,l-end/products/landscape.jpg',
    ]) console.log(`  ${base}${example}`);
    console.log(`\nFrom a sample Cloudinary backup (${SAMPLE_BACKUP_FOLDER}image/upload/… in the same bucket):`);
    for (const [example, what] of CLOUDINARY_EXAMPLES) console.log(`  ${base}${example}\n      ${what}`);
  } else {
    for (const name of ownCredentials) console.log(`origin "${name}" reads its keys from the stack's secret in AWS; here it uses your own AWS credentials (the SDK's default chain: profile, SSO, environment)`);
    console.log(`configuration: ${file}`);
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // No new requests; closing every connection abandons the work of those still open.
    server.close();
    server.closeAllConnections();
    const s3Closed = s3 ? Promise.race([s3.close(), new Promise((r) => setTimeout(r, 1000))]) : Promise.resolve();
    void s3Closed.finally(() => {
      if (service.renderSlots.load.running === 0) process.exit(0);
      // A normal exit waits for libvips to finish what it is drawing, minutes for a hostile
      // file: with a render still running, the signal's default action ends the process now.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// Serves only when run (`npm start`); importing the module, as a test does for sampleConfig, starts nothing.
if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof ConfigError || error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
