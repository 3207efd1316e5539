import type { JsonObject } from '../../providers/types.js';
import { newId } from '../../utils/ids.js';
import { readUsage, type Usage } from '../inference/usage.js';

/**
 * What a response says about its request, known before the model answers: the same in
 * response.created, in the final response and in the stored one.
 */
export function responseShell(id: string, body: JsonObject, createdAt: number): JsonObject {
  const text = (body.text as JsonObject | null | undefined) ?? { format: { type: 'text' } };
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model,
    output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: body.reasoning ?? { effort: null, summary: null },
    store: body.store !== false,
    temperature: body.temperature ?? 1,
    text,
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    // OpenAI's schema has no null for these: left out until known.
    ...(typeof body.user === 'string' && { user: body.user }),
    metadata: body.metadata ?? {},
  };
}

/** OpenAI's Responses usage from the gateway's count. */
export function responseUsage(usage: Usage | null, reasoningTokens = 0): JsonObject {
  const input = usage?.promptTokens ?? 0;
  const output = usage?.completionTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: usage?.cachedTokens ?? 0, cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: usage?.totalTokens ?? input + output,
  };
}

/** Reasoning tokens, which only the upstream's own usage object reports. */
export function reasoningTokens(usage: unknown): number {
  const details = (usage as { completion_tokens_details?: { reasoning_tokens?: unknown } } | null)
    ?.completion_tokens_details;
  return typeof details?.reasoning_tokens === 'number' ? details.reasoning_tokens : 0;
}

/** A finish reason as a response's status and its incomplete_details. */
export function finishStatus(finish: unknown): JsonObject {
  if (finish === 'length')
    return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finish === 'content_filter')
    return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

export const textPart = (text: string): JsonObject => ({
  type: 'output_text',
  text,
  annotations: [],
  logprobs: [],
});

/** The reasoning text some servers send beside the answer (vLLM, DeepSeek, OpenRouter). */
export function reasoningOf(message: { reasoning_content?: unknown; reasoning?: unknown }) {
  const text = message.reasoning_content ?? message.reasoning;
  return typeof text === 'string' && text !== '' ? text : null;
}

interface ChatMessage {
  content?: unknown;
  refusal?: unknown;
  reasoning_content?: unknown;
  reasoning?: unknown;
  tool_calls?: { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[];
}

/** A chat message as output items: reasoning summary, message, then function calls. */
function outputItems(message: ChatMessage, status: string): JsonObject[] {
  const items: JsonObject[] = [];
  const reasoning = reasoningOf(message);
  if (reasoning !== null)
    items.push({
      id: newId('rs'),
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: reasoning }],
    });
  const content: JsonObject[] = [];
  if (typeof message.content === 'string' && message.content !== '')
    content.push(textPart(message.content));
  if (typeof message.refusal === 'string' && message.refusal !== '')
    content.push({ type: 'refusal', refusal: message.refusal });
  if (content.length > 0)
    items.push({ id: newId('msg'), type: 'message', role: 'assistant', status, content });
  for (const call of message.tool_calls ?? [])
    items.push({
      id: newId('fc'),
      type: 'function_call',
      call_id: String(call.id ?? newId('call')),
      name: String(call.function?.name ?? ''),
      arguments: String(call.function?.arguments ?? ''),
      status: 'completed',
    });
  return items;
}

/** A `chat.completion` as a finished Responses API response over its shell. */
export function toResponse(
  shell: JsonObject,
  completion: JsonObject,
  usage: Usage | null,
  completedAt: number,
): JsonObject {
  const choices = Array.isArray(completion.choices) ? (completion.choices as JsonObject[]) : [];
  const choice = choices[0] ?? {};
  const finish = finishStatus(choice.finish_reason);
  const message = (choice.message ?? {}) as ChatMessage;
  return {
    ...shell,
    ...finish,
    model: typeof completion.model === 'string' ? completion.model : shell.model,
    completed_at: finish.status === 'completed' ? completedAt : null,
    output: outputItems(message, finish.status === 'completed' ? 'completed' : 'incomplete'),
    usage: responseUsage(usage ?? readUsage(completion.usage), reasoningTokens(completion.usage)),
  };
}
