import type { Embeddings } from '@langchain/core/embeddings';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { LangChainProviderConfig } from '../types.js';

export type ChatModelClass = new (fields: Record<string, unknown>) => BaseChatModel;
export type EmbeddingsClass = new (fields: Record<string, unknown>) => Embeddings;

export interface LangChainClasses {
  chat: ChatModelClass | null;
  embeddings: EmbeddingsClass | null;
}

/** The configured package or class cannot be used; the message names both. */
export class LangChainLoadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LangChainLoadError';
  }
}

function exported(
  config: LangChainProviderConfig,
  namespace: Record<string, unknown>,
  name: string,
  method: 'stream' | 'embedDocuments',
): unknown {
  const found = namespace[name];
  const prototype: unknown = typeof found === 'function' ? found.prototype : undefined;
  // Methods, not instanceof: the package may carry its own copy of @langchain/core.
  const usable =
    prototype !== null &&
    typeof prototype === 'object' &&
    typeof (prototype as Record<string, unknown>)[method] === 'function';
  if (!usable) {
    const kind = method === 'stream' ? 'chat model' : 'embeddings';
    throw new LangChainLoadError(
      `provider ${config.id}: module "${config.module}" has no ${kind} class "${name}"`,
    );
  }
  return found;
}

/**
 * Imports the configured package and finds its classes. Called at start-up to fail early on a
 * package that is not installed or a misspelt class, and again (cached by Node) at first use.
 */
export async function loadLangChainClasses(
  config: LangChainProviderConfig,
): Promise<LangChainClasses> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(config.module)) as Record<string, unknown>;
  } catch (error) {
    throw new LangChainLoadError(
      `provider ${config.id}: cannot load module "${config.module}"; is it installed (npm install ${config.module})?`,
      { cause: error },
    );
  }
  const chat =
    config.chatClass === null ? null : exported(config, namespace, config.chatClass, 'stream');
  const embeddings =
    config.embeddingsClass === null
      ? null
      : exported(config, namespace, config.embeddingsClass, 'embedDocuments');
  return { chat: chat as ChatModelClass | null, embeddings: embeddings as EmbeddingsClass | null };
}
