/**
 * The config file's schema (./config-file.ts reads and writes the file). A module of its own so that zod is
 * loaded only when there is a file to check: most commands run without one, and loading zod is a large
 * part of a command's start.
 */
import { z } from 'zod';

export const contextSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63'),
  controlPlane: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL'),
  caFile: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  currentContext: z.string().optional(),
  contexts: z.array(contextSchema).default([]),
});

export type Context = z.output<typeof contextSchema>;

export type CliConfig = z.output<typeof configSchema>;
