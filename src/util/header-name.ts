/**
 * Whether ext_authz can set or remove a header of this (lower-case) name. Envoy does neither for
 * `host`, so a header-name field naming it (a header to inject, strip or read and then remove) could
 * never take effect, and config validation refuses it with HOST_NOT_SETTABLE.
 */
export function settableByExtAuthz(name: string): boolean {
  return name !== 'host';
}

export const HOST_NOT_SETTABLE = 'host cannot be set or removed by ext_authz';
