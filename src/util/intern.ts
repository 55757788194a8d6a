/**
 * V8's one shared copy of a string. A large policy is mostly the same few strings over and over ("GET",
 * role names, path segments), each parsed or split into a copy of its own, and a string of 13 or more
 * characters cut out of a file's text is a slice that keeps the whole text alive. A property key is
 * stored interned, so reading it back gives the shared copy; the text is the same.
 */
export function intern(text: string): string {
  return Object.keys({ [text]: 0 })[0] as string;
}
