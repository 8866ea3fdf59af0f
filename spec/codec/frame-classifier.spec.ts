import { expect } from 'chai';
import { FrameKind, MSG_BACKUP, MSG_PROXY, classifyFrame, encodeFrame, frameClassifier } from '../../lib/index.js';

const frame = (kind: FrameKind, channel: string, body: unknown): Uint8Array => encodeFrame({ kind, channel, id: 1, body });

describe('frameClassifier', () => {
  it('names frames by their kind', () => {
    const classify = frameClassifier();
    expect(classify(frame(FrameKind.Request, 'c', 'x'))).to.equal('RPC_REQUEST');
    expect(classify(frame(FrameKind.Notify, 'c', 'x'))).to.equal('RPC_NOTIFY');
    expect(classify(frame(FrameKind.Reply, 'c', 'x'))).to.equal('RPC_REPLY');
    expect(classify(frame(FrameKind.Error, 'c', ['Error', 'no']))).to.equal('RPC_ERROR');
    expect(classify(frame(FrameKind.NoChannel, 'c', null))).to.equal('RPC_NO_CHANNEL');
  });

  it('names a body as the layer owning the channel says, and by kind when it says nothing', () => {
    const classify = frameClassifier((channel, body) => (channel === 'mine' ? `MINE_${String(body)}` : undefined));
    expect(classify(frame(FrameKind.Request, 'mine', 7))).to.equal('MINE_7');
    expect(classify(frame(FrameKind.Request, 'other', 7))).to.equal('RPC_REQUEST');
  });

  it('names bytes that are no frame undefined', () => {
    expect(frameClassifier()(new Uint8Array([0xff, 0x00, 0x13]))).to.equal(undefined);
    expect(frameClassifier()(new Uint8Array())).to.equal(undefined);
  });
});

describe('classifyFrame', () => {
  it('names map messages by their Tomcat type, on map channels only', () => {
    expect(classifyFrame(frame(FrameKind.Request, 'lrm/map/sessions', [MSG_BACKUP, []]))).to.equal('MSG_BACKUP');
    expect(classifyFrame(frame(FrameKind.Reply, 'lrm/map/sessions', [MSG_PROXY, []]))).to.equal('MSG_PROXY');
    expect(classifyFrame(frame(FrameKind.Request, 'sessions', [MSG_BACKUP, []])), 'not a map channel').to.equal('RPC_REQUEST');
  });

  it('falls back to the frame kind for a map body that is no map message', () => {
    expect(classifyFrame(frame(FrameKind.Error, 'lrm/map/sessions', ['Error', 'no']))).to.equal('RPC_ERROR');
    expect(classifyFrame(frame(FrameKind.Request, 'lrm/map/sessions', [999]))).to.equal('RPC_REQUEST');
  });
});
