import { describe, expect, it } from 'vitest';
import { mostRoom } from '../../src/services/tenancy/placement.js';

const counts = (entries: Record<string, number>) => new Map(Object.entries(entries));

describe('mostRoom', () => {
  it('picks the server with the most room left under its max_tenants', () => {
    const servers = [
      { name: 'default', maxTenants: 10 },
      { name: 'eu-1', maxTenants: 100 },
      { name: 'eu-2', maxTenants: 50 },
    ];
    expect(mostRoom(servers, counts({ default: 2, 'eu-1': 95, 'eu-2': 10 }))).toBe('eu-2');
    expect(mostRoom(servers, counts({}))).toBe('eu-1');
  });

  it('breaks ties by fewer tenants, then by name', () => {
    const servers = [
      { name: 'eu-2', maxTenants: 5 },
      { name: 'eu-1', maxTenants: 5 },
      { name: 'default', maxTenants: 3 },
    ];
    expect(mostRoom(servers, counts({ 'eu-1': 3, 'eu-2': 3 }))).toBe('default');
    expect(mostRoom(servers, counts({ 'eu-1': 3, 'eu-2': 3, default: 2 }))).toBe('eu-1');
  });

  it('skips full servers, treats no max_tenants as no limit, and gives up when all are full', () => {
    const servers = [
      { name: 'a', maxTenants: 1 },
      { name: 'b', maxTenants: 0 },
    ];
    expect(mostRoom(servers, counts({ a: 0 }))).toBe('a');
    expect(mostRoom(servers, counts({ a: 1 }))).toBeNull();
    // Over capacity (set lower after the fact): full, never negative room chosen.
    expect(mostRoom(servers, counts({ a: 3 }))).toBeNull();
    expect(mostRoom([...servers, { name: 'z', maxTenants: null }], counts({ z: 1000 }))).toBe('z');
    expect(mostRoom([], counts({}))).toBeNull();
  });
});
