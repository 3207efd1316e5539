import type { JsonObject } from '../types.js';

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

interface ContentBlock {
  type?: unknown;
  text?: unknown;
  id?: unknown;
  name?: unknown;
  input?: unknown;
}

/** OpenAI's finish reasons for Anthropic's stop reasons (the LangChain bridge reads them too). */
export const ANTHROPIC_FINISH_REASONS: Readonly<
  Record<string, 'stop' | 'length' | 'tool_calls' | 'content_filter'>
> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

export function finishReason(stopReason: unknown): string {
  return (typeof stopReason === 'string' && ANTHROPIC_FINISH_REASONS[stopReason]) || 'stop';
}

const tokens = (value: number | null | undefined) => (typeof value === 'number' ? value : 0);

/**
 * OpenAI counts every prompt token in prompt_tokens, cached or not; Anthropic reports the
 * cache reads and writes apart from input_tokens, so they are added back.
 */
export function toOpenAIUsage(usage: AnthropicUsage): JsonObject {
  const cached = tokens(usage.cache_read_input_tokens);
  const prompt = tokens(usage.input_tokens) + cached + tokens(usage.cache_creation_input_tokens);
  const completion = tokens(usage.output_tokens);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Messages API response as a `chat.completion`. */
export function toChatCompletion(message: JsonObject, created = nowSeconds()): JsonObject {
  const blocks = Array.isArray(message.content) ? (message.content as ContentBlock[]) : [];
  const text = blocks
    .filter((block) => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('');
  const toolCalls = blocks
    .filter((block) => block.type === 'tool_use')
    .map((block) => ({
      id: String(block.id),
      type: 'function',
      function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) },
    }));
  const onlyTools = text === '' && toolCalls.length > 0;
  return {
    id: String(message.id),
    object: 'chat.completion',
    created,
    model: String(message.model),
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: onlyTools ? null : text,
          refusal: null,
          ...(toolCalls.length > 0 && { tool_calls: toolCalls }),
        },
        logprobs: null,
        finish_reason: finishReason(message.stop_reason),
      },
    ],
    usage: toOpenAIUsage((message.usage ?? {}) as AnthropicUsage),
  };
}

interface AnthropicModel {
  id?: unknown;
  created_at?: unknown;
}

/** `GET /v1/models` as OpenAI's model list. */
export function toModelList(page: JsonObject): JsonObject {
  const models = Array.isArray(page.data) ? (page.data as AnthropicModel[]) : [];
  return {
    object: 'list',
    data: models.map((model) => {
      const created = Date.parse(String(model.created_at));
      return {
        id: String(model.id),
        object: 'model',
        created: Number.isNaN(created) ? 0 : Math.floor(created / 1000),
        owned_by: 'anthropic',
      };
    }),
  };
}
