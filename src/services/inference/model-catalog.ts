import type { ModelConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';

export type Capability = 'chat' | 'completions' | 'embeddings';

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

  list(): ModelObject[] {
    return [...this.byName.values()].map(toModelObject);
  }

  get(name: string): ModelObject {
    const model = this.byName.get(name);
    if (model === undefined) throw modelNotFound(name);
    return toModelObject(model);
  }

  /** The model to serve a request; the error says why when there is none. */
  resolve(name: string, capability: Capability): ModelConfig {
    const model = this.byName.get(name);
    if (model === undefined) throw modelNotFound(name);
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
