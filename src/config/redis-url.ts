/** A Redis Cluster named by REDIS_URL: its seed nodes, the credentials and whether TLS is on. */
export interface RedisClusterUrl {
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)(\/0?)?$/;
const NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** True when REDIS_URL names a cluster (`redis+cluster://` or `rediss+cluster://`). */
export const isClusterUrl = (url: string): boolean => /^rediss?\+cluster:/.test(url);

/**
 * `redis+cluster://[user:password@]host:port,host:port` (`rediss+cluster://` for TLS): the
 * nodes are seeds only, the client learns the rest of the cluster from any of them. A cluster
 * has database 0 only, so no path but `/` or `/0`. Throws with a message that never holds
 * the password.
 */
export function parseClusterUrl(url: string): RedisClusterUrl {
  const match = CLUSTER_URL.exec(url);
  if (match === null)
    throw new Error(
      'a cluster REDIS_URL reads redis+cluster://[user:password@]host:port,host:port (rediss+cluster:// for TLS)',
    );
  const [, scheme, credentials, hosts = ''] = match;
  const nodes = hosts.split(',').map((entry) => {
    const node = NODE.exec(entry.trim());
    const port = Number(node?.[3]);
    if (node === null || port < 1 || port > 65535)
      throw new Error(`a cluster REDIS_URL names its nodes as host:port, got '${entry}'`);
    return { host: node[1] ?? node[2] ?? '', port };
  });
  let username: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined && credentials !== '') {
    const colon = credentials.indexOf(':');
    const user = colon < 0 ? credentials : credentials.slice(0, colon);
    username = user === '' ? undefined : decodeURIComponent(user);
    password = colon < 0 ? undefined : decodeURIComponent(credentials.slice(colon + 1));
  }
  return { nodes, username, password, tls: scheme === 'rediss' };
}
