import type { ReactNode } from 'react';
import type { Resource } from '../hooks.js';
import type { List } from '../types.js';
import { type Column, DataTable } from './DataTable.js';
import { Section } from './Page.js';
import { ErrorMessage, Loaded, Notice } from './Status.js';

/** A titled section with a listed resource as a table, and its loading and error states. */
export function ListSection<T>({
  title,
  resource,
  what,
  caption,
  rowKey,
  empty,
  columns,
}: {
  title: string;
  resource: Resource<List<T>>;
  what: string;
  caption: string;
  rowKey(row: T): string;
  empty: ReactNode;
  columns: Column<T>[];
}) {
  return (
    <Section title={title}>
      <Loaded resource={resource} what={what}>
        {(list) => (
          <DataTable
            caption={caption}
            rows={list.data}
            rowKey={rowKey}
            empty={empty}
            columns={columns}
          />
        )}
      </Loaded>
    </Section>
  );
}

/** What the page's last write said: its error, or its notice. */
export function ActionStatus({
  action,
}: {
  action: { error: string | null; notice: string | null };
}) {
  return (
    <>
      <ErrorMessage message={action.error} />
      <Notice message={action.notice} />
    </>
  );
}
