import { Type } from '@sinclair/typebox';
import {
  parseSemanticCacheSettings,
  resolveSemanticCacheSettings,
  type SemanticCacheSettingsPatch,
  type SettingsProblem,
  semanticCacheSettingsProblems,
} from '../../domain/semantic-cache-settings.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ModelCatalog } from '../inference/model-catalog.js';

/**
 * Reads and checks one layer of semantic cache settings in its wire form (config file or
 * API): every problem at once, then the embedding model against the catalog, so a model that
 * cannot embed is refused when it is set, not at the first request. Throws `invalid_request`
 * naming the parameter.
 */
export function checkSemanticSettings(
  catalog: Pick<ModelCatalog, 'resolve'>,
  input: unknown,
  base: SemanticCacheSettingsPatch = {},
): SemanticCacheSettingsPatch {
  const parsed = parseSemanticCacheSettings(input);
  if (!parsed.ok) throw invalid(parsed.problems);
  const problems = semanticCacheSettingsProblems(resolveSemanticCacheSettings(base, parsed.value));
  const model = parsed.value.embeddingModel;
  if (problems.length === 0 && model != null) {
    try {
      catalog.resolve(model, 'embeddings');
    } catch (error) {
      const reason = error instanceof GatewayError ? error.message : 'It cannot be used.';
      problems.push({
        param: 'semantic.embedding_model',
        message: `semantic.embedding_model '${model}' cannot embed: ${reason}`,
      });
    }
  }
  if (problems.length > 0) throw invalid(problems);
  return parsed.value;
}

function invalid(problems: SettingsProblem[]): GatewayError {
  return new GatewayError('invalid_request', {
    message: problems.map((problem) => problem.message).join(' '),
    param: problems[0]?.param ?? null,
  });
}

/** The wire form, for the API's description and the events' data: every field optional. */
export const SemanticSettingsSchema = Type.Partial(
  Type.Object(
    {
      enabled: Type.Boolean({ description: 'Whether the semantic cache is looked up.' }),
      threshold: Type.Number({
        minimum: 0,
        maximum: 1,
        description: 'Cosine similarity a stored conversation must reach to answer.',
      }),
      embedding_model: Type.Union([Type.String(), Type.Null()], {
        description: 'The model (with embeddings) that embeds conversations.',
      }),
      ttl_seconds: Type.Integer({ minimum: 1, description: 'How long an answer is kept.' }),
      max_entries: Type.Integer({ minimum: 1, description: 'Answers kept per tenant.' }),
    },
    { additionalProperties: false },
  ),
  { additionalProperties: false },
);
