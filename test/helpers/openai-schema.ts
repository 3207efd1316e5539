import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import { parse } from 'yaml';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = formatsModule.default;

const SPEC_URL = new URL('../fixtures/openai-openapi.yaml', import.meta.url);
// Any absolute URI works: it only gives the `#/components/schemas/...` refs a base to resolve against.
const SPEC_ID = 'https://api.openai.com/v1/openapi.json';

// Values under these keywords are instance data, so nothing inside them may be rewritten.
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);
// Values under these keywords map user-chosen names to schemas: their keys are not keywords.
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'dependentSchemas']);
// OpenAPI-only annotations; dropped so the compiled schemas stay small and Ajv never sees them.
const OPENAPI_ONLY = new Set(['discriminator', 'example', 'xml', 'externalDocs']);
const COMPOSITIONS = ['$ref', 'allOf', 'anyOf', 'oneOf'];

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mapValues(obj: JsonObject, fn: (value: unknown) => unknown): JsonObject {
  return Object.fromEntries(Object.entries(obj).map(([key, value]) => [key, fn(value)]));
}

/** Rewrites one schema from the spec's OpenAPI 3.0/3.1 mix into plain JSON Schema 2020-12. */
function toJsonSchema(node: unknown, owner: string): unknown {
  if (Array.isArray(node)) return node.map((item) => toJsonSchema(item, owner));
  if (!isObject(node)) return node;

  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || OPENAPI_ONLY.has(key) || key === '$recursiveAnchor') continue;
    if (key === '$recursiveRef') {
      // 2019-09 keyword Ajv 2020 does not know; in this spec it always means "the enclosing
      // component", and "#" would otherwise point at the root of the whole document.
      out.$ref = `#/components/schemas/${owner}`;
    } else if (DATA_KEYWORDS.has(key)) {
      out[key] = value;
    } else if (SCHEMA_MAPS.has(key) && isObject(value)) {
      out[key] = mapValues(value, (schema) => toJsonSchema(schema, owner));
    } else {
      out[key] = toJsonSchema(value, owner);
    }
  }

  // OpenAPI 3.0 boolean form (`minimum: 0, exclusiveMinimum: true`) is invalid in 2020-12.
  for (const [exclusive, inclusive] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[exclusive] === true) {
      out[exclusive] = out[inclusive];
      delete out[inclusive];
    } else if (out[exclusive] === false) {
      delete out[exclusive];
    }
  }

  const nullable = out.nullable;
  delete out.nullable;
  if (nullable !== true) return out;
  if (out.type !== undefined && !COMPOSITIONS.some((keyword) => keyword in out)) {
    const types = Array.isArray(out.type) ? out.type : [out.type];
    out.type = types.includes('null') ? types : [...types, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  // Without a plain `type`, widening is impossible: a `$ref`/`allOf` target would still reject null.
  return { anyOf: [out, { type: 'null' }] };
}

interface Registry {
  ajv: Ajv2020;
  names: Set<string>;
  validators: Map<string, ValidateFunction>;
}

let registry: Registry | undefined;

function load(): Registry {
  if (registry) return registry;
  const doc: unknown = parse(readFileSync(SPEC_URL, 'utf8'));
  const components = isObject(doc) ? doc.components : undefined;
  const schemas = isObject(components) ? components.schemas : undefined;
  if (!isObject(schemas)) throw new Error(`${SPEC_URL.pathname} has no components.schemas`);

  const converted: JsonObject = {};
  for (const [name, schema] of Object.entries(schemas)) {
    converted[name] = toJsonSchema(schema, name);
  }

  // strict: false because the spec still carries annotations 2020-12 does not define
  // (e.g. dataDescription) and would trip strictTypes/strictRequired all over the place.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  // OpenAI's own format for integer epoch seconds; `type: integer` already enforces the shape.
  ajv.addFormat('unixtime', true);
  ajv.addSchema({ $id: SPEC_ID, components: { schemas: converted } });

  registry = { ajv, names: new Set(Object.keys(converted)), validators: new Map() };
  return registry;
}

function validatorFor(schemaName: string): ValidateFunction {
  const { ajv, names, validators } = load();
  const cached = validators.get(schemaName);
  if (cached) return cached;
  if (!names.has(schemaName)) {
    throw new Error(`Unknown OpenAI schema "${schemaName}" (not in components.schemas)`);
  }
  const validate = ajv.compile({ $ref: `${SPEC_ID}#/components/schemas/${schemaName}` });
  validators.set(schemaName, validate);
  return validate;
}

function formatError(error: ErrorObject): string {
  const where = error.instancePath || '(root)';
  let detail = '';
  if (error.keyword === 'enum') detail = ` ${JSON.stringify(error.params.allowedValues)}`;
  if (error.keyword === 'const') detail = ` ${JSON.stringify(error.params.allowedValue)}`;
  if (error.keyword === 'additionalProperties') detail = ` "${error.params.additionalProperty}"`;
  return `${where} ${error.message ?? error.keyword}${detail}`;
}

/** Returns readable validation errors for `value` against a components.schemas entry; [] when valid. */
export function openaiSchemaErrors(schemaName: string, value: unknown): string[] {
  const validate = validatorFor(schemaName);
  if (validate(value)) return [];
  // anyOf branches repeat the same complaint for each alternative.
  return [...new Set((validate.errors ?? []).map(formatError))];
}

/** Throws (failing the surrounding test) when `value` does not match the named OpenAI schema. */
export function expectOpenAISchema(schemaName: string, value: unknown): void {
  const errors = openaiSchemaErrors(schemaName, value);
  if (errors.length === 0) return;
  const json = JSON.stringify(value, null, 2) ?? String(value);
  const shown = json.length > 2000 ? `${json.slice(0, 2000)}\n… (${json.length} chars)` : json;
  throw new Error(
    `Value does not match OpenAI schema ${schemaName}:\n  - ${errors.join('\n  - ')}\nValue: ${shown}`,
  );
}
