// What an S3 failure means for an origin, and how to fix it: the missing IAM statement, the
// region the bucket is really in, a missing bucket, an endpoint that cannot be reached.

import type { OriginConfig } from '../../lambda/config';
import { folderPrefix } from '../../lambda/origin/keys';
import { CONNECTION_FAILURES, errorCode } from '../../lambda/origin/s3';

export interface Diagnosis {
  /** What happened, in words (with S3's error code and status). */
  what: string;
  /** One line per thing to change. */
  fix: string[];
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Region?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
}

/** The IAM statement that grants what `action` needs on the origin's bucket and folder. */
export function missingStatement(origin: OriginConfig, action: 'list' | 'get'): string {
  const prefix = folderPrefix(origin.folder);
  if (action === 'get') {
    return JSON.stringify({ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${origin.bucket}/${prefix}*` });
  }
  // No s3:prefix condition: S3 decides between 404 and 403 for a GET by a listing with no prefix
  // (README "Read-only IAM policy for the bucket keys").
  return JSON.stringify({ Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${origin.bucket}` });
}

function whereTo(origin: OriginConfig): string {
  return origin.endpoint ?? `S3 in ${origin.region ?? process.env.AWS_REGION ?? 'us-east-1'}`;
}

export function describeS3Failure(error: unknown, origin: OriginConfig, action: 'list' | 'get'): Diagnosis {
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const said = `${name}${status ? ` ${status}` : ''}`;
  const code = errorCode(e);
  const setting = `origins "${origin.name}"`;

  if (code && Object.hasOwn(CONNECTION_FAILURES, code)) {
    return {
      what: `${whereTo(origin)} ${CONNECTION_FAILURES[code]} (${code})`,
      fix: origin.endpoint
        ? [`check "endpoint" of ${setting} (${origin.endpoint}): the URL, its port, and that the service runs and is reachable from here`]
        : [`check "region" of ${setting} and your network: the S3 endpoint of that region could not be reached`],
    };
  }
  if (name === 'TimeoutError' || name === 'AbortError' || code === 'ETIMEDOUT') {
    return { what: `${whereTo(origin)} did not answer in time`, fix: [`check "endpoint"/"region" of ${setting} and your network (a firewall that drops packets looks like this)`] };
  }
  if (name === 'CredentialsProviderError') {
    return {
      what: 'no AWS credentials were found (the SDK\'s default chain: environment, profiles, SSO, instance role)',
      fix: ['sign in (aws sso login, or AWS_PROFILE=<profile>), or pass --secret <arn> to use the stack\'s keys, or --access-key-id'],
    };
  }
  if (name === 'NoSuchBucket') {
    return { what: `the bucket "${origin.bucket}" does not exist (${said})`, fix: [`check "bucket" of ${setting} (and "endpoint", when the bucket is not on AWS), or create the bucket`] };
  }
  // S3 answers a request sent to the wrong region with a redirect that names the right one.
  const region = e.Region ?? e.$response?.headers?.['x-amz-bucket-region'];
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || name === 'IllegalLocationConstraintException' || status === 301) {
    return {
      what: `the bucket "${origin.bucket}" is in another region${region ? ` (${region})` : ''} (${said})`,
      fix: [region ? `set "region": "${region}" in ${setting}` : `set "region" of ${setting} to the bucket's region (aws s3api get-bucket-location --bucket ${origin.bucket})`],
    };
  }
  if (name === 'InvalidAccessKeyId') {
    return { what: `the access key id is not known to ${whereTo(origin)} (${said})`, fix: ['check the accessKeyId (in the secret, the file or the environment): it may be deleted, deactivated, or for another account or service'] };
  }
  if (name === 'SignatureDoesNotMatch') {
    return { what: `the secret access key does not match the access key id (${said})`, fix: ['check the secretAccessKey that goes with this accessKeyId'] };
  }
  if (name === 'ExpiredToken' || name === 'InvalidToken' || name === 'TokenRefreshRequired') {
    return { what: `the session token is expired or invalid (${said})`, fix: ['renew the credentials (aws sso login, or new temporary keys); the function needs long-lived keys in its secret'] };
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    const statement = missingStatement(origin, action);
    const fix = origin.endpoint
      ? [`allow these keys to ${action === 'list' ? 'list' : 'read'} ${action === 'list' ? `the bucket "${origin.bucket}"` : `objects under ${origin.bucket}/${folderPrefix(origin.folder)}`} in the access control of ${origin.endpoint} (on AWS this is ${statement})`]
      : [`add to the policy of the keys' IAM user or role: ${statement}`];
    if (action === 'list') fix.push('without it S3 answers 403 instead of 404 for a missing file, so the request fails instead of trying the next origin, and Cloudinary-backup origins cannot find versions');
    else fix.push('if the objects are encrypted with a KMS key, the keys also need kms:Decrypt on it; a bucket policy that denies them wins over any Allow');
    return { what: `access denied (${said})`, fix };
  }
  const reason = [name === 'Error' && code ? code : name, status].filter((part) => part !== undefined).join(' ');
  return { what: `failed (${reason})`, fix: [`check ${setting}: ${e.message ?? 'no further detail'}`.slice(0, 300)] };
}
