/**
 * V8's one shared copy of a string. A large policy is mostly the same few strings over and over ("GET",
 * role names, path segments), each parsed or split into a copy of its own, and a string of 13 or more
 * characters cut out of a file's text is a slice that keeps the whole text alive. A property key is
 * stored interned, so reading it back gives the shared copy; the text is the same.
 */
export function intern(text: string): string {
  return Object.keys({ [text]: 0 })[0] as string;
}

/**
 * One shared value per key, for the pieces of a compiled policy that many rules repeat (a method list,
 * a path parameter): each rule then holds a reference, not a copy. The table outlives reloads and grows
 * only by the distinct keys configs give over the process's life, never by anything a request sends.
 */
export class SharedValues<T> {
  private readonly values = new Map<string, T>();

  /** The value for `key`, made by `make` the first time. */
  of(key: string, make: () => T): T {
    let value = this.values.get(key);
    if (value === undefined) this.values.set(key, (value = make()));
    return value;
  }
}
