import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

/**
 * Client-side routes under /ui/: the gateway answers index.html for any /ui/<path> that is
 * not a file, so the address bar holds the page and reloading it stays there.
 */
const BASE = '/ui/';
const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

/** The path below /ui/, without leading or trailing slashes. */
function current(): string {
  const path = window.location.pathname;
  return (path.startsWith(BASE) ? path.slice(BASE.length) : '').replace(/\/+$/, '');
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, current);
}

export function href(path: string): string {
  return `${BASE}${path}`;
}

export function navigate(path: string): void {
  window.history.pushState(null, '', href(path));
  for (const listener of listeners) listener();
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** An ordinary link that changes the page without reloading it (unless opened elsewhere). */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const open = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={href(to)} onClick={open} {...rest} />;
}
