import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, parse as parseYaml, stringify } from 'yaml';

/**
 * Renders a Helm chart without Helm, for tests on machines that have none. It implements the
 * part of Go's text/template and Helm's functions that deploy/helm/llm-backend uses, and
 * refuses anything else, so a template that grows past it fails the test instead of
 * rendering wrong: actions with whitespace trimming ({{- -}}), comments, define, include,
 * if/else/end, pipelines, the fields of . (.Values, .Release, .Chart, .Files.Get) and the
 * functions toYaml, nindent, quote, default, not and sha256sum. A missing value is an error (Helm would
 * print nothing), to catch misspelt value paths.
 */

type Value = unknown;

interface TextNode {
  kind: 'text';
  text: string;
}
interface OutputNode {
  kind: 'output';
  pipeline: string;
}
interface IfNode {
  kind: 'if';
  pipeline: string;
  whenTrue: Node[];
  otherwise: Node[];
}
type Node = TextNode | OutputNode | IfNode;

interface Token {
  kind: 'text' | 'action';
  text: string;
}

/** Splits a template into text and actions, applying the {{- and -}} trims to the text. */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const action = /\{\{(-\s)?\s*([\s\S]*?)\s*(\s-)?\}\}/g;
  let last = 0;
  let trimNext = false;
  for (const match of source.matchAll(action)) {
    let text = source.slice(last, match.index);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (match[1] !== undefined) text = text.replace(/\s+$/, '');
    if (text !== '') tokens.push({ kind: 'text', text });
    tokens.push({ kind: 'action', text: match[2] ?? '' });
    trimNext = match[3] !== undefined;
    last = match.index + match[0].length;
  }
  let rest = source.slice(last);
  if (trimNext) rest = rest.replace(/^\s+/, '');
  if (rest !== '') tokens.push({ kind: 'text', text: rest });
  return tokens;
}

interface Parsed {
  nodes: Node[];
  defines: Map<string, Node[]>;
}

function parse(source: string, where: string): Parsed {
  const defines = new Map<string, Node[]>();
  const root: Node[] = [];
  // Open blocks, innermost last: where the next node goes.
  const stack: { into: Node[]; block: IfNode | { kind: 'define'; name: string } | null }[] = [
    { into: root, block: null },
  ];
  const top = () => stack[stack.length - 1] as (typeof stack)[number];
  for (const token of tokenize(source)) {
    if (token.kind === 'text') {
      top().into.push({ kind: 'text', text: token.text });
      continue;
    }
    const action = token.text;
    if (action.startsWith('/*')) continue;
    const define = /^define\s+"([^"]+)"$/.exec(action);
    if (define) {
      const body: Node[] = [];
      defines.set(define[1] as string, body);
      stack.push({ into: body, block: { kind: 'define', name: define[1] as string } });
    } else if (action.startsWith('if ')) {
      const node: IfNode = { kind: 'if', pipeline: action.slice(3), whenTrue: [], otherwise: [] };
      top().into.push(node);
      stack.push({ into: node.whenTrue, block: node });
    } else if (action === 'else') {
      const block = top().block;
      if (block?.kind !== 'if') throw new Error(`${where}: else outside if`);
      top().into = block.otherwise;
    } else if (action === 'end') {
      if (stack.length === 1) throw new Error(`${where}: end without a block`);
      stack.pop();
    } else if (/^(range|with|template|block|else if)\b/.test(action)) {
      throw new Error(`${where}: '${action}' is not supported by this renderer`);
    } else {
      top().into.push({ kind: 'output', pipeline: action });
    }
  }
  if (stack.length !== 1) throw new Error(`${where}: a block is not closed`);
  return { nodes: root, defines };
}

/** Words of one command: quoted strings stay whole. */
function words(command: string): string[] {
  return [...command.matchAll(/"(?:[^"\\]|\\.)*"|\S+/g)].map((match) => match[0]);
}

/** Splits a pipeline on the | not inside quotes. */
function commands(pipeline: string): string[] {
  return [...pipeline.matchAll(/(?:"(?:[^"\\]|\\.)*"|[^|"])+/g)].map((match) => match[0].trim());
}

function truthy(value: Value): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '')
    return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

function show(value: Value, what: string): string {
  if (value === undefined || value === null) throw new Error(`missing value: ${what}`);
  if (typeof value === 'object') throw new Error(`cannot print a map or list: ${what}`);
  return String(value);
}

class Renderer {
  constructor(
    private readonly defines: Map<string, Node[]>,
    private readonly files: (path: string) => string,
  ) {}

