/** A Gateway API hostname in config, as a zod schema over ./hostnames.ts's rules. */
import { z } from 'zod';
import { hostnameProblem } from './hostnames.js';

export const hostnameSchema = z.string().superRefine((v, ctx) => {
  const problem = hostnameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
