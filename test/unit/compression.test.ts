import { describe, expect, it } from 'vitest';
import { chooseEncoding } from '../../src/plugins/compression.js';

describe('chooseEncoding', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, br', 'br'],
    ['GZIP', 'gzip'],
    ['gzip;q=1, br;q=0.4', 'gzip'],
    ['br;q=0, gzip;q=0.1', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['*;q=0', null],
    ['identity', null],
    ['deflate, compress', null],
    ['gzip;q=2', null],
    ['gzip;q=-1', null],
    ['gzip;q=x', null],
    [' , ;q=1', null],
  ] as const)('%j -> %s', (header, expected) => {
    expect(chooseEncoding(header)).toBe(expected);
  });
});
