import { GatewayError } from '../../errors/gateway-error.js';
import type { Block } from '../../providers/anthropic/messages.js';
import type { JsonObject } from '../../providers/types.js';

/**
 * Anthropic's Messages API request as an OpenAI chat request, so that it goes through the
 * very same admission, routing, caching and accounting as /v1/chat/completions and any
 * provider can serve it. The schema has checked the shape; what it cannot (block types, tool
 * kinds) is refused here, with the path of the offending field.
 */
export function toChatRequest(body: JsonObject): JsonObject {
  // Anthropic's code execution container: nothing but Anthropic can run it.
  if (body.container !== undefined && body.container !== null)
    throw refuse('Code execution containers are not supported.', 'container');
  const chat: JsonObject = {
    model: body.model,
    messages: [...systemMessages(body.system), ...chatMessages(body.messages)],
  };
  if (typeof body.max_tokens === 'number') chat.max_tokens = body.max_tokens;
  for (const field of ['temperature', 'top_p'] as const)
    if (typeof body[field] === 'number') chat[field] = body[field];
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0)
    chat.stop = body.stop_sequences;
  Object.assign(chat, tooling(body));
  const format = (body.output_config as { format?: JsonObject | null } | undefined)?.format;
  if (format?.type === 'json_schema')
    chat.response_format = {
      type: 'json_schema',
      json_schema: { name: 'output', schema: format.schema, strict: true },
    };
  const user = (body.metadata as { user_id?: unknown } | null | undefined)?.user_id;
  if (typeof user === 'string' && user !== '') chat.user = user;
  if (body.stream === true) {
    // The usage chunk gives message_delta its counts; the relay hides nothing from us.
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return chat;
}

// Anthropic's error shape has no `param`: the message names the field, as Anthropic's do.
const refuse = (message: string, param: string) =>
  new GatewayError('invalid_request', { message: `${param}: ${message}`, param });

function systemMessages(system: unknown): JsonObject[] {
  if (system === undefined || system === null) return [];
  const text =
    typeof system === 'string' ? system : textBlocks(system as Block[], 'system').join('\n\n');
  return text === '' ? [] : [{ role: 'system', content: text }];
}

function textBlocks(blocks: Block[], at: string): string[] {
  return blocks.map((block, index) => {
    if (block.type === 'text' && typeof block.text === 'string') return block.text;
    throw refuse('Only text blocks are supported here.', `${at}[${index}]`);
  });
}

interface AnthropicTurn {
  role?: unknown;
  content?: unknown;
}

function chatMessages(messages: unknown): JsonObject[] {
  const turns = Array.isArray(messages) ? (messages as AnthropicTurn[]) : [];
  return turns.flatMap((turn, index) => {
    const at = `messages[${index}].content`;
    const blocks: Block[] =
      typeof turn.content === 'string'
        ? [{ type: 'text', text: turn.content }]
        : ((turn.content ?? []) as Block[]);
    return turn.role === 'assistant' ? [assistantMessage(blocks, at)] : userMessages(blocks, at);
  });
}

/** Text joined, tool_use blocks as tool_calls; thinking blocks are the model's own, dropped. */
function assistantMessage(blocks: Block[], at: string): JsonObject {
  let text = '';
  const calls: JsonObject[] = [];
  for (const block of blocks) {
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'tool_use' && typeof block.id === 'string') {
      calls.push({
        id: block.id,
        type: 'function',
        function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) },
      });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking')
      throw refuse(`Assistant blocks of type ${String(block.type)} are not supported.`, at);
  }
  if (calls.length === 0) return { role: 'assistant', content: text };
  return { role: 'assistant', content: text === '' ? null : text, tool_calls: calls };
}

/**
 * A user turn: its tool results first, each an OpenAI `tool` message (they must follow the
 * assistant's tool calls directly), then what else the turn says as one user message.
 */
function userMessages(blocks: Block[], at: string): JsonObject[] {
  const tools: JsonObject[] = [];
  const parts: JsonObject[] = [];
  blocks.forEach((block, index) => {
    const where = `${at}[${index}]`;
    if (block.type === 'tool_result') tools.push(toolMessage(block, where));
    else parts.push(userPart(block, where));
  });
  if (parts.length === 0) return tools;
  const [only] = parts;
  // A lone text part is sent as a plain string, as most OpenAI clients write it.
  const content = parts.length === 1 && only?.type === 'text' ? only.text : parts;
  return [...tools, { role: 'user', content }];
}

function userPart(block: Block, at: string): JsonObject {
  if (block.type === 'text') {
    if (typeof block.text === 'string') return { type: 'text', text: block.text };
    throw refuse('Text blocks need a string text.', `${at}.text`);
  }
  const source = (block.source ?? {}) as Block;
  if (block.type === 'image') {
    if (source.type === 'base64' && typeof source.data === 'string')
      return { type: 'image_url', image_url: { url: dataUrl(source) } };
    if (source.type === 'url' && typeof source.url === 'string')
      return { type: 'image_url', image_url: { url: source.url } };
    throw refuse('Images must have a base64 or url source.', `${at}.source`);
  }
  if (block.type === 'document' && source.type === 'base64' && typeof source.data === 'string')
    return { type: 'file', file: { file_data: dataUrl(source) } };
  throw refuse(`Content blocks of type ${String(block.type)} are not supported.`, at);
}

const dataUrl = (source: Block) => `data:${String(source.media_type)};base64,${source.data}`;

/** An error result keeps its text; OpenAI has no flag for it, so the text says so. */
function toolMessage(block: Block, at: string): JsonObject {
  const content = block.content;
  let text =
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? textBlocks(content as Block[], `${at}.content`).join('\n\n')
        : '';
  if (block.is_error === true) text = `Error: ${text}`;
  return { role: 'tool', tool_call_id: String(block.tool_use_id), content: text };
}

/** `tools` and `tool_choice`; `disable_parallel_tool_use` is OpenAI's parallel_tool_calls. */
function tooling(body: JsonObject): JsonObject {
  const tools = Array.isArray(body.tools) ? (body.tools as Block[]) : [];
  if (tools.length === 0) return {};
  const chat: JsonObject = {
    tools: tools.map((tool, index) => {
      // Anthropic's server tools (web search, code execution...) run on Anthropic's side.
      if (tool.type !== undefined && tool.type !== 'custom')
        throw refuse(`Tools of type ${String(tool.type)} are not supported.`, `tools[${index}]`);
      return {
        type: 'function',
        function: {
          name: tool.name,
          ...(typeof tool.description === 'string' && { description: tool.description }),
          parameters: tool.input_schema,
        },
      };
    }),
  };
  const choice = body.tool_choice as Block | undefined;
  if (choice === undefined || choice === null) return chat;
  if (choice.type === 'auto') chat.tool_choice = 'auto';
  else if (choice.type === 'any') chat.tool_choice = 'required';
  else if (choice.type === 'none') chat.tool_choice = 'none';
  else if (typeof choice.name !== 'string')
    throw refuse("tool_choice of type 'tool' needs the tool's name.", 'tool_choice.name');
  else chat.tool_choice = { type: 'function', function: { name: choice.name } };
  if (choice.disable_parallel_tool_use === true && choice.type !== 'none')
    chat.parallel_tool_calls = false;
  return chat;
}
