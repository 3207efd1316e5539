import { randomUUID } from 'node:crypto';
import type { UsageMetadata } from '@langchain/core/messages';
import { ANTHROPIC_FINISH_REASONS } from '../anthropic/response.js';
import type { JsonObject } from '../types.js';

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** What the bridge reads from an AIMessage or AIMessageChunk. */
export interface ModelOutput {
  content: unknown;
  tool_calls?: { id?: string; name: string; args: Record<string, unknown> }[];
  invalid_tool_calls?: { id?: string; name?: string; args?: string }[];
  usage_metadata?: UsageMetadata;
  response_metadata?: Fields;
  additional_kwargs?: Fields;
}

export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** The visible text: string content, or the text blocks of block content (not thinking). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const block of content) {
    if (typeof block === 'string') text += block;
    else if (isObject(block) && block.type === 'text' && typeof block.text === 'string')
      text += block.text;
  }
  return text;
}

const REASONS: Record<string, FinishReason> = {
  // Anthropic, and Bedrock Converse which uses its names
  ...ANTHROPIC_FINISH_REASONS,
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
  // Gemini
  stop: 'stop',
  safety: 'content_filter',
  recitation: 'content_filter',
  blocklist: 'content_filter',
  prohibited_content: 'content_filter',
  spii: 'content_filter',
  image_safety: 'content_filter',
  // OpenAI-style integrations (and Ollama's done_reason)
  length: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
};

/** The upstream's own finish reason, wherever its integration put it; null when none. */
export function rawFinishReason(
  output: Pick<ModelOutput, 'response_metadata' | 'additional_kwargs'>,
): string | null {
  for (const source of [output.response_metadata, output.additional_kwargs]) {
    if (!isObject(source)) continue;
    const nested = isObject(source.messageStop) ? source.messageStop.stopReason : undefined;
    for (const value of [
      source.finish_reason,
      source.stop_reason,
      source.stopReason,
      source.finishReason,
      source.done_reason,
      nested,
    ]) {
      if (typeof value === 'string' && value !== '') return value;
    }
  }
  return null;
}

/**
 * OpenAI's finish reason for an upstream's. Unknown reasons read as `stop`; a reply with tool
 * calls that ended normally reads as `tool_calls`, whatever the upstream called it.
 */
export function finishReason(raw: string | null, hasToolCalls: boolean): FinishReason {
  const mapped = raw === null ? 'stop' : (REASONS[raw.toLowerCase()] ?? 'stop');
  return hasToolCalls && mapped === 'stop' ? 'tool_calls' : mapped;
}

export function openAIUsage(usage: UsageMetadata): JsonObject {
  const cached = usage.input_token_details?.cache_read;
  const reasoning = usage.output_token_details?.reasoning;
  return {
    prompt_tokens: usage.input_tokens,
    completion_tokens: usage.output_tokens,
    total_tokens: usage.input_tokens + usage.output_tokens,
    ...(cached !== undefined && { prompt_tokens_details: { cached_tokens: cached } }),
    ...(reasoning !== undefined && { completion_tokens_details: { reasoning_tokens: reasoning } }),
  };
}

export const toolCallId = () => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;

function openAIToolCalls(output: ModelOutput): JsonObject[] {
  const valid = (output.tool_calls ?? []).map((call) => ({
    id: call.id || toolCallId(),
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  }));
  // Arguments LangChain could not parse still go out as the model wrote them, as OpenAI does.
  const invalid = (output.invalid_tool_calls ?? []).map((call) => ({
    id: call.id || toolCallId(),
    type: 'function',
    function: { name: call.name ?? '', arguments: call.args ?? '' },
  }));
  return [...valid, ...invalid];
}

/** A finished AIMessage as an OpenAI `chat.completion`. */
export function toChatCompletion(output: ModelOutput, identity: CompletionIdentity): JsonObject {
  const toolCalls = openAIToolCalls(output);
  const text = contentText(output.content);
  const message: JsonObject = {
    role: 'assistant',
    content: text === '' && toolCalls.length > 0 ? null : text,
    refusal: null,
    ...(toolCalls.length > 0 && { tool_calls: toolCalls }),
  };
  return {
    id: identity.id,
    object: 'chat.completion',
    created: identity.created,
    model: identity.model,
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: finishReason(rawFinishReason(output), toolCalls.length > 0),
      },
    ],
    ...(output.usage_metadata && { usage: openAIUsage(output.usage_metadata) }),
  };
}

/**
 * Gemini's integration throws EmptyContentError when a reply has no content (a safety block,
 * a prompt blocked, a thinking budget spent): OpenAI answers those with an empty message and
 * a finish reason, so the bridge does too.
 */
export function emptyContentReply(error: unknown): ModelOutput | null {
  if (!isObject(error) || error.name !== 'EmptyContentError') return null;
  const { finishReason: finish, blockReason } = error;
  const reason = typeof blockReason === 'string' ? 'SAFETY' : finish;
  return { content: '', response_metadata: { finishReason: reason ?? 'SAFETY' } };
}
