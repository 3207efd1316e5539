import { type Invoice, invoiceJson } from '../../domain/billing.js';

/** The columns of an invoice's CSV: one row per line, credits applied included. */
const CSV_COLUMNS = [
  'number',
  'period',
  'kind',
  'description',
  'model',
  'usage_period',
  'quantity',
  'unit',
  'unit_price',
  'amount',
  'currency',
] as const;

/** RFC 4180 quoting; a leading =, +, - or @ is prefixed so a spreadsheet runs no formula. */
function csvField(value: string | number | null): string {
  let text = value === null ? '' : String(value);
  if (/^[=+\-@]/.test(text) && !/^-\d/.test(text)) text = `'${text}`;
  return /[",\r\n']/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The invoice's lines as CSV, amounts exact to the micro-unit, credits as negative lines. */
export function invoiceCsv(invoice: Invoice): string {
  const json = invoiceJson(invoice);
  const rows: (string | number | null)[][] = [
    ...json.lines.map((line) => [
      json.number,
      json.period,
      line.kind,
      line.description,
      line.model,
      line.period,
      line.quantity,
      line.unit,
      line.unit_price,
      line.amount,
      json.currency,
    ]),
    ...json.credits.map((credit) => [
      json.number,
      json.period,
      'credit',
      credit.reason,
      null,
      null,
      1,
      'each',
      null,
      `-${credit.amount}`,
      json.currency,
    ]),
  ];
  return `${[CSV_COLUMNS as readonly string[], ...rows].map((row) => row.map(csvField).join(',')).join('\r\n')}\r\n`;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (char) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char,
  );

/** Token prices are per million tokens: said on the page, where a reader multiplies. */
const unitPrice = (line: { unit: string; unit_price: string | null }) =>
  line.unit_price !== null && line.unit === 'tokens'
    ? `${line.unit_price} / 1M tokens`
    : line.unit_price;

/** A printable invoice: one self-contained page, no script, every value escaped. */
export function invoiceHtml(invoice: Invoice, tenantName: string): string {
  const json = invoiceJson(invoice);
  const e = (value: string | number | null) => escapeHtml(value === null ? '' : String(value));
  const title = invoice.kind === 'credit_note' ? 'Credit note' : 'Invoice';
  const lines = json.lines
    .map(
      (line) =>
        `<tr><td>${e(line.description)}</td><td class="n">${e(line.quantity)} ${e(line.unit)}</td><td class="n">${e(unitPrice(line))}</td><td class="n">${e(line.amount)}</td></tr>`,
    )
    .join('\n');
  const credits = json.credits
    .map(
      (credit) =>
        `<tr><td colspan="3">${e(credit.reason)}</td><td class="n">-${e(credit.amount)}</td></tr>`,
    )
    .join('\n');
  const total = (label: string, value: string) =>
    `<tr class="t"><td colspan="3">${label}</td><td class="n">${e(value)} ${e(json.currency)}</td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} ${e(json.number ?? 'draft')}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}.n{text-align:right}.t td{font-weight:bold}</style>
</head><body>
<h1>${title} ${e(json.number ?? '(draft)')}</h1>
<p>Tenant: ${e(tenantName)}<br>Period: ${e(json.period)}<br>Status: ${e(json.status)}<br>Currency: ${e(json.currency)}${json.finalized_at ? `<br>Finalized: ${e(json.finalized_at)}` : ''}${json.refers_to ? `<br>Corrects: ${e(json.refers_to)}` : ''}</p>
<table><thead><tr><th>Description</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>
${lines}
${total('Subtotal', json.subtotal)}
${total(`Tax (${json.tax_percent}%)`, json.tax)}
${total('Total', json.total)}
${credits}
${total('Amount due', json.amount_due)}
</tbody></table>
<p>Line amounts are exact to the millionth; totals are rounded half to even to the currency's smallest unit.</p>
</body></html>
`;
}
