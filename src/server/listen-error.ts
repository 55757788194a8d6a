/** Why a listener could not bind, in words an operator acts on; the OS code when it is not one of these. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another process holds it)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this host',
};

/** A listener that could not start: the message names the config field and the address. The CLI exits 1. */
export class ListenError extends Error {
  constructor(field: string, address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code ?? /\b(E[A-Z]{3,})\b/.exec(String((cause as Error).message))?.[1];
    const reason = (code && REASONS[code]) ?? (cause instanceof Error ? cause.message : String(cause));
    super(`${field}: cannot listen on ${address}: ${reason}`, { cause });
    this.name = 'ListenError';
  }
}

/** Starts a listener, turning its failure into a ListenError naming `field` and `address`. */
export async function listening<T>(field: string, address: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw new ListenError(field, address, err);
  }
}
