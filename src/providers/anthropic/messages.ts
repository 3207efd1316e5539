import { UnsupportedRequestError } from './errors.js';

export type Block = Record<string, unknown>;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

interface OpenAIMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

interface Part {
  type?: unknown;
  text?: unknown;
  refusal?: unknown;
  image_url?: { url?: unknown };
  file?: { file_data?: unknown };
}

/**
 * OpenAI's messages as Anthropic's: system and developer messages become `system`, tool
 * results become user content, and consecutive messages of one role are merged, because
 * Anthropic wants user and assistant turns to alternate.
 */
export function toAnthropicMessages(value: unknown): {
  system: string | null;
  messages: AnthropicMessage[];
} {
  if (!Array.isArray(value))
    throw new UnsupportedRequestError('messages must be an array.', 'messages');
  const system: string[] = [];
  const turns: { role: AnthropicMessage['role']; blocks: Block[] }[] = [];
  (value as OpenAIMessage[]).forEach((message, index) => {
    const at = `messages[${index}]`;
    if (message.role === 'system' || message.role === 'developer') {
      system.push(textOf(message.content, at));
      return;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks = toBlocks(message, at);
    const last = turns.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else turns.push({ role, blocks });
  });
  return {
    system: system.length > 0 ? system.join('\n\n') : null,
    messages: turns.map(({ role, blocks }) => ({ role, content: collapse(blocks) })),
  };
}

function toBlocks(message: OpenAIMessage, at: string): Block[] {
  switch (message.role) {
    case 'user':
      return userBlocks(message.content, `${at}.content`);
    case 'assistant':
      return assistantBlocks(message, at);
    case 'tool':
      return [toolResult(message, at)];
    default:
      throw new UnsupportedRequestError(
        `Messages with role ${String(message.role)} are not supported by this model.`,
        `${at}.role`,
      );
  }
}

/** A lone text block is sent as a plain string, as a hand-written request would be. */
function collapse(blocks: Block[]): string | Block[] {
  const [only] = blocks;
  return blocks.length === 1 && only?.type === 'text' ? String(only.text) : blocks;
}

function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Part[])
    .map((part, index) => {
      if (part.type === 'text' && typeof part.text === 'string') return part.text;
      throw new UnsupportedRequestError(
        'Only text parts are supported here.',
        `${at}.content[${index}]`,
      );
    })
    .join('\n\n');
}

function userBlocks(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return (content as Part[]).map((part, index) => userPart(part, `${at}[${index}]`));
}

function userPart(part: Part, at: string): Block {
  if (part.type === 'text' && typeof part.text === 'string')
    return { type: 'text', text: part.text };
  if (part.type === 'image_url' && typeof part.image_url?.url === 'string') {
    return { type: 'image', source: mediaSource(part.image_url.url, at, 'image') };
  }
  if (part.type === 'file' && typeof part.file?.file_data === 'string') {
    return { type: 'document', source: mediaSource(part.file.file_data, at, 'document') };
  }
  throw new UnsupportedRequestError(
    `Content parts of type ${String(part.type)} are not supported by this model.`,
    at,
  );
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function mediaSource(url: string, at: string, kind: 'image' | 'document'): Block {
  const data = DATA_URL.exec(url);
  if (data) return { type: 'base64', media_type: data[1], data: data[2] };
  if (kind === 'image' && /^https?:\/\//i.test(url)) return { type: 'url', url };
  throw new UnsupportedRequestError(
    kind === 'image'
      ? 'Images must be base64 data: URLs or http(s) URLs.'
      : 'Files must be given inline as base64 data: URLs.',
    at,
  );
}

interface ToolCall {
  id?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}

function assistantBlocks(message: OpenAIMessage, at: string): Block[] {
  const blocks: Block[] = [];
  const toolCalls = Array.isArray(message.tool_calls) ? (message.tool_calls as ToolCall[]) : [];
  const text = assistantText(message.content);
  // Clients send content '' or null beside tool calls; Anthropic rejects empty text blocks.
  if (text !== '' || toolCalls.length === 0) blocks.push({ type: 'text', text });
  toolCalls.forEach((call, index) => {
    const where = `${at}.tool_calls[${index}]`;
    blocks.push({
      type: 'tool_use',
      id: String(call.id),
      name: String(call.function?.name),
      input: toolInput(call.function?.arguments, `${where}.function.arguments`),
    });
  });
  return blocks;
}

function assistantText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Part[])
    .map((part) =>
      typeof part.text === 'string'
        ? part.text
        : typeof part.refusal === 'string'
          ? part.refusal
          : '',
    )
    .join('');
}

function toolInput(args: unknown, at: string): Record<string, unknown> {
  if (args === undefined || args === '') return {};
  try {
    const input: unknown = JSON.parse(String(args));
    if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
      return input as Record<string, unknown>;
    }
  } catch {
    // Falls through to the same refusal as a non-object.
  }
  throw new UnsupportedRequestError('Tool call arguments must be a JSON object.', at);
}

function toolResult(message: OpenAIMessage, at: string): Block {
  const content =
    typeof message.content === 'string'
      ? message.content
      : userBlocks(message.content, `${at}.content`);
  return { type: 'tool_result', tool_use_id: String(message.tool_call_id), content };
}
