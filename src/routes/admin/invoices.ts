import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox';
import type { Services } from '../../composition/services.js';
import { invoiceJson } from '../../domain/billing.js';
import { invoiceCsv, invoiceHtml } from '../../services/billing/exports.js';
import {
  CreditNoteBody,
  FinalizeBody,
  InvoiceObject,
  InvoiceParams,
  Period,
} from './billing-schemas.js';
import { errors, ListOf, TenantParams } from './schemas.js';
import { actorOf, tenantOf } from './tenant-scope.js';

const tags = ['Billing'];
const Text = Type.String();

/** /admin/v1/tenants/{tenant}/invoices: drafts, finalized invoices, credit notes and exports. */
export const invoiceRoutes: FastifyPluginAsyncTypebox<Services> = async (app, { invoices }) => {
  app.get(
    '',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary:
          "The tenant's invoices and credit notes, newest first (lines in each one's own GET).",
        params: TenantParams,
        response: { 200: ListOf(InvoiceObject), ...errors },
      },
    },
    async (request) => ({
      object: 'list' as const,
      data: (await invoices.list(tenantOf(request).id)).map(invoiceJson),
    }),
  );

  app.get(
    '/draft',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary: "The period's invoice as it would be finalized now (not stored, no number).",
        params: TenantParams,
        querystring: Type.Object({ period: Period }, { additionalProperties: false }),
        response: { 200: InvoiceObject, ...errors },
      },
    },
    async (request) =>
      invoiceJson(await invoices.draft(tenantOf(request).id, request.query.period)),
  );

  app.post(
    '/finalize',
    {
      config: { action: 'billing:write' },
      schema: {
        tags,
        summary: "Finalize the period's invoice now, as the worker does at period close.",
        description:
          "Idempotent: the period's invoice, 201 when made now, 200 when it was there. 409 `period_not_closed` before the period ended or while usage from before its end is still queued.",
        params: TenantParams,
        body: FinalizeBody,
        response: { 200: InvoiceObject, 201: InvoiceObject, ...errors },
      },
    },
    async (request, reply) => {
      const { invoice, created } = await invoices.finalize(
        tenantOf(request).id,
        request.body.period,
        actorOf(request),
      );
      return reply.code(created ? 201 : 200).send(invoiceJson(invoice));
    },
  );

  app.get(
    '/:invoice',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary: 'One invoice or credit note, with its lines.',
        params: InvoiceParams,
        response: { 200: InvoiceObject, ...errors },
      },
    },
    async (request) =>
      invoiceJson(await invoices.get(tenantOf(request).id, request.params.invoice)),
  );

  app.get(
    '/:invoice/html',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary: 'The invoice as a printable HTML page.',
        params: InvoiceParams,
        produces: ['text/html'],
        response: { 200: Text, ...errors },
      },
    },
    async (request, reply) => {
      const tenant = tenantOf(request);
      const invoice = await invoices.get(tenant.id, request.params.invoice);
      return reply.type('text/html; charset=utf-8').send(invoiceHtml(invoice, tenant.name));
    },
  );

  app.get(
    '/:invoice/csv',
    {
      config: { action: 'billing:read' },
      schema: {
        tags,
        summary: "The invoice's lines as CSV (credits applied as negative lines).",
        params: InvoiceParams,
        produces: ['text/csv'],
        response: { 200: Text, ...errors },
      },
    },
    async (request, reply) => {
      const invoice = await invoices.get(tenantOf(request).id, request.params.invoice);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${invoice.number ?? invoice.id}.csv"`)
        .send(invoiceCsv(invoice));
    },
  );

  for (const [path, summary, move] of [
    ['pay', 'Mark a finalized invoice paid.', 'markPaid'],
    ['void', 'Void a finalized, unpaid invoice; the credits it used are given back.', 'void'],
  ] as const)
    app.post(
      `/:invoice/${path}`,
      {
        config: { action: 'billing:write' },
        schema: {
          tags,
          summary,
          params: InvoiceParams,
          response: { 200: InvoiceObject, ...errors },
        },
      },
      async (request) =>
        invoiceJson(
          await invoices[move](tenantOf(request).id, request.params.invoice, actorOf(request)),
        ),
    );

  app.post(
    '/:invoice/credit-notes',
    {
      config: { action: 'billing:write' },
      schema: {
        tags,
        summary:
          'Correct a finalized invoice with a credit note; its amount pays the next invoices.',
        params: InvoiceParams,
        body: CreditNoteBody,
        response: { 201: InvoiceObject, ...errors },
      },
    },
    async (request, reply) => {
      const note = await invoices.creditNote(
        tenantOf(request).id,
        request.params.invoice,
        request.body,
        actorOf(request),
      );
      return reply.code(201).send(invoiceJson(note));
    },
  );
};
