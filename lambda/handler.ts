// Lambda entry: a Function URL (payload 2.0) handler with response streaming, so responses
// over 6 MB work. The configuration is the file the construct put beside this bundle, read
// once per cold start; everything else is in function-url.ts and the ImageService.

import { createStreamingHandler, loadService } from './function-url';
import { Telemetry } from './telemetry';

export const handler = awslambda.streamifyResponse(createStreamingHandler(loadService(__dirname), new Telemetry()) as never);
