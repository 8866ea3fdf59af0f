import { expect } from 'chai';
import { SESSION_ID_RANDOM_BYTES, newSessionId, routeOf } from '../../lib/session/index.js';

describe('session ids', () => {
  it('are <random>.<route> with 192 random bits in base64url', () => {
    const id = newSessionId('node-1');
    expect(id).to.match(/^[A-Za-z0-9_-]{32}\.node-1$/);
    expect(SESSION_ID_RANDOM_BYTES * 8).to.be.at.least(128);
    expect(Buffer.from(id.slice(0, id.indexOf('.')), 'base64url')).to.have.length(SESSION_ID_RANDOM_BYTES);
  });

  it('do not repeat, and every bit of the random part varies', () => {
    const ids = Array.from({ length: 2000 }, () => newSessionId('a'));
    expect(new Set(ids).size).to.equal(ids.length);
    const ones = new Array<number>(SESSION_ID_RANDOM_BYTES * 8).fill(0);
    for (const id of ids) {
      const bytes = Buffer.from(id.slice(0, id.indexOf('.')), 'base64url');
      for (let bit = 0; bit < ones.length; bit++) if ((bytes[bit >> 3]! >> (bit & 7)) & 1) ones[bit]!++;
    }
    // Each bit is set in about half the ids; 35-65 % of 2000 is more than 13 standard deviations wide.
    for (const [bit, n] of ones.entries()) expect(n, `bit ${bit}`).to.be.within(700, 1300);
  });

  it('give their route back, and nothing for ids of another form', () => {
    expect(routeOf(newSessionId('node_2'))).to.equal('node_2');
    for (const id of ['', 'abc', '.a', 'a.b.c', 'abc.', 'abc.no route']) expect(routeOf(id), id).to.equal(undefined);
  });
});
