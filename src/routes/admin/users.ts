import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Services } from '../../composition/services.js';
import type { TenantRole } from '../../domain/roles.js';
import { userJson } from '../../domain/user.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { canAssignRole, canChangeRole } from '../../services/access/permissions.js';
import { AllowedModels, errors, ListOf, Role, TenantParams, Timestamp } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const Status = Type.Unsafe<'active' | 'disabled'>({ type: 'string', enum: ['active', 'disabled'] });
const CreateUser = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254 }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    role: Role,
    allowed_models: Type.Optional({
      ...AllowedModels,
      description:
        "The models the user's keys may use, within the tenant's. Default null: the tenant's.",
    }),
  },
  {
    additionalProperties: false,
    examples: [{ email: 'dev@acme.example', name: 'Dev', role: 'member' }],
  },
);
const UpdateUser = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    role: Type.Optional(Role),
    status: Type.Optional(Status),
    allowed_models: Type.Optional({
      ...AllowedModels,
      description:
        "The models the user's keys may use, within the tenant's; null lifts the user's own limit. Applies to the user's keys from their next request on, on every instance.",
    }),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ role: 'admin' }] },
);
const UserObject = Type.Object(
  {
    object: Type.Literal('user'),
    id: Type.String(),
    email: Type.String(),
    name: Type.String(),
    role: Role,
    status: Status,
    allowed_models: AllowedModels,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  {
    examples: [
      {
        object: 'user',
        id: 'usr_0mwxj3k2a9f1c2d3e4f5a6b7c8',
        email: 'dev@acme.example',
        name: 'Dev',
        role: 'member',
        status: 'active',
        allowed_models: null,
        created_at: '2026-11-26T12:00:00.000Z',
        updated_at: '2026-11-26T12:00:00.000Z',
      },
    ],
  },
);
const UserParams = Type.Object({ ...TenantParams.properties, user: Type.String() });
const tags = ['Users'];

/** Only owners make owners; nobody hands out a role above their own. */
function mayGrant(request: FastifyRequest, role: TenantRole, from?: TenantRole): void {
  const principal = request.principal;
  // The platform admin holds no tenant role and may give any.
  if (principal?.kind === 'platform') return;
  const actor = principal?.role;
  const allowed =
    actor !== undefined &&
    (from === undefined ? canAssignRole(actor, role) : canChangeRole(actor, from, role));
  if (!allowed)
    throw new GatewayError('permission_denied', {
      message: `This API key may not give the role '${role}'.`,
      param: 'role',
    });
}

/** /admin/v1/tenants/{tenant}/users: the people of a tenant, in its own database. */
export const userRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { users }) => {
  app.post(
    '',
    {
      config: { action: 'users:write' },
      schema: {
        tags,
        summary: 'Add a user.',
        params: TenantParams,
        body: CreateUser,
        response: { 201: UserObject, ...errors },
      },
    },
    async (request, reply) => {
      const { allowed_models: allowedModels, ...body } = request.body;
      mayGrant(request, body.role);
      const user = await users.create(
        tenantOf(request).id,
        { ...body, allowedModels },
        actorOf(request),
      );
      return reply.code(201).send(userJson(user));
    },
  );

  app.get(
    '',
    {
      config: { action: 'users:read' },
      schema: {
        tags,
        summary: 'List users.',
        params: TenantParams,
        response: { 200: ListOf(UserObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await users.list(tenantOf(request).id)).map(userJson),
    }),
  );

  app.get(
    '/:user',
    {
      config: { action: 'users:read' },
      schema: {
        tags,
        summary: 'Get one user.',
        params: UserParams,
        response: { 200: UserObject, ...errors },
      },
    },
    async (request) => userJson(await users.get(tenantOf(request).id, request.params.user)),
  );

  app.patch(
    '/:user',
    {
      config: { action: 'users:write' },
      schema: {
        tags,
        summary: 'Rename, change the role or the models, disable or enable a user.',
        params: UserParams,
        body: UpdateUser,
        response: { 200: UserObject, ...errors },
      },
    },
    async (request) => {
      const tenant = tenantOf(request).id;
      const { name, role, status, allowed_models: allowedModels } = request.body;
      const current = await users.get(tenant, request.params.user);
      // Changing anything about an owner is for owners only, like making one.
      mayGrant(request, role ?? current.role, current.role);
      let user = current;
      if (name !== undefined || role !== undefined || allowedModels !== undefined)
        user = await users.update(tenant, user.id, { name, role, allowedModels }, actorOf(request));
      if (status !== undefined && status !== user.status)
        user = await users.setStatus(tenant, user.id, status, actorOf(request));
      return userJson(user);
    },
  );
};
