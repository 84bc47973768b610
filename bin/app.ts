// CDK app: reads the afterimage configuration file and deploys one ImageDeliveryStack.
// The file is the context value `configFile` (cdk.json, or `-c configFile=...`); an optional
// custom domain comes from `-c domainNames=img.example.com -c certificateArn=arn:aws:acm:us-east-1:...`;
// alarm emails from `-c alarmEmail=ops@example.com`; `-c monitoring=false` leaves out the dashboard and alarms;
// `-c originShieldRegion=eu-west-1` chooses Origin Shield's Region and `-c originShield=false` turns it off.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, type AfterimageConfigInput } from '../lambda/config';
import { DeliveryOptionError } from '../lib/image-delivery';
import { MonitoringOptionError } from '../lib/monitoring';
import { ImageDeliveryStack } from '../lib/stack';

const EXAMPLE_FILE = 'afterimage.config.example.json';

/** A file or configuration problem is the user's to fix: show the message, not a stack trace. */
class UserError extends Error {}

/** The file's JSON, unchecked: ImageDelivery validates it with parseConfig and names every problem. */
function readConfigFile(file: string): AfterimageConfigInput {
  const fullPath = path.resolve(file);
  if (!fs.existsSync(fullPath)) {
    throw new UserError(
      `afterimage: the configuration file ${fullPath} does not exist. ` +
        `Copy ${EXAMPLE_FILE} to afterimage.config.json, edit it, and run with -c configFile=afterimage.config.json ` +
        `(or set "configFile" in cdk.json).`,
    );
  }
  try {
    return JSON.parse(fs.readFileSync(fullPath, 'utf8')) as AfterimageConfigInput;
  } catch (error) {
    throw new UserError(`afterimage: ${fullPath} is not valid JSON: ${(error as Error).message}`);
  }
}

/** A context value given as a JSON array in cdk.json or as "a,b" on the command line. */
function listContext(app: App, key: string): string[] | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === '') return undefined;
  if (Array.isArray(value)) return value.map(String);
  return String(value).split(',').map((s) => s.trim()).filter(Boolean);
}

function main(): void {
  const app = new App();
  const configFile: string = app.node.tryGetContext('configFile') ?? 'afterimage.config.json';
  if (path.basename(configFile) === EXAMPLE_FILE) {
    process.stderr.write(`afterimage: using ${EXAMPLE_FILE}; copy it to afterimage.config.json and pass -c configFile=afterimage.config.json to deploy your own.\n`);
  }

  const domainNames = listContext(app, 'domainNames');
  const certificateArn: string | undefined = app.node.tryGetContext('certificateArn');
  if (domainNames && !certificateArn) {
    throw new UserError(
      `afterimage: -c domainNames=${domainNames.join(',')} needs -c certificateArn=arn:aws:acm:us-east-1:...: ` +
        `an ACM certificate in us-east-1 that covers those names.`,
    );
  }
  if (certificateArn && !domainNames) {
    throw new UserError('afterimage: -c certificateArn=... was given without -c domainNames=...: name the domains the certificate is for.');
  }

  const alarmEmail: string | undefined = app.node.tryGetContext('alarmEmail') || undefined;
  const monitoringOff = String(app.node.tryGetContext('monitoring')) === 'false';
  const originShieldOff = String(app.node.tryGetContext('originShield')) === 'false';
  const originShieldRegion: string | undefined = app.node.tryGetContext('originShieldRegion') || undefined;
  if (originShieldOff && originShieldRegion) {
    throw new UserError('afterimage: -c originShield=false and -c originShieldRegion=... contradict each other: give one of them.');
  }

  new ImageDeliveryStack(app, app.node.tryGetContext('stackName') ?? 'Afterimage', {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: 'afterimage: ImageKit/Cloudinary-compatible image delivery (S3 -> Lambda/sharp -> CloudFront)',
    delivery: {
      config: readConfigFile(configFile),
      ...(domainNames ? { domainNames } : {}),
      ...(monitoringOff ? { monitoring: false as const } : alarmEmail ? { monitoring: { alarmEmail } } : {}),
      ...(originShieldOff ? { originShield: false as const } : originShieldRegion ? { originShield: { region: originShieldRegion } } : {}),
    },
    ...(certificateArn ? { certificateArn } : {}),
  });

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}

try {
  main();
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof UserError || error instanceof DeliveryOptionError || error instanceof MonitoringOptionError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
