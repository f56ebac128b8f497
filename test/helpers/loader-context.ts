import { parseConfig } from '../../src/config.js';
import type { LoaderContext, LoaderLimits } from '../../src/ingest/loader.js';
import { loaderContext } from '../../src/ingest/pipeline.js';

/** What a test changes from the product defaults; `limits` is merged field by field. */
export type LoaderContextOverrides = Partial<Omit<LoaderContext, 'limits'>> & {
  limits?: Partial<LoaderLimits>;
};

/**
 * The loader context the pipeline builds from the default configuration, with `overrides` applied.
 * Warnings land in `warnings` unless the overrides bring their own `warn`.
 */
export function testLoaderContext(
  overrides: LoaderContextOverrides = {},
): LoaderContext & { warnings: string[] } {
  const warnings: string[] = [];
  const defaults = loaderContext(parseConfig({}), {}, warnings);
  const { limits, ...rest } = overrides;
  return { ...defaults, ...rest, limits: { ...defaults.limits, ...limits }, warnings };
}
