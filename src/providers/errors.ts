export type UpstreamFailure =
  | { kind: 'timeout'; phase: 'connect' | 'first_byte' | 'idle' }
  | { kind: 'unreachable' }
  | { kind: 'protocol'; detail: string }
  | { kind: 'http'; status: number; body: unknown; retryAfter: string | null };

/**
 * Why an upstream call failed, in provider-neutral terms. The inference service decides
 * what the client sees; the detail here is for logs only.
 */
export class UpstreamError extends Error {
  constructor(
    readonly providerId: string,
    readonly failure: UpstreamFailure,
    options?: { cause?: unknown },
  ) {
    super(`upstream ${providerId}: ${describe(failure)}`, options);
    this.name = 'UpstreamError';
  }
}

function describe(failure: UpstreamFailure): string {
  switch (failure.kind) {
    case 'timeout':
      return `${failure.phase} timeout`;
    case 'unreachable':
      return 'unreachable';
    case 'protocol':
      return `protocol error: ${failure.detail}`;
    case 'http':
      return `HTTP ${failure.status}`;
  }
}
