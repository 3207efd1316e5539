import { GatewayError } from '../../errors/gateway-error.js';
import type { JsonObject } from '../../providers/types.js';
import { newId } from '../../utils/ids.js';
import { textPart } from './response.js';

type Item = JsonObject;

const refuse = (message: string, param: string) =>
  new GatewayError('invalid_request', { message, param });

const ROLES = new Set(['user', 'system', 'developer', 'assistant']);

/**
 * The request's `input` as Responses API items, each with an id: what is stored, listed by
 * `input_items`, and sent again on the next turn. Item kinds the gateway cannot translate
 * for a chat upstream (file ids, built-in tool calls, item references) are refused here.
 */
export function inputItems(input: unknown): Item[] {
  if (typeof input === 'string') return [message('user', [{ type: 'input_text', text: input }])];
  if (!Array.isArray(input)) throw refuse('`input` must be a string or a list of items.', 'input');
  return (input as Item[]).map((item, index) => inputItem(item, `input[${index}]`));
}

function message(role: string, content: Item[], id?: unknown): Item {
  return {
    id: typeof id === 'string' ? id : newId('msg'),
    type: 'message',
    role,
    content,
    status: 'completed',
  };
}

function inputItem(item: Item, at: string): Item {
  const type = item.type ?? 'message';
  if (type === 'message') {
    if (typeof item.role !== 'string' || !ROLES.has(item.role))
      throw refuse(`${at}.role must be one of user, system, developer, assistant.`, `${at}.role`);
    const content =
      typeof item.content !== 'string'
        ? item.content
        : item.role === 'assistant'
          ? [textPart(item.content)]
          : [{ type: 'input_text', text: item.content }];
    if (!Array.isArray(content)) throw refuse(`${at}.content must be a string or a list.`, at);
    (content as Item[]).forEach((part, index) => {
      checkPart(part, `${at}.content[${index}]`);
    });
    return message(item.role, content as Item[], item.id);
  }
  if (type === 'function_call') {
    if (typeof item.call_id !== 'string' || typeof item.name !== 'string')
      throw refuse(`${at}: a function_call needs call_id and name.`, at);
    return {
      id: typeof item.id === 'string' ? item.id : newId('fc'),
      type,
      call_id: item.call_id,
      name: item.name,
      arguments: typeof item.arguments === 'string' ? item.arguments : '{}',
      status: 'completed',
    };
  }
  if (type === 'function_call_output') {
    if (typeof item.call_id !== 'string')
      throw refuse(`${at}: a function_call_output needs call_id.`, `${at}.call_id`);
    return {
      id: typeof item.id === 'string' ? item.id : newId('fco'),
      type,
      call_id: item.call_id,
      output: item.output ?? '',
      status: 'completed',
    };
  }
  // The model's own reasoning, sent back: kept in the conversation, not sent upstream.
  if (type === 'reasoning') return item;
  throw refuse(`Input items of type ${String(type)} are not supported.`, `${at}.type`);
}

const PARTS = new Set(['input_text', 'output_text', 'refusal', 'input_image', 'input_file']);

function checkPart(part: Item, at: string): void {
  if (!PARTS.has(String(part?.type)))
    throw refuse(`Content parts of type ${String(part?.type)} are not supported.`, `${at}.type`);
  if (part.type === 'input_image' && typeof part.image_url !== 'string')
    throw refuse('Images need an image_url (a URL or a data URL); file ids are not supported.', at);
  if (part.type === 'input_file' && typeof part.file_data !== 'string')
    throw refuse('Files need file_data; file ids and URLs are not supported.', at);
}

/** Items as chat messages: function calls join the assistant turn before them. */
export function chatMessages(items: readonly Item[]): JsonObject[] {
  const messages: JsonObject[] = [];
  for (const item of items) {
    if (item.type === 'message') messages.push(chatMessage(item));
    else if (item.type === 'function_call') {
      const call = {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
      const last = messages.at(-1);
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls))
        (last.tool_calls as JsonObject[]).push(call);
      else if (last?.role === 'assistant') last.tool_calls = [call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (item.type === 'function_call_output')
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: outputText(item.output) });
  }
  return messages;
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) return JSON.stringify(output);
  return (output as Item[])
    .map((part) => (typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function chatMessage(item: Item): JsonObject {
  const parts = item.content as Item[];
  // Most chat servers know no `developer` role: it is the system prompt by another name.
  const role = item.role === 'developer' ? 'system' : item.role;
  if (role !== 'user') {
    const text = parts
      .map((part) => (part.type === 'refusal' ? part.refusal : part.text))
      .filter((text) => typeof text === 'string')
      .join('');
    return { role, content: text };
  }
  const content = parts.map(userPart);
  const [only] = content;
  return { role, content: content.length === 1 && only?.type === 'text' ? only.text : content };
}

function userPart(part: Item): JsonObject {
  if (part.type === 'input_image')
    return {
      type: 'image_url',
      image_url: {
        url: part.image_url,
        ...(typeof part.detail === 'string' && { detail: part.detail }),
      },
    };
  if (part.type === 'input_file')
    return {
      type: 'file',
      file: {
        file_data: part.file_data,
        ...(typeof part.filename === 'string' && { filename: part.filename }),
      },
    };
  return { type: 'text', text: String(part.text ?? '') };
}
