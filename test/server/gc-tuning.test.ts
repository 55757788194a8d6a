import { describe, expect, it } from 'vitest';
import { disablePretenuring } from '../../src/server/gc-tuning.js';

describe('disablePretenuring', () => {
  it('turns pretenuring off when the operator did not name the flag', () => {
    expect(disablePretenuring(['--max-old-space-size=256', '--max-semi-space-size=16'])).toBe(true);
    expect(disablePretenuring([])).toBe(true);
  });

  it.each([
    ['--allocation-site-pretenuring'],
    ['--no-allocation-site-pretenuring'],
    ['--allocation_site_pretenuring'],
    ['--no_allocation_site_pretenuring'],
  ])('leaves it to the operator who named it (%s)', (flag) => {
    expect(disablePretenuring(['--max-old-space-size=256', flag])).toBe(false);
  });
});
