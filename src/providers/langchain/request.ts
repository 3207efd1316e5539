import type { JsonObject } from '../types.js';
import { InvalidRequest } from './errors.js';

type Fields = Record<string, unknown>;

const isObject = (value: unknown): value is Fields =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Refuses what LangChain cannot give rather than answering as if it had: several choices,
 * log probabilities, structured output formats.
 */
export function refuseUnsupported(body: JsonObject): void {
  if (body.n !== undefined && body.n !== null && body.n !== 1)
    throw new InvalidRequest('Only n=1 is supported for this model.', 'n');
  if (body.logprobs === true || (body.top_logprobs !== undefined && body.top_logprobs !== null))
    throw new InvalidRequest('logprobs are not supported for this model.', 'logprobs');
  const format = body.response_format;
  if (isObject(format) && format.type !== 'text')
    throw new InvalidRequest('response_format is not supported for this model.', 'response_format');
}

function number(body: JsonObject, name: string, min: number, max: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || value < min || value > max)
    throw new InvalidRequest(`${name} must be a number from ${min} to ${max}.`, name);
  return value;
}

function maxTokens(body: JsonObject): number | undefined {
  const name = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (!Number.isInteger(value) || (value as number) < 1)
    throw new InvalidRequest(`${name} must be a positive integer.`, name);
  return value as number;
}

function stop(body: JsonObject): string[] | undefined {
  const value = body.stop;
  if (value === undefined || value === null) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string'))
    throw new InvalidRequest('stop must be a string or an array of strings.', 'stop');
  return list.length > 0 ? list : undefined;
}

/** The sampling parameters of a request, validated as OpenAI would. */
export interface Sampling {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  stop?: string[];
}

export function readSampling(body: JsonObject): Sampling {
  const sampling: Sampling = {
    temperature: number(body, 'temperature', 0, 2),
    topP: number(body, 'top_p', 0, 1),
    maxTokens: maxTokens(body),
    stop: stop(body),
  };
  for (const key of Object.keys(sampling) as (keyof Sampling)[])
    if (sampling[key] === undefined) delete sampling[key];
  return sampling;
}

export interface ToolBinding {
  tools: JsonObject[];
  /** LangChain's tool_choice: 'auto', 'any', 'none' or a tool name. */
  toolChoice: string | undefined;
  parallelToolCalls: boolean | undefined;
}

function toolChoice(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === 'auto' || value === 'none') return value;
  if (value === 'required') return 'any';
  const fn = isObject(value) && isObject(value.function) ? value.function : null;
  if (fn !== null && typeof fn.name === 'string') return fn.name;
  throw new InvalidRequest('Invalid tool_choice.', 'tool_choice');
}

/** OpenAI function tools, passed on as they are: bindTools accepts OpenAI's format. */
export function readTools(body: JsonObject): ToolBinding | null {
  const tools = body.tools;
  if (tools === undefined || tools === null || (Array.isArray(tools) && tools.length === 0))
    return null;
  if (!Array.isArray(tools)) throw new InvalidRequest('tools must be an array.', 'tools');
  tools.forEach((tool: unknown, index) => {
    const fn = isObject(tool) && isObject(tool.function) ? tool.function : null;
    if (!isObject(tool) || tool.type !== 'function' || fn === null || typeof fn.name !== 'string')
      throw new InvalidRequest('Only function tools are supported.', `tools.${index}`);
  });
  const parallel = body.parallel_tool_calls;
  return {
    tools: tools as JsonObject[],
    toolChoice: toolChoice(body.tool_choice),
    parallelToolCalls: typeof parallel === 'boolean' ? parallel : undefined,
  };
}

/**
 * Anthropic turns off parallel tool use inside tool_choice. Others get OpenAI's
 * `parallel_tool_calls` call option, which integrations without the feature ignore.
 */
export function bindToolsKwargs(binding: ToolBinding, llmType: string): JsonObject {
  const { toolChoice: choice, parallelToolCalls } = binding;
  if (parallelToolCalls !== false || choice === 'none')
    return choice ? { tool_choice: choice } : {};
  if (llmType === 'anthropic') {
    const anthropic =
      choice === undefined || choice === 'auto'
        ? { type: 'auto' }
        : choice === 'any'
          ? { type: 'any' }
          : { type: 'tool', name: choice };
    return { tool_choice: { ...anthropic, disable_parallel_tool_use: true } };
  }
  return { ...(choice && { tool_choice: choice }), parallel_tool_calls: false };
}
