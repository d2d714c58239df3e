/**
 * ServiceExport, after the Kubernetes Multi-Cluster Services API (KEP-1645): its name and namespace name
 * the service to export, and its presence alone makes the service visible to peer clusters. A service
 * without one stays invisible to every peer, whatever it is called. The spec is empty for now (as in the
 * MCS API); it is kept as an object so that options can be added without a new kind.
 */
import { z } from 'zod';
import { API_VERSION, metadataSchema } from './metadata.js';

export const serviceExportSpecSchema = z.strictObject({});

export const serviceExportResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('ServiceExport'),
  metadata: metadataSchema,
  spec: serviceExportSpecSchema.default({}),
});

export type ServiceExportResource = z.output<typeof serviceExportResourceSchema>;
