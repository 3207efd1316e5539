import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors/gateway-error.js';
import { canAssignRole, canChangeRole } from '../../services/access/permissions.js';
import type { Services } from '../../services/services.js';
import type { User } from '../../services/tenancy/user-service.js';
import type { TenantRole } from '../../storage/tenant-schema.js';
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

function userJson(user: User) {
  return {
    object: 'user',
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    status: user.status,
    allowed_models: user.allowedModels,
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

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
export async function userRoutes(app: FastifyInstance, services: Services): Promise<void> {
  const userId = (request: FastifyRequest) => (request.params as { user: string }).user;

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
      const { allowed_models: allowedModels, ...body } = request.body as typeof CreateUser.static;
      mayGrant(request, body.role);
      const user = await services.users.create(
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
      object: 'list',
      data: (await services.users.list(tenantOf(request).id)).map(userJson),
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
    async (request) => userJson(await services.users.get(tenantOf(request).id, userId(request))),
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
      const body = request.body as typeof UpdateUser.static;
      const current = await services.users.get(tenant, userId(request));
      // Changing anything about an owner is for owners only, like making one.
      mayGrant(request, body.role ?? current.role, current.role);
      let user = current;
      if (body.name !== undefined || body.role !== undefined || body.allowed_models !== undefined) {
        user = await services.users.update(
          tenant,
          user.id,
          { name: body.name, role: body.role, allowedModels: body.allowed_models },
          actorOf(request),
        );
      }
      if (body.status !== undefined && body.status !== user.status) {
        user = await services.users.setStatus(tenant, user.id, body.status, actorOf(request));
      }
      return userJson(user);
    },
  );
}
