import { LRUCache } from 'lru-cache';
import type { CheckResponse } from '../envoy/types.js';
import { denialCause, denialResponse, type DenialOutcome } from '../pipeline/respond.js';
import { PreparedResponse, type SerializeResponse } from './prepared-response.js';

/** Denials kept encoded: one per reason, rule and realm in use, so far fewer in practice. */
const MAX_PREPARED_DENIALS = 1_000;

/**
 * A denial is the same bytes for every request with the same reason, rule and realm. A flood of
 * expired or forged tokens is answered from bytes encoded once, not re-encoded (status, challenge
 * header, JSON body) for each request.
 */
export class PreparedDenials {
  private readonly byCause = new LRUCache<string, PreparedDenial>({ max: MAX_PREPARED_DENIALS });

  respond(outcome: DenialOutcome, realm: string): PreparedDenial {
    const { reason, ruleId } = denialCause(outcome);
    // Neither a reason (a fixed catalogue) nor a realm (printable ASCII) holds a newline: keys cannot collide.
    const key = `${reason}\n${realm}\n${ruleId ?? ''}`;
    let prepared = this.byCause.get(key);
    if (prepared === undefined) this.byCause.set(key, (prepared = new PreparedDenial(denialResponse(reason, ruleId, realm))));
    return prepared;
  }
}

/** One denial, encoded at its first answer. The bytes are shared and never written to: grpc-js copies them into its frame. */
export class PreparedDenial extends PreparedResponse {
  private bytes: Buffer | undefined;

  constructor(private readonly response: CheckResponse) {
    super();
  }

  toObject(): CheckResponse {
    return this.response;
  }

  encode(serialize: SerializeResponse): Buffer {
    return (this.bytes ??= serialize(this.response));
  }
}
