// One table decides the status of every error code; the factories only name the code.

import { ERROR_STATUS, HttpError, badRequest, busy, internalError, limitExceeded, methodNotAllowed, notFound, originFailed, originRefused, originTimedOut, unauthorized, unreadable, type ErrorCode } from '../lambda/errors';
import { errorResponse } from '../lambda/service/respond';

describe('errors: the code decides the status', () => {
  it.each(Object.entries(ERROR_STATUS) as [ErrorCode, number][])('%s is a %i, in the error and in the response', (code, status) => {
    const error = new HttpError(code, 'why');
    expect(error.status).toBe(status);
    const response = errorResponse(error, false);
    expect(response.status).toBe(status);
    expect(response.headers['x-afterimage-error']).toBe(`${code} - why`);
    expect(response.headers['cache-control']).toBe(status >= 500 ? 'no-store' : 'public, max-age=60');
  });

  it.each([
    [badRequest, 'EINVAL'],
    [unauthorized, 'ESIGNATURE'],
    [notFound, 'ENOENT'],
    [methodNotAllowed, 'EMETHOD'],
    [limitExceeded, 'ELIMIT'],
    [unreadable, 'EUNREADABLE'],
    [originRefused, 'EACCES'],
    [originFailed, 'EORIGIN'],
    [originTimedOut, 'ETIMEDOUT'],
    [busy, 'EBUSY'],
    [internalError, 'EINTERNAL'],
  ] as const)('%p makes %s', (factory, code) => {
    const error = factory('why');
    expect([error.code, error.status, error.message]).toEqual([code, ERROR_STATUS[code], 'why']);
  });

  it('a limit that depends on a budget is never cached', () => {
    expect(errorResponse(limitExceeded('over the budget', true), false).headers['cache-control']).toBe('no-store');
    expect(errorResponse(limitExceeded('over the limit'), false).headers['cache-control']).toBe('public, max-age=60');
  });
});
