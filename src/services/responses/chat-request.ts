import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { chatMessages } from './request.js';

const refuse = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

/**
 * A Responses API request as an OpenAI chat request, so that it goes through the very same
 * admission, routing, caching and accounting as /v1/chat/completions and any provider can
 * serve it. `items` is the whole conversation: earlier turns' items, then this input.
 * `instructions` are this request's only, as OpenAI does not carry them over.
 */
export function toChatRequest(body: JsonObject, items: readonly JsonObject[]): JsonObject {
  for (const field of ['background', 'conversation', 'prompt'] as const)
    if (body[field] !== undefined && body[field] !== null && body[field] !== false)
      throw refuse(`\`${field}\` is not supported by this gateway.`, field);
  const system =
    typeof body.instructions === 'string' && body.instructions !== ''
      ? [{ role: 'system', content: body.instructions }]
      : [];
  const chat: JsonObject = { model: body.model, messages: [...system, ...chatMessages(items)] };
  if (typeof body.max_output_tokens === 'number') chat.max_tokens = body.max_output_tokens;
  for (const field of ['temperature', 'top_p', 'parallel_tool_calls', 'user'] as const)
    if (body[field] !== undefined && body[field] !== null) chat[field] = body[field];
  const effort = (body.reasoning as { effort?: unknown } | null | undefined)?.effort;
  if (typeof effort === 'string') chat.reasoning_effort = effort;
  Object.assign(chat, tooling(body), responseFormat(body));
  if (body.stream === true) {
    // The usage chunk gives response.completed its counts.
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return chat;
}

/** `text.format` as `response_format`: json_schema and json_object; text is the default. */
function responseFormat(body: JsonObject): JsonObject {
  const format = (body.text as { format?: JsonObject | null } | null | undefined)?.format;
  if (format === undefined || format === null || format.type === 'text') return {};
  if (format.type === 'json_object') return { response_format: { type: 'json_object' } };
  if (format.type !== 'json_schema')
    throw refuse(`text.format of type ${String(format.type)} is not supported.`, 'text.format');
  const { type: _type, ...schema } = format;
  return { response_format: { type: 'json_schema', json_schema: schema } };
}

/** Function tools only: built-in tools (web search, file search...) run on OpenAI's side. */
function tooling(body: JsonObject): JsonObject {
  const tools = Array.isArray(body.tools) ? (body.tools as JsonObject[]) : [];
  const chat: JsonObject = {};
  if (tools.length > 0)
    chat.tools = tools.map((tool, index) => {
      if (tool.type !== 'function')
        throw refuse(`Tools of type ${String(tool.type)} are not supported.`, `tools[${index}]`);
      const { type: _type, ...fn } = tool;
      return { type: 'function', function: fn };
    });
  const choice = body.tool_choice;
  if (choice === undefined || choice === null) return chat;
  if (typeof choice === 'string') chat.tool_choice = choice;
  else if ((choice as JsonObject).type === 'function')
    chat.tool_choice = { type: 'function', function: { name: (choice as JsonObject).name } };
  else throw refuse('tool_choice may only name a function tool.', 'tool_choice');
  return chat;
}
