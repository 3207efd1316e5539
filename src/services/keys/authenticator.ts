import { GatewayError } from '../../errors/gateway-error.js';
import type { KeyPrincipal, KeyService } from './key-service.js';

/** Turns an Authorization header into the caller it names, or a 401. */
export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<KeyPrincipal>;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export class KeyAuthenticator implements Authenticator {
  constructor(private readonly keys: KeyService) {}

  async authenticate(authorization: string | undefined): Promise<KeyPrincipal> {
    const secret = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (secret === undefined) {
      throw new GatewayError('invalid_api_key', {
        message:
          "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.",
      });
    }
    return this.keys.resolve(secret);
  }
}
