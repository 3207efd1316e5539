import { useId } from 'react';
import { useResource } from '../hooks.js';
import { navigate } from '../router.js';
import type { List, Tenant } from '../types.js';

/** A platform admin picks the tenant whose pages the menu shows. */
export function TenantPicker({ current }: { current: string | null }) {
  const tenants = useResource<List<Tenant>>('/admin/v1/tenants');
  const id = useId();
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
        {(tenants.data?.data ?? []).map((tenant) => (
          <option key={tenant.id} value={tenant.slug}>
            {tenant.name} ({tenant.slug})
          </option>
        ))}
      </select>
    </div>
  );
}
