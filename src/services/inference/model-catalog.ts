import type { ModelConfig, RouterConfig } from '../../config/load.js';
import { GatewayError } from '../../errors/gateway-error.js';

export type Capability = 'chat' | 'completions' | 'embeddings';

/** Model names a caller is limited to; null for no limit. */
export type Allowed = readonly string[] | null;

export function permits(allowed: Allowed, name: string): boolean {
  return allowed === null || allowed.includes(name);
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/**
 * The public names of the config file: models, and routers (such as `auto`) that stand for
 * the cheapest suitable model among their candidates.
 */
export class ModelCatalog {
  private readonly byName: ReadonlyMap<string, ModelConfig>;
  private readonly routers: ReadonlyMap<string, RouterConfig>;

  constructor(
    private readonly models: readonly ModelConfig[],
    routers: readonly RouterConfig[] = [],
  ) {
    this.byName = new Map(models.map((model) => [model.name, model]));
    this.routers = new Map(routers.map((router) => [router.name, router]));
  }

  /** The names a caller may use: its models, and the routers with a candidate among them. */
  list(allowed: Allowed = null): ModelObject[] {
    const models = this.models.filter((model) => permits(allowed, model.name)).map(toModelObject);
    const routers = [...this.routers.values()]
      .filter((router) => this.candidates(router, allowed).length > 0)
      .map(routerObject);
    return [...models, ...routers];
  }

  get(name: string, allowed: Allowed = null): ModelObject {
    const model = this.byName.get(name);
    if (model !== undefined && permits(allowed, name)) return toModelObject(model);
    const router = this.routers.get(name);
    if (router !== undefined && this.candidates(router, allowed).length > 0)
      return routerObject(router);
    throw modelNotFound(name);
  }

  router(name: string): RouterConfig | undefined {
    return this.routers.get(name);
  }

  /** A router's chat models the caller may use, in config order. */
  candidates(router: RouterConfig, allowed: Allowed): ModelConfig[] {
    return this.models.filter(
      (model) =>
        model.capabilities.chat &&
        (router.models === null || router.models.includes(model.name)) &&
        permits(allowed, model.name),
    );
  }

  /** The model to serve a request; the error says why when there is none. */
  resolve(name: string, capability: Capability, allowed: Allowed = null): ModelConfig {
    const model = this.byName.get(name);
    // A model the key may not use is reported like a missing one, as OpenAI does.
    if (model === undefined || !permits(allowed, name)) throw modelNotFound(name);
    if (!model.capabilities[capability]) throw unsupported(name, capability);
    return model;
  }
}

export function unsupported(name: string, capability: Capability): GatewayError {
  return new GatewayError('unsupported_model_capability', {
    message: `The model '${name}' does not support ${capability}.`,
    param: 'model',
  });
}

export function modelNotFound(name: string): GatewayError {
  return new GatewayError('model_not_found', {
    message: `The model '${name}' does not exist or you do not have access to it.`,
    param: 'model',
  });
}

function toModelObject(model: ModelConfig): ModelObject {
  return { id: model.name, object: 'model', created: model.created, owned_by: model.ownedBy };
}

function routerObject(router: RouterConfig): ModelObject {
  return { id: router.name, object: 'model', created: router.created, owned_by: 'llm-backend' };
}