  render(nodes: Node[], dot: Value): string {
    let out = '';
    for (const node of nodes) {
      if (node.kind === 'text') out += node.text;
      else if (node.kind === 'output')
        out += show(this.pipeline(node.pipeline, dot), node.pipeline);
      else
        out += this.render(
          truthy(this.pipeline(node.pipeline, dot)) ? node.whenTrue : node.otherwise,
          dot,
        );
    }
    return out;
  }

  private pipeline(pipeline: string, dot: Value): Value {
    let result: Value;
    let first = true;
    for (const command of commands(pipeline)) {
      const [name, ...args] = words(command);
      if (name === undefined) throw new Error(`empty command in '${pipeline}'`);
      const values = args.map((arg) => this.term(arg, dot));
      if (!first) values.push(result);
      first = false;
      result = this.call(name, values, dot, pipeline);
    }
    return result;
  }

  private call(name: string, args: Value[], dot: Value, pipeline: string): Value {
    const arity = (count: number) => {
      if (args.length !== count) throw new Error(`${name} takes ${count} argument(s): ${pipeline}`);
    };
    switch (name) {
      case 'include': {
        arity(2);
        const body = this.defines.get(String(args[0]));
        if (body === undefined) throw new Error(`no template named ${String(args[0])}`);
        return this.render(body, args[1]);
      }
      case 'toYaml':
        arity(1);
        return stringify(args[0]).replace(/\n$/, '');
      case 'nindent': {
        arity(2);
        const pad = ' '.repeat(Number(args[0]));
        return `\n${pad}${show(args[1], pipeline).replaceAll('\n', `\n${pad}`)}`;
      }
      case 'quote':
        arity(1);
        return JSON.stringify(show(args[0], pipeline));
      case 'default':
        arity(2);
        return truthy(args[1]) ? args[1] : args[0];
      case 'sha256sum':
        arity(1);
        return createHash('sha256').update(show(args[0], pipeline)).digest('hex');
      case 'not':
        arity(1);
        return !truthy(args[0]);
      case '.Files.Get':
        arity(1);
        return this.files(String(args[0]));
      default:
        if (args.length > 0) throw new Error(`unknown function ${name}: ${pipeline}`);
        return this.term(name, dot);
    }
  }

  private term(word: string, dot: Value): Value {
    if (word.startsWith('"')) return JSON.parse(word) as string;
    if (/^-?\d+$/.test(word)) return Number(word);
    if (word === '.') return dot;
    if (!word.startsWith('.')) throw new Error(`unsupported term ${word}`);
    let value: Value = dot;
    for (const key of word.slice(1).split('.')) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Record<string, Value>)[key];
    }
    return value;
  }
}

export interface ReleaseOptions {
  name: string;
  namespace: string;
  /** Merged over the chart's values.yaml, as `helm --set`/`-f` would (maps deeply). */
  values?: Record<string, Value>;
}

function merge(base: Value, over: Value): Value {
  if (
    base === null ||
    over === null ||
    typeof base !== 'object' ||
    typeof over !== 'object' ||
    Array.isArray(base) ||
    Array.isArray(over)
  )
    return over;
  const out: Record<string, Value> = { ...(base as Record<string, Value>) };
  for (const [key, value] of Object.entries(over)) out[key] = merge(out[key], value);
  return out;
}

export interface RenderedManifest {
  /** The template it came from, e.g. templates/hpa.yaml. */
  template: string;
  manifest: Record<string, unknown>;
}

/** `helm template`: every manifest the chart renders, parsed. */
export function renderChart(chartDir: string, release: ReleaseOptions): RenderedManifest[] {
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<
    string,
    Value
  >;
  const values = merge(
    parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')),
    release.values ?? {},
  );
  const dot = {
    Values: values,
    Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  };
  const templatesDir = join(chartDir, 'templates');
  const names = readdirSync(templatesDir).sort();
  const defines = new Map<string, Node[]>();
  const parsed = new Map<string, Node[]>();
  for (const name of names) {
    const result = parse(readFileSync(join(templatesDir, name), 'utf8'), name);
    for (const [key, body] of result.defines) defines.set(key, body);
    if (!name.startsWith('_')) parsed.set(name, result.nodes);
  }
  // Helm's .Files.Get gives an empty string for a file that is not there.
  const files = (path: string) => {
    try {
      return readFileSync(join(chartDir, path), 'utf8');
    } catch {
      return '';
    }
  };
  const renderer = new Renderer(defines, files);
  const manifests: RenderedManifest[] = [];
  for (const [name, nodes] of parsed) {
    const text = renderer.render(nodes, dot);
    for (const document of parseAllDocuments(text)) {
      if (document.errors.length > 0)
        throw new Error(`templates/${name} renders invalid YAML: ${document.errors[0]?.message}`);
      const manifest = document.toJS() as Record<string, unknown> | null;
      if (manifest !== null) manifests.push({ template: `templates/${name}`, manifest });
    }
  }
  return manifests;
}
