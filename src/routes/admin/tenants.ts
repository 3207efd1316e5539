import { type FastifyPluginAsyncTypebox, type Static, Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../composition/services.js';
import { TENANT_STATUSES, type Tenant, tenantJson } from '../../domain/tenant.js';
import { authorize } from '../../services/access/permissions.js';
import type { TenantService } from '../../services/tenancy/tenant-service.js';
import {
  AllowedModels,
  errors,
  ListOf,
  NullableTimestamp,
  TenantParams,
  Timestamp,
} from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const TenantObject = Type.Object(
  {
    object: Type.Literal('tenant'),
    id: Type.String(),
    slug: Type.String(),
    name: Type.String(),
    status: Type.Unsafe<Tenant['status']>({ type: 'string', enum: [...TENANT_STATUSES] }),
    server: Type.Union([Type.String(), Type.Null()], {
      description:
        "The database server the tenant's database lives on, by its name in the config file's `database_servers`; null: the control plane's own server.",
    }),
    allowed_models: {
      ...AllowedModels,
      description:
        'The models the tenant may use, set by platform admins; null: every configured model. Its users and keys may narrow it, never widen it.',
    },
    created_at: Timestamp,
    updated_at: Timestamp,
    delete_after: {
      ...NullableTimestamp,
      description: 'When a deleted tenant is exported and its database dropped.',
    },
  },
  {
    examples: [
      {
        object: 'tenant',
        id: 'tnt_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        slug: 'acme',
        name: 'Acme Corp',
        status: 'active',
        server: null,
        allowed_models: null,
        created_at: '2026-11-26T12:00:00.000Z',
        updated_at: '2026-11-26T12:00:00.000Z',
        delete_after: null,
      },
    ],
  },
);

const CreateTenant = Type.Object(
  {
    slug: Type.String({
      pattern: '^[a-z0-9][a-z0-9-]{1,62}$',
      description: '2 to 63 lowercase letters, digits and `-`; used in URLs.',
    }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    server: Type.Optional(
      Type.String({
        pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
        description:
          "Where to create the tenant's database: a server's name in the config file's `database_servers`. Default: as TENANT_PLACEMENT says (the control plane's own server, `default`, unless it is `most-room`); 503 `database_servers_full` when every server it may choose is at its `max_tenants`.",
      }),
    ),
    allowed_models: Type.Optional({
      ...AllowedModels,
      description: 'The models the tenant may use. Default null: every configured model.',
    }),
  },
  // One example only: the OpenAPI document shows a lone one as the body's `example`.
  { additionalProperties: false, examples: [{ slug: 'acme', name: 'Acme Corp' }] },
);

const UpdateTenant = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    status: Type.Optional(
      Type.Unsafe<'active' | 'disabled'>({
        type: 'string',
        enum: ['active', 'disabled'],
        description: 'Platform admins only: a disabled tenant gets 403 on every call.',
      }),
    ),
    allowed_models: Type.Optional({
      ...AllowedModels,
      description:
        "Platform admins only: the models the tenant may use; null lifts the limit. Every instance applies it from the tenant's next request on.",
    }),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ name: 'Acme Corporation' }] },
);

const tags = ['Tenants'];

/**
 * Applies a PATCH: the platform-only fields are checked before any change, so a refused
 * request changes nothing; then each field that differs, as its own audited change.
 */
async function patchTenant(
  request: FastifyRequest,
  tenants: TenantService,
  body: Static<typeof UpdateTenant>,
): Promise<Tenant> {
  let tenant = tenantOf(request);
  if (body.status !== undefined && request.principal !== null)
    authorize(request.principal, 'tenants:disable', tenant.id);
  if (body.allowed_models !== undefined && request.principal !== null)
    authorize(request.principal, 'tenants:models', tenant.id);
  const actor = actorOf(request);
  // First: the one change whose content the service still checks, so bad input changes nothing.
  if (body.allowed_models !== undefined)
    tenant = await tenants.setAllowedModels(tenant.id, body.allowed_models, actor);
  if (body.name !== undefined && body.name !== tenant.name)
    tenant = await tenants.rename(tenant.id, body.name, actor);
  if (body.status !== undefined && body.status !== tenant.status)
    tenant = await tenants.setStatus(tenant.id, body.status, actor);
  return tenant;
}

/**
 * /admin/v1/tenants: platform admins create, disable and delete tenants; a tenant's owners
 * and admins read and rename their own.
 */
export const tenantRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { tenants }) => {
  app.post(
    '',
    {
      config: { action: 'tenants:create' },
      schema: {
        tags,
        summary: 'Provision a tenant and its own database (platform admins).',
        body: CreateTenant,
        response: { 201: TenantObject, ...errors },
      },
    },
    async (request, reply) => {
      const { allowed_models: allowedModels, ...body } = request.body;
      const tenant = await tenants.create({ ...body, allowedModels }, actorOf(request));
      return reply.code(201).send(tenantJson(tenant));
    },
  );

  app.get(
    '',
    {
      config: { action: 'tenants:read' },
      schema: {
        tags,
        summary: "List tenants: all of them for a platform admin, else the caller's own.",
        response: { 200: ListOf(TenantObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (request.tenant === null ? await tenants.list() : [request.tenant]).map(tenantJson),
    }),
  );

  app.get(
    '/:tenant',
    {
      config: { action: 'tenants:read' },
      schema: {
        tags,
        summary: 'Get one tenant.',
        params: TenantParams,
        response: { 200: TenantObject, ...errors },
      },
    },
    async (request) => tenantJson(tenantOf(request)),
  );

  app.patch(
    '/:tenant',
    {
      config: { action: 'tenants:update' },
      schema: {
        tags,
        summary:
          'Rename a tenant; disable or enable it, or set the models it may use (platform admins).',
        params: TenantParams,
        body: UpdateTenant,
        response: { 200: TenantObject, ...errors },
      },
    },
    async (request) => tenantJson(await patchTenant(request, tenants, request.body)),
  );

  app.delete(
    '/:tenant',
    {
      config: { action: 'tenants:delete' },
      schema: {
        tags,
        summary:
          'Delete a tenant (platform admins): refused at once, exported and dropped after the grace period.',
        params: TenantParams,
        response: { 200: TenantObject, ...errors },
      },
    },
    async (request) =>
      tenantJson(await tenants.delete(tenantOf(request).id, new Date(), actorOf(request))),
  );
};
