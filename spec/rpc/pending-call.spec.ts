import { expect } from 'chai';
import { RpcRemoteError } from '../../lib/index.js';
import { PendingCall } from '../../lib/rpc/pending-call.js';

const remote = (from: string): RpcRemoteError => new RpcRemoteError(`handler on ${from} failed`, from, 'Error');

describe('PendingCall', () => {
  describe('in every mode', () => {
    for (const mode of ['first', 'majority', 'all'] as const) {
      it(`is settled at once without targets (mode '${mode}')`, () => {
        const call = new PendingCall(mode, []);
        expect(call.outcome()).to.equal('settled');
        expect(call.responses).to.deep.equal([]);
      });

      it(`is settled once every target was dropped (mode '${mode}')`, () => {
        const call = new PendingCall(mode, ['b', 'c']);
        expect(call.drop('b')).to.equal('waiting');
        expect(call.drop('c')).to.equal('settled');
        expect(call.responses).to.deep.equal([]);
      });
    }

    it('ignores answers from members that were not asked, or that already answered', () => {
      const call = new PendingCall('all', ['b', 'c']);
      expect(call.reply('x', 'stranger')).to.equal('waiting');
      expect(call.reply('b', 'first')).to.equal('waiting');
      expect(call.reply('b', 'again')).to.equal('waiting');
      expect(call.error('b', remote('b'))).to.equal('waiting');
      expect(call.responses).to.deep.equal([{ from: 'b', reply: 'first' }]);
      expect([...call.waiting]).to.deep.equal(['c']);
    });

    it('counts a target asked twice once', () => {
      const call = new PendingCall('all', ['b', 'b', 'c']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('settled');
    });

    it('keeps replies and errors in arrival order', () => {
      const call = new PendingCall('all', ['b', 'c', 'd']);
      const error = remote('c');
      call.reply('d', 'D');
      call.error('c', error);
      call.reply('b', 'B');
      expect(call.responses).to.deep.equal([
        { from: 'd', reply: 'D' },
        { from: 'c', error },
        { from: 'b', reply: 'B' },
      ]);
    });
  });

  describe("mode 'all'", () => {
    it('waits for every target, an error counting as an answer', () => {
      const call = new PendingCall('all', ['b', 'c', 'd']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.error('c', remote('c'))).to.equal('waiting');
      expect(call.reply('d', 3)).to.equal('settled');
    });

    it('stops waiting for a dropped target', () => {
      const call = new PendingCall('all', ['b', 'c']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.drop('c')).to.equal('settled');
      expect(call.responses).to.deep.equal([{ from: 'b', reply: 1 }]);
    });
  });

  describe("mode 'first'", () => {
    it('settles on the first successful reply', () => {
      const call = new PendingCall('first', ['b', 'c', 'd']);
      expect(call.reply('c', 'C')).to.equal('settled');
      expect(call.responses).to.deep.equal([{ from: 'c', reply: 'C' }]);
    });

    it('keeps waiting after an error while another target may still succeed', () => {
      const call = new PendingCall('first', ['b', 'c', 'd']);
      expect(call.error('b', remote('b'))).to.equal('waiting');
      expect(call.error('c', remote('c'))).to.equal('waiting');
      expect(call.reply('d', 'D')).to.equal('settled');
    });

    it('settles with the error entries once every target answered with an error', () => {
      const call = new PendingCall('first', ['b', 'c']);
      const errors = [remote('b'), remote('c')] as const;
      expect(call.error('b', errors[0])).to.equal('waiting');
      expect(call.error('c', errors[1])).to.equal('settled');
      expect(call.responses).to.deep.equal([
        { from: 'b', error: errors[0] },
        { from: 'c', error: errors[1] },
      ]);
    });

    it('settles with the errors when the targets left to wait for are dropped', () => {
      const call = new PendingCall('first', ['b', 'c']);
      expect(call.error('b', remote('b'))).to.equal('waiting');
      expect(call.drop('c')).to.equal('settled');
      expect(call.responses).to.have.length(1);
    });
  });

  describe("mode 'majority'", () => {
    it('with 3 targets settles on the 2nd answer, not the 1st', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('settled');
    });

    it('with 4 targets settles on the 2nd answer (at least half), not the 1st', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd', 'e']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('settled');
    });

    it('with 5 targets settles on the 3rd answer, not the 2nd', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd', 'e', 'f']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('waiting');
      expect(call.reply('d', 3)).to.equal('settled');
    });

    it('with 1 target settles on its answer', () => {
      expect(new PendingCall('majority', ['b']).reply('b', 1)).to.equal('settled');
    });

    it('counts a remote error as an answer', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd']);
      expect(call.error('b', remote('b'))).to.equal('waiting');
      expect(call.error('c', remote('c'))).to.equal('settled');
    });

    it('no longer counts dropped targets: 4 targets, 2 dropped, settle on 1 answer', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd', 'e']);
      expect(call.drop('d')).to.equal('waiting');
      expect(call.drop('e')).to.equal('waiting');
      expect(call.reply('b', 1)).to.equal('settled');
    });

    it('still counts a target that answered and was dropped afterwards', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd', 'e', 'f']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.drop('b')).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('waiting');
      expect(call.reply('d', 3)).to.equal('settled');
    });

    it('settles when a drop lowers the bar below the answers already there', () => {
      const call = new PendingCall('majority', ['b', 'c', 'd', 'e', 'f']);
      expect(call.reply('b', 1)).to.equal('waiting');
      expect(call.reply('c', 2)).to.equal('waiting');
      expect(call.drop('d')).to.equal('settled');
    });
  });
});
