import { LRUCache } from 'lru-cache';
import type { CheckResponse } from '../envoy/types.js';
import { denialCause, denialResponse, dpopPresented, type DenialOutcome, type DpopChallenge } from '../pipeline/respond.js';
import { PreparedResponse, type SerializeResponse } from './prepared-response.js';

/** Denials kept encoded: one per reason, rule, realm and challenge in use, so far fewer in practice. */
const MAX_PREPARED_DENIALS = 1_000;

/**
 * A denial is the same bytes for every request with the same reason, rule and realm. A flood of
 * expired or forged tokens is answered from bytes encoded once, not re-encoded (status, challenge
 * header, JSON body) for each request.
 */
export class PreparedDenials {
  private readonly byCause = new LRUCache<string, PreparedDenial>({ max: MAX_PREPARED_DENIALS });

  respond(outcome: DenialOutcome, realm: string, dpop?: DpopChallenge): PreparedDenial {
    const { reason, ruleId } = denialCause(outcome);
    const presented = dpopPresented(outcome);
    // Neither a reason (a fixed catalogue), a realm (printable ASCII) nor algorithm names hold a newline: keys cannot collide.
    const challenge = dpop ? `${dpop.algs}\n${dpop.bearer}\n${presented}` : '';
    const key = `${reason}\n${realm}\n${challenge}\n${ruleId ?? ''}`;
    let prepared = this.byCause.get(key);
    if (prepared === undefined) {
      prepared = new PreparedDenial(denialResponse(reason, ruleId, realm, dpop && { ...dpop, presented }));
      this.byCause.set(key, prepared);
    }
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
