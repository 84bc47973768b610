// Lambda entry: a Function URL (payload 2.0) handler with response streaming, so responses
// over 6 MB work. A thin adapter over the same ImageService the local server uses.

import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { parseConfig } from './config';
import { SecretStore } from './origin/secrets';
import { ImageService, type ServiceRequest } from './service/image-service';

function loadConfig() {
  const text = process.env.AFTERIMAGE_CONFIG;
  if (!text) throw new Error('AFTERIMAGE_CONFIG is not set: it must hold the configuration as JSON');
  return parseConfig(JSON.parse(text));
}

const config = loadConfig();
const secretArn = process.env.AFTERIMAGE_SECRET_ARN;
const secrets = secretArn ? new SecretStore(secretArn, config.cache.secretTtlSeconds * 1000) : undefined;
const service = new ImageService(config, { secrets });

export function toServiceRequest(event: LambdaFunctionURLEvent): ServiceRequest {
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    rawPath: event.rawPath ?? '/',
    rawQuery: event.rawQueryString ?? '',
    headers: event.headers ?? {},
  };
}

export const handler = awslambda.streamifyResponse(async (event: LambdaFunctionURLEvent, responseStream) => {
  const response = await service.handle(toServiceRequest(event));
  const stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: response.status, headers: response.headers });
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.end(response.body, () => resolve());
  });
});
