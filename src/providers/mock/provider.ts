import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CallContext,
  ChunkStream,
  JsonObject,
  MockProviderConfig,
  Provider,
} from '../types.js';
import {
  lastUserText,
  mockEmbedding,
  mockReply,
  mockTokenCount,
  mockTokens,
  toBase64Floats,
} from './text.js';

interface Choice {
  tokens: string[];
  finishReason: 'stop' | 'length';
  toolName: string | null;
}

/**
 * Deterministic replies with configurable latency and token rate, for demos and load tests.
 * It answers in OpenAI's wire format, so everything downstream runs as with a real upstream.
 */
export class MockProvider implements Provider {
  readonly id: string;

  constructor(private readonly config: MockProviderConfig) {
    this.id = config.id;
  }

  async chatCompletion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    const choices = this.choices(body, lastUserText(body.messages));
    await this.wait(this.config.latencyMs, ctx);
    return {
      id: `chatcmpl-${ctx.requestId}`,
      object: 'chat.completion',
      created: now(),
      model: body.model,
      system_fingerprint: 'mock',
      choices: choices.map((choice, index) => ({
        index,
        message: chatMessage(choice, index),
        logprobs: null,
        finish_reason: choice.toolName === null ? choice.finishReason : 'tool_calls',
      })),
      usage: usage(mockTokenCount(body.messages), choices),
    };
  }

  async chatCompletionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const choices = this.choices(body, lastUserText(body.messages));
    const base = {
      id: `chatcmpl-${ctx.requestId}`,
      object: 'chat.completion.chunk',
      created: now(),
      model: body.model,
      system_fingerprint: 'mock',
    };
    const frames = choices.flatMap((choice, index) => {
      const first =
        choice.toolName === null
          ? { role: 'assistant', content: '' }
          : {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  index: 0,
                  id: `call_${index}`,
                  type: 'function',
                  function: { name: choice.toolName, arguments: '' },
                },
              ],
            };
      const deltas: JsonObject[] = [first];
      for (const token of choice.tokens) {
        deltas.push(
          choice.toolName === null
            ? { content: token }
            : { tool_calls: [{ index: 0, function: { arguments: token } }] },
        );
      }
      const finish = choice.toolName === null ? choice.finishReason : 'tool_calls';
      return [
        ...deltas.map((delta) => ({ index, delta, logprobs: null, finish_reason: null })),
        { index, delta: {}, logprobs: null, finish_reason: finish },
      ];
    });
    const promptTokens = mockTokenCount(body.messages);
    return this.emit(base, frames, usage(promptTokens, choices), wantsUsage(body), ctx);
  }

  async completion(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    const choices = this.choices(body, promptText(body.prompt));
    await this.wait(this.config.latencyMs, ctx);
    return {
      id: `cmpl-${ctx.requestId}`,
      object: 'text_completion',
      created: now(),
      model: body.model,
      choices: choices.map((choice, index) => ({
        index,
        text: choice.tokens.join(''),
        logprobs: null,
        finish_reason: choice.finishReason,
      })),
      usage: usage(mockTokenCount(body.prompt), choices),
    };
  }

  async completionStream(body: JsonObject, ctx: CallContext): Promise<ChunkStream> {
    const choices = this.choices(body, promptText(body.prompt));
    const base = {
      id: `cmpl-${ctx.requestId}`,
      object: 'text_completion',
      created: now(),
      model: body.model,
    };
    const frames = choices.flatMap((choice, index) => [
      ...choice.tokens.map((text) => ({ index, text, logprobs: null, finish_reason: null })),
      { index, text: '', logprobs: null, finish_reason: choice.finishReason },
    ]);
    return this.emit(
      base,
      frames,
      usage(mockTokenCount(body.prompt), choices),
      wantsUsage(body),
      ctx,
    );
  }

  async embeddings(body: JsonObject, ctx: CallContext): Promise<JsonObject> {
    await this.wait(this.config.latencyMs, ctx);
    const inputs = embeddingInputs(body.input);
    const dimensions =
      typeof body.dimensions === 'number' ? body.dimensions : this.config.embeddingDimensions;
    const base64 = body.encoding_format === 'base64';
    const promptTokens = mockTokenCount(inputs);
    return {
      object: 'list',
      model: body.model,
      data: inputs.map((input, index) => {
        const vector = mockEmbedding(input, dimensions);
        return { object: 'embedding', index, embedding: base64 ? toBase64Floats(vector) : vector };
      }),
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
  }

  async listModels(): Promise<JsonObject> {
    return { object: 'list', data: [] };
  }

  async close(): Promise<void> {}

  private choices(body: JsonObject, prompt: string): Choice[] {
    const n = typeof body.n === 'number' && body.n > 0 ? Math.min(body.n, 128) : 1;
    const limit = maxTokens(body);
    const toolName = forcedTool(body);
    return Array.from({ length: n }, (_, index) => {
      const text =
        toolName === null
          ? mockReply(String(body.model), prompt, index)
          : JSON.stringify({ prompt: prompt.slice(0, 80) });
      const all = toolName === null ? mockTokens(text) : (text.match(/.{1,8}/gs) ?? []);
      const truncated = limit !== null && all.length > limit;
      return {
        tokens: truncated ? all.slice(0, limit) : all,
        finishReason: truncated ? 'length' : 'stop',
        toolName,
      };
    });
  }

  private async *emit(
    base: JsonObject,
    frames: JsonObject[],
    totals: JsonObject,
    includeUsage: boolean,
    ctx: CallContext,
  ): ChunkStream {
    await this.wait(this.config.latencyMs, ctx);
    const gap = this.config.tokensPerSecond > 0 ? 1000 / this.config.tokensPerSecond : 0;
    const extra = includeUsage ? { usage: null } : {};
    for (const [position, frame] of frames.entries()) {
      if (position > 0) await this.wait(gap, ctx);
      yield JSON.stringify({ ...base, choices: [frame], ...extra });
    }
    if (includeUsage) yield JSON.stringify({ ...base, choices: [], usage: totals });
  }

  private async wait(ms: number, ctx: CallContext): Promise<void> {
    ctx.signal.throwIfAborted();
    if (ms > 0) await sleep(ms, undefined, { signal: ctx.signal });
  }
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function chatMessage(choice: Choice, index: number): JsonObject {
  if (choice.toolName === null)
    return { role: 'assistant', content: choice.tokens.join(''), refusal: null };
  return {
    role: 'assistant',
    content: null,
    refusal: null,
    tool_calls: [
      {
        id: `call_${index}`,
        type: 'function',
        function: { name: choice.toolName, arguments: choice.tokens.join('') },
      },
    ],
  };
}

function usage(promptTokens: number, choices: Choice[]): JsonObject {
  const completionTokens = choices.reduce((sum, choice) => sum + choice.tokens.length, 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  };
}

function wantsUsage(body: JsonObject): boolean {
  const options = body.stream_options as { include_usage?: unknown } | null | undefined;
  return options?.include_usage === true;
}

function maxTokens(body: JsonObject): number | null {
  const value = body.max_completion_tokens ?? body.max_tokens;
  return typeof value === 'number' && value >= 0 ? value : null;
}

/** The function the client forces with tool_choice, if any: the mock then "calls" it. */
function forcedTool(body: JsonObject): string | null {
  const tools = Array.isArray(body.tools)
    ? (body.tools as { function?: { name?: unknown } }[])
    : [];
  const choice = body.tool_choice as { function?: { name?: unknown } } | string | undefined;
  if (typeof choice === 'object' && choice !== null && typeof choice.function?.name === 'string')
    return choice.function.name;
  const first = tools[0]?.function?.name;
  return choice === 'required' && typeof first === 'string' ? first : null;
}

function promptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (Array.isArray(prompt) && typeof prompt[0] === 'string') return prompt[0];
  return '';
}

function embeddingInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [];
  if (input.every((item) => typeof item === 'number')) return [JSON.stringify(input)];
  return input.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
}
