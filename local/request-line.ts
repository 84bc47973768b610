// `npm start` prints one short line per request instead of the JSON the function logs.

import type { RequestRecord } from '../lambda/service/request-record';

/** A one-line human summary for the local server: `GET /tr:w-300/a.jpg 200 12.3 kB 45 ms (samples, originals miss)`. */
export function humanLine(record: RequestRecord): string {
  const size = record.bytesOut >= 1024 ? `${(record.bytesOut / 1024).toFixed(1)} kB` : `${record.bytesOut} B`;
  const where = [record.origin, record.resolutionCache && `resolution ${record.resolutionCache}`, record.originalsCache && `originals ${record.originalsCache}`]
    .filter(Boolean)
    .join(', ');
  const error = record.errorCode ? ` ${record.errorCode}` : '';
  return `${record.method} ${record.url} ${record.status}${error} ${size} ${Math.round(record.timings.total)} ms${where ? ` (${where})` : ''}`;
}
