/** The `tracing:` section of the config. Without it nothing is traced. */
import { z } from 'zod';

export const tracingConfigSchema = z.strictObject({
  /** OTLP/HTTP base URL, e.g. http://otel-collector:4318; spans go to `<otlpEndpoint>/v1/traces`. */
  otlpEndpoint: z.url({ protocol: /^https?$/, error: 'otlpEndpoint must be an http(s) URL, e.g. http://otel-collector:4318' }),
  /** Share of Checks traced when Envoy sent no sampling decision, 0 to 1. */
  sampleRatio: z
    .number({ error: 'sampleRatio must be a number from 0 to 1' })
    .min(0, { error: 'sampleRatio must be from 0 to 1' })
    .max(1, { error: 'sampleRatio must be from 0 to 1' })
    .default(0.01),
});

export type TracingConfig = z.infer<typeof tracingConfigSchema>;
