import type { Config } from '../config.js';
import { httpError } from './http-errors.js';

/**
 * What an API client may choose for its questions. The operator configures the provider, its address and its key;
 * a client may turn answering off for a question (`none`) or pick one of the models the operator allows (the
 * configured one, plus `server.llm.allowModels`), never another provider or address: switching to `openai` would
 * otherwise spend the operator's OPENAI_API_KEY on a model of the client's choice.
 */
export interface AnsweringPolicy {
  /** The configured provider. */
  provider: Config['llm']['provider'];
  /** The configured model (undefined: the provider's default). */
  model: string | undefined;
  /** Models a request may name, the configured one first. */
  models: string[];
}

export function answeringPolicy(config: Config): AnsweringPolicy {
  const configured = config.llm.model;
  const models = [...new Set([...(configured ? [configured] : []), ...config.server.llm.allowModels])];
  return { provider: config.llm.provider, model: configured, models };
}

/**
 * A request's `llm` choice as the knowledge base takes it, checked against the policy: a provider other than the
 * configured one (or `none`), or a model the operator did not allow, is a 400 that says what may be chosen.
 */
export function allowedOverride(
  requested: { provider?: Config['llm']['provider'] | undefined; model?: string | undefined } | undefined,
  policy: AnsweringPolicy,
): Partial<Config['llm']> | undefined {
  if (!requested) return undefined;
  const { provider, model } = requested;
  if (provider !== undefined && provider !== 'none' && provider !== policy.provider) {
    throw httpError(
      'bad_request',
      `This server answers with the provider it was configured with (${policy.provider}); a question may not switch to "${provider}".`,
      'Leave llm.provider out, or send "none" for the sources without an answer. The operator chooses the provider and its address (llm.provider, llm.url).',
    );
  }
  if (
    model !== undefined &&
    provider !== 'none' &&
    model !== policy.model &&
    !policy.models.includes(model)
  ) {
    const offered =
      policy.models.length > 0
        ? `it offers ${policy.models.join(', ')}`
        : 'it answers with its configured model only';
    throw httpError(
      'bad_request',
      `The model "${model}" is not one this server offers: ${offered}.`,
      'Leave llm.model out for the configured model. The operator can offer more with server.llm.allowModels.',
    );
  }
  return {
    ...(provider ? { provider } : {}),
    ...(model && provider !== 'none' ? { model } : {}),
  };
}
