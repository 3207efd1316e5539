import type { TObject } from '@sinclair/typebox';
import { EVENT_TYPES, type EventDefinition } from './catalogue.js';

/**
 * The catalogue as the docs show it, so the docs are generated from it rather than kept by
 * hand (test/unit/docs.test.ts checks docs/webhooks.md and docs/alerts.md against these).
 */

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(header: string[], rows: string[][]): string {
  return [header, header.map((title) => '-'.repeat(title.length)), ...rows]
    .map((row) => `| ${row.map(cell).join(' | ')} |`)
    .join('\n');
}

/** Each field of an event's data, backticked, with its description when it has one. */
export function dataFields(data: TObject): string {
  return Object.entries(data.properties)
    .map(([name, schema]) =>
      schema.description === undefined ? `\`${name}\`` : `\`${name}\` (${schema.description})`,
    )
    .join(', ');
}

const entries = () => Object.entries(EVENT_TYPES) as [string, EventDefinition][];

/** docs/webhooks.md's table of events: every type, who gets it, when, and its data. */
export function eventsTable(): string {
  return table(
    ['Type', 'Audience', 'When', '`data`'],
    entries().map(([type, event]) => [
      `\`${type}\``,
      event.audience,
      event.when,
      dataFields(event.data),
    ]),
  );
}

/** docs/alerts.md's table of what each alert's data holds (its `.resolved` twin holds the same). */
export function alertDataTable(): string {
  return table(
    ['Event', '`data`'],
    entries()
      .filter(([type]) => type.startsWith('alert.') && !type.endsWith('.resolved'))
      .map(([type, event]) => [`\`${type}\``, dataFields(event.data)]),
  );
}
