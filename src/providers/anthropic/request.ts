import type { JsonObject } from '../types.js';
import { UnsupportedRequestError } from './errors.js';
import { type AnthropicMessage, type Block, toAnthropicMessages } from './messages.js';

export interface RequestDefaults {
  /** Anthropic requires max_tokens; used when the client set none. */
  maxTokens: number;
}

export interface AnthropicRequest extends JsonObject {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
}

/**
 * Translates an OpenAI chat request into a Messages API request. Throws
 * UnsupportedRequestError for what would change the answer's meaning if dropped; fields
 * that only tune sampling and have no equivalent (seed, penalties...) are left out.
 */
export function toAnthropicRequest(body: JsonObject, defaults: RequestDefaults): AnthropicRequest {
  refuseUntranslatable(body);
  const { system, messages } = toAnthropicMessages(body.messages);
  const request: AnthropicRequest = {
    model: String(body.model),
    max_tokens: maxTokens(body, defaults),
    messages,
  };
  if (system !== null) request.system = system;
  if (typeof body.temperature === 'number') {
    // OpenAI accepts 0..2, Anthropic rejects anything above 1.
    request.temperature = Math.min(1, Math.max(0, body.temperature));
  }
  if (typeof body.top_p === 'number') request.top_p = body.top_p;
  const stop = stopSequences(body.stop);
  if (stop.length > 0) request.stop_sequences = stop;
  Object.assign(request, tooling(body));
  if (typeof body.user === 'string') request.metadata = { user_id: body.user };
  if (body.stream === true) request.stream = true;
  return request;
}

function refuseUntranslatable(body: JsonObject): void {
  if (typeof body.n === 'number' && body.n !== 1) {
    throw new UnsupportedRequestError('This model returns one choice only: set n to 1.', 'n');
  }
  if (body.logprobs === true || (typeof body.top_logprobs === 'number' && body.top_logprobs > 0)) {
    throw new UnsupportedRequestError('This model does not return log probabilities.', 'logprobs');
  }
  const format = body.response_format as { type?: unknown } | null | undefined;
  if (format != null && format.type !== 'text') {
    throw new UnsupportedRequestError(
      `response_format ${String(format.type)} is not supported by this model; describe the format in the prompt or use a tool.`,
      'response_format',
    );
  }
  const modalities = Array.isArray(body.modalities) ? body.modalities : [];
  if (modalities.includes('audio') || (body.audio !== undefined && body.audio !== null)) {
    throw new UnsupportedRequestError('This model does not produce audio.', 'modalities');
  }
  if (Array.isArray(body.functions) || body.function_call !== undefined) {
    throw new UnsupportedRequestError(
      'The deprecated functions/function_call fields are not supported; use tools.',
      'functions',
    );
  }
}

function maxTokens(body: JsonObject, defaults: RequestDefaults): number {
  for (const value of [body.max_completion_tokens, body.max_tokens]) {
    if (typeof value === 'number') return value;
  }
  return defaults.maxTokens;
}

function stopSequences(stop: unknown): string[] {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop)) return stop.filter((item): item is string => typeof item === 'string');
  return [];
}

interface OpenAITool {
  type?: unknown;
  function?: { name?: unknown; description?: unknown; parameters?: unknown };
}

/** `tools`, `tool_choice` and `parallel_tool_calls`, which Anthropic folds into tool_choice. */
function tooling(body: JsonObject): JsonObject {
  if (!Array.isArray(body.tools) || body.tools.length === 0) return {};
  const tools = (body.tools as OpenAITool[]).map((tool, index): Block => {
    if (tool.type !== 'function' || typeof tool.function?.name !== 'string') {
      throw new UnsupportedRequestError(
        'Only function tools are supported by this model.',
        `tools[${index}]`,
      );
    }
    const { name, description, parameters } = tool.function;
    return {
      name,
      ...(typeof description === 'string' && { description }),
      input_schema: parameters ?? { type: 'object', properties: {} },
    };
  });
  const parallel = body.parallel_tool_calls !== false;
  // Anthropic's default is auto, so a request that says nothing sends nothing.
  if ((body.tool_choice === undefined || body.tool_choice === null) && parallel) return { tools };
  const choice = toolChoice(body.tool_choice);
  if (!parallel && choice.type !== 'none') choice.disable_parallel_tool_use = true;
  return { tools, tool_choice: choice };
}

function toolChoice(choice: unknown): Block {
  if (choice === undefined || choice === null || choice === 'auto') return { type: 'auto' };
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any' };
  const named = choice as { type?: unknown; function?: { name?: unknown } };
  if (named.type === 'function' && typeof named.function?.name === 'string') {
    return { type: 'tool', name: named.function.name };
  }
  throw new UnsupportedRequestError('This tool_choice is not supported.', 'tool_choice');
}
