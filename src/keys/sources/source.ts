/** A fetched document: its raw text (compared to skip re-imports) and the server's freshness hint. */
export interface SourceDocument {
  text: string;
  maxAgeSeconds?: number;
}

export interface JwksSource {
  /** For logs and errors: a path or a URL without query. */
  readonly description: string;
  /** Remote sources refetch for unknown kids; a file source relies on its watcher instead. */
  readonly remote: boolean;
  load(signal: AbortSignal): Promise<SourceDocument>;
  /** Calls `onEvent` when the source may have changed; returns a stop function. */
  watch?(onEvent: () => void, onError: (err: Error) => void): () => void;
}
