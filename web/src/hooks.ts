import { useCallback, useEffect, useState } from 'react';
import { api, messageOf } from './api.js';
import type { List } from './types.js';

export interface Resource<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload(): void;
}

/** GETs `path` (again whenever it changes or reload() is called); null path: nothing yet. */
export function useResource<T>(path: string | null): Resource<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({
    data: null,
    error: null,
    loading: path !== null,
  });
  const [generation, setGeneration] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: generation forces a new fetch.
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((previous) => ({ ...previous, loading: true, error: null }));
    api.get<T>(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: null, error: messageOf(error), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path, generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { ...state, reload };
}

export interface Collection<T> extends Resource<List<T>> {
  /** DELETEs `path/id`, then lists again. */
  remove(id: string): Promise<void>;
}

/** A listed resource whose items are deleted at `path/id`. */
export function useCollection<T>(path: string): Collection<T> {
  const resource = useResource<List<T>>(path);
  const remove = async (id: string) => {
    await api.delete(`${path}/${id}`);
    resource.reload();
  };
  return { ...resource, remove };
}
