import type { ReactNode } from 'react';
import type { Resource } from '../hooks.js';

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

export function ErrorMessage({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <div className="error" role="alert">
      <strong>Error:</strong> {message}
    </div>
  );
}

export function Notice({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <p className="notice" role="status">
      {message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** The loading and error states of a resource; its content once it is there. */
export function Loaded<T>({
  resource,
  what,
  children,
}: {
  resource: Resource<T>;
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (resource.error !== null) return <ErrorMessage message={resource.error} />;
  if (resource.data === null) return <Loading what={what} />;
  return <>{children(resource.data)}</>;
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
