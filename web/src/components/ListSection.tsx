import type { ReactNode } from 'react';
import type { Resource } from '../hooks.js';
import type { List } from '../types.js';
import { type Column, DataTable } from './DataTable.js';
import { Section } from './Page.js';
import { Loaded } from './Status.js';

interface TableProps<T> {
  resource: Resource<List<T>>;
  what: string;
  caption: string;
  rowKey(row: T): string;
  empty: ReactNode;
  columns: Column<T>[];
}

/** A listed resource as a table, with its loading and error states. */
export function LoadedTable<T>({ resource, what, ...table }: TableProps<T>) {
  return (
    <Loaded resource={resource} what={what}>
      {(list) => <DataTable rows={list.data} {...table} />}
    </Loaded>
  );
}

/** A titled section holding a LoadedTable. */
export function ListSection<T>({ title, ...table }: TableProps<T> & { title: string }) {
  return (
    <Section title={title}>
      <LoadedTable {...table} />
    </Section>
  );
}
