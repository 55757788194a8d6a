import { describe, expect, it } from 'vitest';
import { operatorChosePretenuring } from '../../src/server/gc-tuning.js';

describe('operatorChosePretenuring', () => {
  it('is false when node was started without the flag', () => {
    expect(operatorChosePretenuring(['--max-old-space-size=256', '--max-semi-space-size=16'])).toBe(false);
    expect(operatorChosePretenuring([])).toBe(false);
  });

  it.each([
    ['--allocation-site-pretenuring'],
    ['--no-allocation-site-pretenuring'],
    ['--allocation_site_pretenuring'],
    ['--no_allocation_site_pretenuring'],
  ])('is true when the operator named it (%s)', (flag) => {
    expect(operatorChosePretenuring(['--max-old-space-size=256', flag])).toBe(true);
  });
});
