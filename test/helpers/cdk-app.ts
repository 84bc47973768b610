// What the tests that synthesise the stack share: the feature flags `cdk synth` uses (cdk.json's
// context), the example configuration, a dummy account, and an App that skips asset bundling
// (test/bundle.test.ts builds the real asset).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import type { AfterimageConfigInput } from '../../lambda/config';

const ROOT = path.join(__dirname, '..', '..');

/** cdk.json's context: the same feature flags as `cdk synth`. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')).context;

/** afterimage.config.example.json, as a user starts from it. */
export const EXAMPLE_CONFIG: AfterimageConfigInput = JSON.parse(fs.readFileSync(path.join(ROOT, 'afterimage.config.example.json'), 'utf8'));

/** A dummy account and region: nothing is deployed. */
export const TEST_ENV = { account: '111111111111', region: 'us-east-1' };

/** An App with `cdk synth`'s feature flags and no asset bundling. */
export function newApp(): App {
  return new App({ context: { ...CDK_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}
