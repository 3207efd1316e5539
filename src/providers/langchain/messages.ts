import {
  AIMessage,
  type BaseMessage,
  type ContentBlock,
  HumanMessage,
  SystemMessage,
  ToolMessage,
} from '@langchain/core/messages';
import { InvalidRequest } from './errors.js';

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Text of a content that may only hold text parts (system, assistant, tool messages). */
function textOnly(content: unknown, param: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new InvalidRequest('Invalid message content.', param);
  return content
    .map((part: unknown) => {
      if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return part.text;
      if (isObject(part) && part.type === 'refusal') return '';
      throw new InvalidRequest('Only text content parts are supported here.', param);
    })
    .join('');
}

/** A user content part in LangChain's standard content-block format. */
function userPart(part: unknown, param: string): ContentBlock.Text | ContentBlock.Multimodal.Image {
  if (isObject(part) && part.type === 'text' && typeof part.text === 'string') {
    return { type: 'text', text: part.text };
  }
  if (isObject(part) && part.type === 'image_url') {
    const image = part.image_url;
    const url = isObject(image) ? image.url : image;
    if (typeof url !== 'string') throw new InvalidRequest('image_url needs a url.', param);
    // Standard block: the integrations read http(s) and data: URLs from `url` themselves.
    return { type: 'image', url };
  }
  const type = isObject(part) ? String(part.type) : typeof part;
  throw new InvalidRequest(`Content parts of type "${type}" are not supported.`, param);
}

function userContent(content: unknown, param: string): string | ContentBlock.Standard[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new InvalidRequest('Invalid message content.', param);
  return content.map((part) => userPart(part, param));
}

interface ToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
  type: 'tool_call';
}

function toolCall(call: unknown, param: string): ToolCall {
  const fn = isObject(call) && isObject(call.function) ? call.function : null;
  if (!isObject(call) || typeof call.id !== 'string' || fn === null || typeof fn.name !== 'string')
    throw new InvalidRequest('Invalid tool call.', param);
  let args: unknown;
  try {
    args =
      fn.arguments === undefined || fn.arguments === '' ? {} : JSON.parse(String(fn.arguments));
  } catch {
    throw new InvalidRequest('Tool call arguments must be a JSON object.', param);
  }
  if (!isObject(args))
    throw new InvalidRequest('Tool call arguments must be a JSON object.', param);
  return { id: call.id, name: fn.name, args, type: 'tool_call' };
}

function assistantMessage(message: Fields, param: string): AIMessage {
  const calls = Array.isArray(message.tool_calls)
    ? message.tool_calls.map((call, index) => toolCall(call, `${param}.tool_calls.${index}`))
    : [];
  return new AIMessage({ content: textOnly(message.content, param), tool_calls: calls });
}

/**
 * OpenAI chat messages to LangChain messages. Tool results carry the called tool's name
 * because some upstreams (Gemini) answer a call by name, not by id.
 */
export function toLangChainMessages(messages: unknown): BaseMessage[] {
  if (!Array.isArray(messages) || messages.length === 0)
    throw new InvalidRequest('messages must be a non-empty array.', 'messages');
  const toolNames = new Map<string, string>();
  return messages.map((message: unknown, index) => {
    const param = `messages.${index}`;
    if (!isObject(message)) throw new InvalidRequest('Invalid message.', param);
    switch (message.role) {
      case 'system':
      case 'developer':
        return new SystemMessage(textOnly(message.content, param));
      case 'user':
        return new HumanMessage({ content: userContent(message.content, param) });
      case 'assistant': {
        const ai = assistantMessage(message, param);
        for (const call of ai.tool_calls ?? []) toolNames.set(call.id ?? '', call.name);
        return ai;
      }
      case 'tool': {
        const id = message.tool_call_id;
        if (typeof id !== 'string') throw new InvalidRequest('tool_call_id is required.', param);
        const name = toolNames.get(id);
        const content = textOnly(message.content, param);
        return new ToolMessage({ content, tool_call_id: id, ...(name && { name }) });
      }
      default:
        throw new InvalidRequest(
          `Messages of role "${String(message.role)}" are not supported.`,
          param,
        );
    }
  });
}
