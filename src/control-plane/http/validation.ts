/** zod failures as 400 answers that list every problem, each with its path. */
import type { z } from 'zod';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.js';
import { describeIssues, toIssues, type ValidationIssue } from '../../config/validate.js';
import { HttpError } from './http-error.js';

export function invalid(what: string, issues: ValidationIssue[], code: ErrorCodeValue = ErrorCode.BAD_REQUEST): HttpError {
  return new HttpError(400, code, `invalid ${what}: ${describeIssues(issues)}`, { issues });
}

/** Parse `value` or throw a 400 naming every issue. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, what: string, code: ErrorCodeValue = ErrorCode.BAD_REQUEST): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalid(what, toIssues(result.error), code);
}
