import type { ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';

export type Capability = 'chat' | 'completions' | 'embeddings';

/** Model names a key is limited to; null for no limit. */
export type Allowed = readonly string[] | null;

function permits(allowed: Allowed, name: string): boolean {
  return allowed === null || allowed.includes(name);
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** The public models of the config file, by the name clients send. */
export class ModelCatalog {
  private readonly byName: ReadonlyMap<string, ModelConfig>;

  constructor(models: readonly ModelConfig[]) {
    this.byName = new Map(models.map((model) => [model.name, model]));
  }

  /** The models a caller may use: all of them, or those its key allows. */
  list(allowed: Allowed = null): ModelObject[] {
    return [...this.byName.values()]
      .filter((model) => permits(allowed, model.name))
      .map(toModelObject);
  }

  get(name: string, allowed: Allowed = null): ModelObject {
    const model = this.byName.get(name);
    if (model === undefined || !permits(allowed, name)) throw modelNotFound(name);
    return toModelObject(model);
  }

  /** The model to serve a request; the error says why when there is none. */
  resolve(name: string, capability: Capability, allowed: Allowed = null): ModelConfig {
    const model = this.byName.get(name);
    // A model the key may not use is reported like a missing one, as OpenAI does.
    if (model === undefined || !permits(allowed, name)) throw modelNotFound(name);
    if (!model.capabilities[capability]) {
      throw new GatewayError('unsupported_model_capability', {
        message: `The model '${name}' does not support ${capability}.`,
        param: 'model',
      });
    }
    return model;
  }
}

function modelNotFound(name: string): GatewayError {
  return new GatewayError('model_not_found', {
    message: `The model '${name}' does not exist or you do not have access to it.`,
    param: 'model',
  });
}

function toModelObject(model: ModelConfig): ModelObject {
  return { id: model.name, object: 'model', created: model.created, owned_by: model.ownedBy };
}
