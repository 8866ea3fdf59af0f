/**
 * A tiny authoritative DNS server on 127.0.0.1 for discovery specs: answers A, AAAA and SRV
 * queries from records the test changes as it goes, and NXDOMAIN for any other name.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import * as packet from 'dns-packet';

/** An SRV record: a target name and its port. */
export interface SrvTarget {
  name: string;
  port: number;
}

/** The server and the records it answers with. */
export class TestDnsServer {
  readonly a = new Map<string, string[]>();
  readonly aaaa = new Map<string, string[]>();
  readonly srv = new Map<string, SrvTarget[]>();
  /** Queries answered, by `TYPE name`. */
  readonly asked: string[] = [];
  private readonly socket: Socket = createSocket('udp4');

  /** Binds to an ephemeral port on 127.0.0.1. */
  async start(): Promise<this> {
    this.socket.on('message', (message, from) => {
      this.answer(message, from.port, from.address);
    });
    this.socket.bind(0, '127.0.0.1');
    await once(this.socket, 'listening');
    return this;
  }

  /** `127.0.0.1:port`, for `dnsSeeds(…, { servers })`. */
  get server(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  async stop(): Promise<void> {
    const closed = once(this.socket, 'close');
    this.socket.close();
    await closed;
  }

  private answer(message: Buffer, port: number, address: string): void {
    const query = packet.decode(message);
    const question = query.questions?.[0];
    if (question === undefined) return;
    this.asked.push(`${question.type} ${question.name}`);
    const answers: packet.Answer[] = [];
    const known = this.a.has(question.name) || this.aaaa.has(question.name) || this.srv.has(question.name);
    if (question.type === 'A') for (const data of this.a.get(question.name) ?? []) answers.push({ type: 'A', name: question.name, ttl: 1, data });
    if (question.type === 'AAAA') for (const data of this.aaaa.get(question.name) ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: 1, data });
    if (question.type === 'SRV') {
      for (const t of this.srv.get(question.name) ?? []) answers.push({ type: 'SRV', name: question.name, ttl: 1, data: { target: t.name, port: t.port, priority: 0, weight: 10 } });
    }
    const reply = packet.encode({
      id: query.id,
      type: 'response',
      // Authoritative; NXDOMAIN (rcode 3) for names we hold nothing for, NOERROR with no answer otherwise.
      flags: packet.AUTHORITATIVE_ANSWER | (known ? 0 : 3),
      questions: [question],
      answers,
    });
    this.socket.send(reply, port, address);
  }
}
