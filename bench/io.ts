/**
 * Redis commands and PostgreSQL transactions per request, phase by phase, background work
 * included: the counters are read at each phase boundary, after a pause in which the usage
 * workers and the ledger's syncs catch up on what the phase set off.
 */
import type { Counters } from './llm-backend.js';

/** What the requests of one phase cost, on average, background work included. */
export interface Io {
  /** Requests (or streams) the phase served. */
  requests: number;
  /** Redis commands in the phase, by command, those run inside Lua scripts included. */
  commands: Record<string, number>;
  /** Redis commands per request. */
  redis: number;
  /** The same by command, the most frequent first. */
  redisByCommand: Record<string, number>;
  postgres: Record<string, number>;
  /** Most clients on other Redis databases seen at either end: their commands count too. */
  otherClients: number;
}

/** The harness's own commands: reading the counters. */
const OWN_COMMANDS = new Set(['info', 'client|list']);

function delta(after: Record<string, number>, before: Record<string, number>, n: number) {
  const rows = Object.entries(after)
    .map(([name, value]) => [name, (value - (before[name] ?? 0)) / n] as const)
    .filter(([, per]) => per > 0.005)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows.map(([name, per]) => [name, Number(per.toFixed(2))]));
}

/**
 * Redis commands and PostgreSQL transactions between two readings, per request served in
 * between. Readings are taken after a pause that lets the usage workers and the ledger's
 * syncs catch up, so what a phase set off in the background counts in that phase.
 */
export function ioBetween(before: Counters, after: Counters, requests: number): Io | null {
  if (requests === 0) return null;
  const commands: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.commands)) {
    const n = value - (before.commands[name] ?? 0);
    if (n > 0 && !OWN_COMMANDS.has(name)) commands[name] = n;
  }
  const redis = Object.values(commands).reduce((sum, n) => sum + n, 0) / requests;
  return {
    requests,
    commands,
    redis: Number(redis.toFixed(2)),
    redisByCommand: delta(commands, {}, requests),
    postgres: delta(after.transactions, before.transactions, requests),
    otherClients: Math.max(before.otherClients, after.otherClients),
  };
}

/** The first `count` commands of a by-command list, as a phrase. */
export function topCommands(counts: Record<string, number>, count = 5): string {
  const entries = Object.entries(counts);
  const shown = entries
    .slice(0, count)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  return entries.length > count ? `${shown}, ...` : shown || 'none';
}

export function describeIo(io: Io): string {
  const list = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ') || 'none';
  const others =
    io.otherClients > 0 ? `; ${io.otherClients} client(s) of other databases seen` : '';
  return `${io.redis} Redis commands (${topCommands(io.redisByCommand)}); PostgreSQL transactions: ${list(io.postgres)}${others}`;
}

/** Several phases as one: their commands over their requests. */
export function amortized(
  phases: Io[],
): { redis: number; top: Record<string, number>; otherClients: number } | null {
  const requests = phases.reduce((sum, io) => sum + io.requests, 0);
  if (requests === 0) return null;
  const commands: Record<string, number> = {};
  for (const io of phases) {
    for (const [name, n] of Object.entries(io.commands)) commands[name] = (commands[name] ?? 0) + n;
  }
  const total = Object.values(commands).reduce((sum, n) => sum + n, 0);
  const top = Object.fromEntries(Object.entries(delta(commands, {}, requests)).slice(0, 5));
  const otherClients = Math.max(0, ...phases.map((io) => io.otherClients));
  return { redis: Number((total / requests).toFixed(2)), top, otherClients };
}
