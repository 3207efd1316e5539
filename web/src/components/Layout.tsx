import type { ReactNode } from 'react';
import { PLATFORM_PAGES, TENANT_PAGES } from '../nav.js';
import { href, Link, navigate, usePath } from '../router.js';
import { useCan, useSession } from '../session.js';
import { TenantPicker } from './TenantPicker.js';

/** The frame of every signed-in page: header, menu, main content. */
export function Layout({ tenant, children }: { tenant: string | null; children: ReactNode }) {
  const { session, signOut } = useSession();
  const can = useCan();
  const path = usePath();
  const principal = session.principal;
  const link = (to: string, title: string) => (
    <li key={to}>
      <Link to={to} aria-current={path === to ? 'page' : undefined}>
        {title}
      </Link>
    </li>
  );
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={href('')}>
          llm-backend admin
        </a>
        <span className="who">
          {principal.kind === 'platform'
            ? 'Platform admin'
            : `${principal.tenant_name} · ${principal.role}`}
        </span>
        <button
          type="button"
          onClick={() => void signOut().then(() => navigate(''))}
          className="link-button"
        >
          Sign out
        </button>
      </header>
      <div className="columns">
        <nav aria-label="Main" className="sidebar">
          {principal.kind === 'platform' && (
            <>
              <h2 className="nav-heading">Platform</h2>
              <ul>{PLATFORM_PAGES.map((page) => link(page.path, page.title))}</ul>
              <TenantPicker current={tenant} />
            </>
          )}
          {tenant !== null && (
            <>
              <h2 className="nav-heading">Tenant</h2>
              <ul>
                {TENANT_PAGES.filter((page) => can(page.needs)).map((page) =>
                  link(`t/${tenant}/${page.path}`, page.title),
                )}
              </ul>
            </>
          )}
        </nav>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
      </div>
    </div>
  );
}
