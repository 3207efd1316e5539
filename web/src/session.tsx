import { createContext, useContext } from 'react';
import type { Action } from './permissions.js';
import { can } from './permissions.js';
import type { Session } from './types.js';

export interface SessionContextValue {
  session: Session;
  signOut(): Promise<void>;
}

export const SessionContext = createContext<SessionContextValue | null>(null);

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext);
  if (value === null) throw new Error('useSession outside a signed-in page');
  return value;
}

/** Whether the signed-in key may do `action`: write buttons it may not use are not shown. */
export function useCan(): (action: Action) => boolean {
  const { session } = useSession();
  return (action) => can(session.principal, action);
}
