import { useEffect, useId, useRef } from 'react';
import { useResource } from '../hooks.js';
import { navigate } from '../router.js';
import type { List, Tenant } from '../types.js';

/** A platform admin picks the tenant whose pages the menu shows. */
export function TenantPicker({ current }: { current: string | null }) {
  const tenants = useResource<List<Tenant>>('/admin/v1/tenants');
  const id = useId();
  // A tenant created since the list was loaded: load it again, once per tenant.
  const asked = useRef<string | null>(null);
  const list = tenants.data?.data;
  const reload = tenants.reload;
  useEffect(() => {
    if (current === null || list === undefined || asked.current === current) return;
    if (!list.some((tenant) => tenant.slug === current || tenant.id === current)) {
      asked.current = current;
      reload();
    }
  }, [current, list, reload]);
  return (
    <div className="field picker">
      <label htmlFor={id}>Manage tenant</label>
      <select
        id={id}
        value={current ?? ''}
        onChange={(event) => {
          if (event.target.value !== '') navigate(`t/${event.target.value}/overview`);
        }}
      >
        <option value="">Choose a tenant…</option>
        {(list ?? []).map((tenant) => (
          <option key={tenant.id} value={tenant.slug}>
            {tenant.name} ({tenant.slug})
          </option>
        ))}
      </select>
    </div>
  );
}
