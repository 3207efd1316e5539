import type { RoutingStrategy } from '../../config/load.js';
import type { DeploymentState } from './deployment-state.js';

export type Random = () => number;

interface Keyed {
  state: DeploymentState;
  /** A weighted random draw: higher weights draw higher keys more often. */
  draw: number;
}

function draw(state: DeploymentState, random: Random): number {
  const { weight } = state.config;
  // Efraimidis–Spirakis: sorting by u^(1/w) is a weighted shuffle without replacement.
  return weight > 0 ? random() ** (1 / weight) : -1;
}

const price = (s: DeploymentState) => s.config.pricing.input + s.config.pricing.output;

const comparators: Record<RoutingStrategy, (a: Keyed, b: Keyed) => number> = {
  priority: (a, b) => a.state.config.priority - b.state.config.priority,
  weighted: () => 0,
  // A deployment never measured goes first, so every one gets measured.
  'least-latency': (a, b) => (a.state.latencyMs ?? -1) - (b.state.latencyMs ?? -1),
  'least-busy': (a, b) => a.state.inFlight - b.state.inFlight,
  'lowest-cost': (a, b) =>
    price(a.state) - price(b.state) || a.state.config.priority - b.state.config.priority,
};

/**
 * The order to try deployments in under a strategy. Ties (the same priority, latency,
 * load or price) are broken by weight, at random, so equal deployments share the traffic.
 */
export function orderDeployments(
  states: readonly DeploymentState[],
  strategy: RoutingStrategy,
  random: Random,
): DeploymentState[] {
  const keyed = states.map((state) => ({ state, draw: draw(state, random) }));
  const compare = comparators[strategy];
  keyed.sort((a, b) => compare(a, b) || b.draw - a.draw);
  return keyed.map((k) => k.state);
}
