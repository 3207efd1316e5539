import type { Block } from '../../providers/anthropic/messages.js';
import {
  ANTHROPIC_FINISH_REASONS,
  type AnthropicUsage,
} from '../../providers/anthropic/response.js';
import type { JsonObject } from '../../providers/types.js';
import { readUsage, type Usage } from '../inference/usage.js';

/**
 * Anthropic's stop reasons for OpenAI's finish reasons: the provider's table read backwards,
 * the first reason of each finish reason winning (`stop` is `end_turn`).
 */
const STOP_REASONS: Readonly<Record<string, string>> = Object.entries(
  ANTHROPIC_FINISH_REASONS,
).reduce<Record<string, string>>((table, [stop, finish]) => {
  table[finish] ??= stop;
  return table;
}, {});

/**
 * The stop reason of a finish reason. `stop_sequence` needs the upstream to say which
 * sequence matched, as vLLM does in `stop_reason`; OpenAI does not, so it reads `end_turn`.
 */
export function stopReason(
  finish: unknown,
  matched: unknown,
  sequences: readonly string[],
): { stop_reason: string; stop_sequence: string | null } {
  if (finish === 'stop' && typeof matched === 'string' && sequences.includes(matched))
    return { stop_reason: 'stop_sequence', stop_sequence: matched };
  const reason = typeof finish === 'string' ? STOP_REASONS[finish] : undefined;
  // The deprecated function_call is a tool call too.
  return {
    stop_reason: reason ?? (finish === 'function_call' ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
  };
}

/** Anthropic counts cache reads apart from input_tokens; OpenAI counts them in prompt_tokens. */
export function anthropicUsage(
  usage: Usage | null,
): Required<Pick<AnthropicUsage, 'input_tokens' | 'output_tokens' | 'cache_read_input_tokens'>> {
  const cached = usage?.cachedTokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage?.promptTokens ?? 0) - cached),
    output_tokens: usage?.completionTokens ?? 0,
    cache_read_input_tokens: cached,
  };
}

/** An Anthropic message id: Anthropic's own passes as it is, others get its prefix. */
export const messageId = (id: unknown) => {
  const text = typeof id === 'string' && id !== '' ? id : 'unknown';
  return text.startsWith('msg_') ? text : `msg_${text}`;
};

interface ToolCall {
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

/** Tool call arguments as the object Anthropic's tool_use input is; unparsable: empty. */
export function toolInput(args: unknown): JsonObject {
  try {
    const input: unknown = JSON.parse(String(args ?? '{}'));
    if (input !== null && typeof input === 'object' && !Array.isArray(input))
      return input as JsonObject;
  } catch {
    // A model that wrote broken JSON: the call is still reported, with no input.
  }
  return {};
}

/**
 * A `chat.completion` as an Anthropic `message`. `usage` is what the gateway accounted (the
 * upstream's, or estimated when it reported none).
 */
export function toAnthropicMessage(
  completion: JsonObject,
  usage: Usage | null,
  stopSequences: readonly string[],
): JsonObject {
  const choices = Array.isArray(completion.choices) ? (completion.choices as JsonObject[]) : [];
  const choice = choices[0] ?? {};
  const message = (choice.message ?? {}) as { content?: unknown; tool_calls?: unknown };
  const content: Block[] = [];
  if (typeof message.content === 'string' && message.content !== '')
    content.push({ type: 'text', text: message.content });
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as ToolCall[]) : [];
  for (const call of calls) {
    content.push({
      type: 'tool_use',
      id: String(call.id),
      name: String(call.function?.name),
      input: toolInput(call.function?.arguments),
    });
  }
  return {
    id: messageId(completion.id),
    type: 'message',
    role: 'assistant',
    model: completion.model,
    content,
    ...stopReason(choice.finish_reason, choice.stop_reason, stopSequences),
    usage: anthropicUsage(usage ?? readUsage(completion.usage)),
  };
}
