import type { Clock } from '../util/clock.js';
import type { Backend } from './backend.js';
import type { StoreOp } from './entries.js';
import type { Mirror } from './mirror.js';

/** Explicitly ephemeral: the mirror is the store. For tests and single-process setups that accept loss. */
export class MemoryBackend implements Backend {
  constructor(
    private readonly mirror: Mirror,
    private readonly clock: Clock,
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async write(op: StoreOp): Promise<boolean> {
    return this.mirror.apply(op, this.clock.now());
  }

  health(): { up: boolean; staleSinceMs: number | null } {
    return { up: true, staleSinceMs: null };
  }

  async maintain(): Promise<void> {}
}
