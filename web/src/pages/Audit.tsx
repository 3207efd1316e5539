import { useState } from 'react';
import { api, query, tenantPath } from '../api.js';
import { DataTable } from '../components/DataTable.js';
import { FormRow, SelectField, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { ActionStatus, Loaded } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { time } from '../format.js';
import { useResource } from '../hooks.js';
import type { AuditEntry, ChainCheck, List } from '../types.js';

const actorTypes = [
  { value: '', label: 'Any' },
  { value: 'key', label: 'Tenant key' },
  { value: 'platform_key', label: 'Platform key' },
  { value: 'user', label: 'User (single sign-on)' },
  { value: 'cli', label: 'Command line' },
  { value: 'system', label: 'System' },
];

interface Filters {
  action: string;
  actor_type: string;
  target_id: string;
  since: string;
  until: string;
}

/** The chain check's answer in words. */
export function chainWords(check: ChainCheck): string {
  if (check.ok) return `Chain intact: all ${check.entries} entries match.`;
  const why =
    check.reason === 'hash_mismatch'
      ? 'it was changed'
      : 'an entry before it was removed or reordered';
  return `Chain broken at entry ${check.index} (counting from 0, oldest first): ${why}.`;
}

const instant = (day: string) => (day === '' ? undefined : `${day}T00:00:00Z`);

/** The tenant's audit log, newest first, filtered and paged with `after`. */
export function AuditPage({ tenant }: { tenant: string }) {
  const [draft, setDraft] = useState<Filters>({
    action: '',
    actor_type: '',
    target_id: '',
    since: '',
    until: '',
  });
  const [applied, setApplied] = useState(draft);
  const [pages, setPages] = useState<string[]>([]);
  const after = pages.at(-1);
  const log = useResource<List<AuditEntry>>(
    tenantPath(tenant, '/audit-logs') +
      query({
        limit: 50,
        action: applied.action,
        actor_type: applied.actor_type,
        target_id: applied.target_id,
        since: instant(applied.since),
        until: instant(applied.until),
        after,
      }),
  );
  const check = useAction();
  const verify = () =>
    check.run(async () =>
      chainWords(await api.post<ChainCheck>(tenantPath(tenant, '/audit-logs/verify'))),
    );
  const set = (name: keyof Filters) => (event: { target: { value: string } }) =>
    setDraft({ ...draft, [name]: event.target.value });

  return (
    <Page title="Audit log">
      <Section title="Filters">
        <FormRow
          label="Audit filters"
          onSubmit={() => {
            setPages([]);
            setApplied(draft);
            log.reload();
          }}
          busy={log.loading}
          submit="Apply filters"
        >
          <TextField
            label="Action"
            value={draft.action}
            onChange={set('action')}
            hint="e.g. api_key.* or user.create"
          />
          <SelectField
            label="Actor type"
            options={actorTypes}
            value={draft.actor_type}
            onChange={set('actor_type')}
          />
          <TextField label="Target ID" value={draft.target_id} onChange={set('target_id')} />
          <TextField label="Since" type="date" value={draft.since} onChange={set('since')} />
          <TextField label="Until" type="date" value={draft.until} onChange={set('until')} />
        </FormRow>
      </Section>
      <Section title="Entries">
        <Loaded resource={log} what="the audit log">
          {(list) => (
            <>
              <DataTable
                caption="Audit entries"
                rows={list.data}
                rowKey={(e) => e.id}
                empty="No audit entries match."
                columns={[
                  { header: 'Time', cell: (e) => time(e.at) },
                  { header: 'Action', cell: (e) => <code>{e.action}</code> },
                  {
                    header: 'Actor',
                    cell: (e) => `${e.actor_type}${e.actor_id ? ` ${e.actor_id}` : ''}`,
                  },
                  {
                    header: 'Target',
                    cell: (e) => (e.target_type ? `${e.target_type} ${e.target_id ?? ''}` : '–'),
                  },
                  { header: 'IP', cell: (e) => e.ip ?? '–' },
                  { header: 'Request', cell: (e) => e.request_id ?? '–' },
                ]}
              />
              <div className="pager">
                {pages.length > 0 && (
                  <button type="button" onClick={() => setPages(pages.slice(0, -1))}>
                    Newer entries
                  </button>
                )}
                {list.has_more && list.last_id && (
                  <button type="button" onClick={() => setPages([...pages, list.last_id ?? ''])}>
                    Older entries
                  </button>
                )}
              </div>
            </>
          )}
        </Loaded>
      </Section>
      <Section title="Chain check">
        <p>
          Every entry is chained to the one before it by a hash, so an entry changed or removed in
          the database breaks the chain. The check reads the whole log (as{' '}
          <code>llm-backend audit verify {tenant}</code> does).
        </p>
        <button type="button" onClick={() => void verify()} disabled={check.busy}>
          Verify chain
        </button>
        <ActionStatus action={check} />
      </Section>
    </Page>
  );
}
