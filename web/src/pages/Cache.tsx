import { useEffect, useState } from 'react';
import { api, tenantPath } from '../api.js';
import { ConfirmButton } from '../components/ConfirmDialog.js';
import { FormRow, SelectField, TextField } from '../components/Fields.js';
import { Page, Section } from '../components/Page.js';
import { ActionStatus, Loaded } from '../components/Status.js';
import { useAction } from '../components/useAction.js';
import { number } from '../format.js';
import { useResource } from '../hooks.js';
import { useCan } from '../session.js';
import type { CacheSettings, CacheStats } from '../types.js';

const tristate = [
  { value: '', label: 'Default' },
  { value: 'true', label: 'On' },
  { value: 'false', label: 'Off' },
];
const fromTristate = (value: string) => (value === '' ? null : value === 'true');
const toTristate = (value: boolean | null) => (value === null ? '' : String(value));
const optionalInt = (text: string) => (text.trim() === '' ? null : Number(text));

/** The tenant's response cache: its settings (null: the default), statistics, purge. */
export function CachePage({ tenant }: { tenant: string }) {
  const settings = useResource<CacheSettings>(tenantPath(tenant, '/cache'));
  const stats = useResource<CacheStats>(tenantPath(tenant, '/cache/stats'));
  const can = useCan();
  const action = useAction();
  const [enabled, setEnabled] = useState('');
  const [ttl, setTtl] = useState('');
  const [budget, setBudget] = useState('');
  useEffect(() => {
    if (!settings.data) return;
    setEnabled(toTristate(settings.data.enabled));
    setTtl(settings.data.ttl_seconds === null ? '' : String(settings.data.ttl_seconds));
    setBudget(settings.data.budget_bytes === null ? '' : String(settings.data.budget_bytes));
  }, [settings.data]);

  const save = () =>
    action.run(async () => {
      const current = settings.data;
      await api.put(tenantPath(tenant, '/cache'), {
        // PUT replaces every setting: the ones this form does not show are sent back as they are.
        max_entry_bytes: current?.max_entry_bytes ?? null,
        allow_nondeterministic: current?.allow_nondeterministic ?? null,
        semantic: current?.semantic ?? null,
        enabled: fromTristate(enabled),
        ttl_seconds: optionalInt(ttl),
        budget_bytes: optionalInt(budget),
      });
      settings.reload();
      return 'The cache settings were saved.';
    });

  return (
    <Page title="Response cache">
      <ActionStatus action={action} />
      <Section title="Settings">
        <Loaded resource={settings} what="cache settings">
          {() =>
            can('limits:write') ? (
              <FormRow
                label="Cache settings"
                onSubmit={() => void save()}
                busy={action.busy}
                submit="Save settings"
              >
                <SelectField
                  label="Cache"
                  options={tristate}
                  value={enabled}
                  onChange={(e) => setEnabled(e.target.value)}
                />
                <TextField
                  label="Time to live (seconds)"
                  inputMode="numeric"
                  value={ttl}
                  onChange={(e) => setTtl(e.target.value)}
                  hint="Empty: the default"
                />
                <TextField
                  label="Budget (bytes)"
                  inputMode="numeric"
                  value={budget}
                  onChange={(e) => setBudget(e.target.value)}
                  hint="Empty: the default"
                />
              </FormRow>
            ) : (
              <p>
                Cache: {enabled === '' ? 'default' : enabled === 'true' ? 'on' : 'off'}; time to
                live: {ttl || 'default'}; budget: {budget || 'default'}.
              </p>
            )
          }
        </Loaded>
      </Section>
      <Section title="Statistics">
        <Loaded resource={stats} what="cache statistics">
          {(data) => (
            <>
              <dl className="stats">
                <div>
                  <dt>Entries</dt>
                  <dd>{number(data.entries)}</dd>
                </div>
                <div>
                  <dt>Bytes</dt>
                  <dd>
                    {number(data.bytes)} of {number(data.budget_bytes)}
                  </dd>
                </div>
                <div>
                  <dt>Hits</dt>
                  <dd>{number(data.hits)}</dd>
                </div>
                <div>
                  <dt>Misses</dt>
                  <dd>{number(data.misses)}</dd>
                </div>
              </dl>
              {can('limits:write') && (
                <ConfirmButton
                  label="Purge the cache"
                  title="Purge the response cache?"
                  confirmLabel="Purge"
                  onConfirm={async () => {
                    await api.delete(tenantPath(tenant, '/cache'));
                    stats.reload();
                  }}
                >
                  Every cached answer of the tenant, exact and semantic, is dropped. The settings
                  stay.
                </ConfirmButton>
              )}
            </>
          )}
        </Loaded>
      </Section>
    </Page>
  );
}
